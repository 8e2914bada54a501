package xds

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
	"github.com/poolpilot/poolpilot/xds/redact"
)

func secretModel(t testing.TB, secret string) *model.Model {
	t.Helper()
	lookup := func(k string) (string, bool) { return secret, k == "HOSTILE_KEY" }
	m, err := model.LoadBytes("secret.yaml", []byte(liveModelWith("${HOSTILE_KEY}")), model.WithLookupEnv(lookup))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// liveModelWith is liveModel with key as sdc's credential.
func liveModelWith(key string) string {
	return strings.Replace(adstest.Model(9, false), "${LIVE_KEY}", key, 1)
}

// TestNackQuotingEscapedSecretIsRedacted: NACKs quoting the model's credential escaped or
// cut reach neither /status nor the log.
func TestNackQuotingEscapedSecretIsRedacted(t *testing.T) {
	var logBuf adstest.LogBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, addr := startServer(t, Options{Logger: log})
	mustApply(t, s, secretModel(t, adstest.HostileSecret))

	for name, form := range adstest.QuotedForms(adstest.HostileSecret) {
		a := adstest.Open(t, addr, nil, adstest.Node("nack-"+strings.ReplaceAll(name, " ", "-"), "swedencentral"))
		if err := a.Request(resourcev3.EndpointType, "", "", ""); err != nil {
			t.Fatal(err)
		}
		r, err := a.Recv(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// A long prefix, so a cut at MaxNackDetailLen would split an unredacted quote.
		detail := strings.Repeat("x", MaxNackDetailLen-20) + " metadata: " + form
		if err := a.Request(resourcev3.EndpointType, "", r.GetNonce(), detail); err != nil {
			t.Fatal(err)
		}
	}
	n := len(adstest.QuotedForms(adstest.HostileSecret))
	adstest.WaitFor(t, "NACKs recorded", func() bool {
		got := 0
		for _, st := range s.Status().Streams {
			if st.Types[resourcev3.EndpointType].LastNack != nil {
				got++
			}
		}
		return got == n
	})
	var kept strings.Builder
	for _, st := range s.Status().Streams {
		kept.WriteString(st.Types[resourcev3.EndpointType].LastNack.Message + "\n")
	}
	for where, text := range map[string]string{"status": kept.String(), "log": logBuf.String()} {
		for _, f := range redact.Forms(adstest.HostileSecret) {
			if k := f[:min(len(f), redact.MinPrefix)]; strings.Contains(text, k) {
				t.Errorf("the %s holds %q of a form of the secret", where, k)
			}
		}
	}
}
