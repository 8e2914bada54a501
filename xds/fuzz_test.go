package xds

import (
	"strings"
	"testing"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
	"github.com/poolpilot/poolpilot/xds/redact"
)

// FuzzNackText: whatever a client puts in a NACK detail, what is kept is valid UTF-8, one
// line, bounded, and holds no redact.MinPrefix-byte run of any form of the secret.
// Run longer with: go test ./xds -run '^$' -fuzz FuzzNackText -fuzztime 60s
func FuzzNackText(f *testing.F) {
	r := redact.New(secretModel(f, adstest.HostileSecret))
	for _, form := range adstest.QuotedForms(adstest.HostileSecret) {
		f.Add("rejected: " + form)
		f.Add(strings.Repeat("é", 600) + form)
	}
	f.Add(strings.Repeat("a", MaxNackDetailLen-3) + adstest.HostileSecret)
	f.Add("\x00\x1b[31m\nforged log line\r\n\xff\xfe")
	f.Fuzz(func(t *testing.T, detail string) {
		got := clientText(r, detail, MaxNackDetailLen)
		if !utf8.ValidString(got) || strings.ContainsAny(got, "\n\r\x00\x1b") {
			t.Fatalf("kept %q: invalid UTF-8 or a control character", got)
		}
		if len(got) > MaxNackDetailLen+64 {
			t.Fatalf("kept %d bytes; want at most %d and a marker", len(got), MaxNackDetailLen)
		}
		for _, form := range redact.Forms(adstest.HostileSecret) {
			// A fragment the fuzzer cannot have forged: it only appears if the detail had it.
			if k := form[:redact.MinPrefix]; strings.Contains(got, k) && !strings.Contains(detail, redact.Mark) {
				t.Fatalf("kept %q holds %q of a form of the secret", got, k)
			}
		}
	})
}

// FuzzNodeGroup: whatever region and user agent a node sends, its cache key is one of
// the groups Apply builds for the model's regions, and what is logged of it is bounded.
func FuzzNodeGroup(f *testing.F) {
	known := translator.KnownRegions("swedencentral", "norwayeast")
	keys := map[string]bool{}
	for _, g := range append(translator.OtherGroups(), known.Groups()...) {
		keys[g.Key()] = true
		g.LegacyEnvoy = true
		keys[g.Key()] = true
	}
	f.Add("swedencentral", "envoy", uint32(1), uint32(35))
	f.Add(strings.Repeat("r", 5000), "grpc-go", uint32(0), uint32(0))
	f.Add("made-up\n", "ENVOY", uint32(1), uint32(40))
	f.Add("", "", uint32(0), uint32(0))
	f.Fuzz(func(t *testing.T, region, agent string, major, minor uint32) {
		node := envoyNode(region, region)
		node.UserAgentName = agent
		node.UserAgentVersionType = &corev3.Node_UserAgentBuildVersion{UserAgentBuildVersion: &corev3.BuildVersion{}}
		node.GetUserAgentBuildVersion().Version = nil
		if major+minor > 0 {
			node = adstest.Node(region, region)
			node.UserAgentName = agent
			v := node.GetUserAgentBuildVersion().GetVersion()
			v.MajorNumber, v.MinorNumber = major, minor
		}
		k := translator.ClaimedGroup(node).Resolve(known).Key()
		if !keys[k] {
			t.Fatalf("region %.40q, agent %.40q → key %.80q; want one of the built groups", region, agent, k)
		}
		if id := clipText(node.GetId(), MaxNodeIDLen); len(id) > MaxNodeIDLen+64 || !utf8.ValidString(id) {
			t.Fatalf("node id kept as %d bytes", len(id))
		}
	})
}
