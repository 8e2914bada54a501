package xds

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	resource "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/poolpilot/poolpilot/model"
)

// hostileSecret has every character the escapes treat differently: a quote, a backslash
// and a non-ASCII letter.
const hostileSecret = `S3cr"et\key-é-0123456789`

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
	return strings.Replace(liveModel(9, false), "${LIVE_KEY}", key, 1)
}

// quotedForms are the ways a client can quote secret in a NACK.
func quotedForms(secret string) map[string]string {
	j, _ := json.Marshal(secret)
	q := strconv.Quote(secret)
	return map[string]string{
		"raw":        secret,
		"go %q":      q[1 : len(q)-1],
		"ascii %+q":  strings.Trim(strconv.QuoteToASCII(secret), `"`),
		"json":       string(j[1 : len(j)-1]),
		"c octal":    cEscape(secret),
		"cut raw":    secret[:12],
		"cut octal":  cEscape(secret)[:14],
		"twice %q":   strings.Trim(strconv.Quote(q), `"`),
		"json in %q": strings.Trim(strconv.Quote(string(j)), `"`),
	}
}

// TestRedactorEscapedForms: every quoted form of a secret is redacted, and no run of
// minRedactPrefix bytes of any form survives.
func TestRedactorEscapedForms(t *testing.T) {
	r := newRedactor(secretModel(t, hostileSecret))
	if got := cEscape(`S3cr"et\key-é`); got != `S3cr\"et\\key-\303\251` {
		t.Fatalf("cEscape = %s; want the protobuf text form S3cr\\\"et\\\\key-\\303\\251", got)
	}
	for name, form := range quotedForms(hostileSecret) {
		msg := fmt.Sprintf("field value=%s; at the end: %s", form, form)
		got := r.text(msg)
		if strings.Count(got, redactedMark) != 2 {
			t.Errorf("%s: %q → %q; want both redacted", name, msg, got)
		}
		for _, f := range secretForms(hostileSecret) {
			if len(f) >= minRedactPrefix && strings.Contains(got, f[:minRedactPrefix]) {
				t.Errorf("%s: %q still holds %q", name, got, f[:minRedactPrefix])
			}
		}
	}
	if got := r.text("nothing secret here"); got != "nothing secret here" {
		t.Errorf("ordinary text changed: %q", got)
	}
}

// TestNackQuotingEscapedSecretIsRedacted: NACKs quoting the model's credential escaped or
// cut reach neither /status nor the log.
func TestNackQuotingEscapedSecretIsRedacted(t *testing.T) {
	var logBuf lockedBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, addr := startServer(t, Options{Logger: log})
	mustApply(t, s, secretModel(t, hostileSecret))

	for name, form := range quotedForms(hostileSecret) {
		a := openLiveADS(t, addr, nil, liveNode("nack-"+strings.ReplaceAll(name, " ", "-"), "swedencentral"))
		if err := a.request(resource.EndpointType, "", "", ""); err != nil {
			t.Fatal(err)
		}
		r, err := a.recv(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// A long prefix, so a cut at MaxNackDetailLen would split an unredacted quote.
		detail := strings.Repeat("x", MaxNackDetailLen-20) + " metadata: " + form
		if err := a.request(resource.EndpointType, "", r.GetNonce(), detail); err != nil {
			t.Fatal(err)
		}
	}
	n := len(quotedForms(hostileSecret))
	waitFor(t, "NACKs recorded", func() bool {
		got := 0
		for _, st := range s.Status().Streams {
			if st.Types[resource.EndpointType].LastNack != nil {
				got++
			}
		}
		return got == n
	})
	var kept strings.Builder
	for _, st := range s.Status().Streams {
		kept.WriteString(st.Types[resource.EndpointType].LastNack.Message + "\n")
	}
	for where, text := range map[string]string{"status": kept.String(), "log": logBuf.String()} {
		for _, f := range secretForms(hostileSecret) {
			if k := f[:min(len(f), minRedactPrefix)]; strings.Contains(text, k) {
				t.Errorf("the %s holds %q of a form of the secret", where, k)
			}
		}
	}
}
