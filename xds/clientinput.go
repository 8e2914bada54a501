package xds

import (
	"fmt"
	"strings"
	"unicode/utf8"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/poolpilot/poolpilot/xds/redact"
)

// Everything an xDS client sends is untrusted: these bound what is kept of it. A real
// node's values are far below them (node ids are host or pod names, regions are cloud
// region names, Envoy's NACK details are one validation message).
const (
	// MaxNodeIDLen is how much of a node id is stored, logged and shown in /status.
	MaxNodeIDLen = 256
	// MaxNackDetailLen is how much of a NACK's error detail is stored, logged and shown.
	MaxNackDetailLen = 1024
	// maxUserAgentLen bounds the user agent name as logged.
	maxUserAgentLen = 64
	// redactWindow is how much of a NACK detail is redacted before it is cut to
	// MaxNackDetailLen: wider than the cut, so a secret that straddles the cut is
	// matched whole, and bounded, so redaction costs the same for a 1 MB detail.
	redactWindow = 4 * MaxNackDetailLen
)

// servedTypes are the type URLs poolpilot serves; a request for any other is refused.
var servedTypes = map[string]bool{
	resourcev3.ClusterType:  true,
	resourcev3.EndpointType: true,
	resourcev3.RouteType:    true,
	resourcev3.ListenerType: true,
}

// checkTypeURL refuses a type URL poolpilot does not serve. "" is let through: the
// server fills in the service's own type (or refuses it itself on ADS).
func checkTypeURL(typeURL string) error {
	if typeURL == "" || servedTypes[typeURL] {
		return nil
	}
	return fmt.Errorf("type URL %q is not served: poolpilot serves only %s, %s, %s and %s",
		clipText(typeURL, 128), resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.RouteType, resourcev3.ListenerType)
}

// clipText makes client text safe to keep: at most n bytes (cut on a rune boundary, with
// a marker saying how long it was), control characters and invalid UTF-8 replaced, so it
// cannot forge log lines or blow up /status.
func clipText(s string, n int) string { return clipTextOf(s, n, 0) }

// ClipText is clipText for the packages beside the ADS core (the reload guard's list of
// removed names).
func ClipText(s string, n int) string { return clipText(s, n) }

// clipTextOf is clipText of s, which stands for a client text total bytes long already
// cut to s (total 0: s is the whole text). The result is at most n bytes plus the marker.
func clipTextOf(s string, n, total int) string {
	var b strings.Builder
	b.Grow(min(len(s), n) + 32)
	cut := total > len(s)
	for _, r := range s {
		switch {
		case r == utf8.RuneError: // also invalid UTF-8
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			r = '?'
		}
		if b.Len()+utf8.RuneLen(r) > n {
			cut = true
			break
		}
		b.WriteRune(r)
	}
	if cut {
		fmt.Fprintf(&b, "…[cut: %d bytes]", max(total, len(s)))
	}
	return b.String()
}

// clientText is client-sent free text made safe to log, store and show: a bounded
// window redacted with r, then cut to n bytes (clipText). The window is wider than n, so
// a secret the cut would split is matched whole first.
func clientText(r redact.Redactor, s string, n int) string {
	if len(s) <= redactWindow {
		return clipText(r.Text(s), n)
	}
	return clipTextOf(r.Text(s[:redactWindow]), n, len(s))
}
