package redact

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/poolpilot/poolpilot/model"
)

// hostileSecret has every character the escapes treat differently: a quote, a backslash
// and a non-ASCII letter.
const hostileSecret = `S3cr"et\key-é-0123456789`

// secretModel is a one-backend model whose credential header is hostileSecret.
func secretModel(t *testing.T) *model.Model {
	t.Helper()
	const doc = `backends:
  - name: sdc
    url: http://127.0.0.1:9
    region: swedencentral
    credentials:
      header:
        x-functions-key: ${HOSTILE_KEY}
pools:
  - name: pool
    services:
      - {backend: sdc, priority: 1}
apis:
  - {name: api, pathPrefix: /api/, backend: pool}
listeners:
  - {name: public, port: 10000, apis: [api]}
`
	lookup := func(k string) (string, bool) { return hostileSecret, k == "HOSTILE_KEY" }
	m, err := model.LoadBytes("secret.yaml", []byte(doc), model.WithLookupEnv(lookup))
	if err != nil {
		t.Fatal(err)
	}
	return m
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
		"c octal":    CEscape(secret),
		"cut raw":    secret[:12],
		"cut octal":  CEscape(secret)[:14],
		"twice %q":   strings.Trim(strconv.Quote(q), `"`),
		"json in %q": strings.Trim(strconv.Quote(string(j)), `"`),
	}
}

// TestRedactorEscapedForms: every quoted form of a secret is redacted, and no run of
// MinPrefix bytes of any form survives.
func TestRedactorEscapedForms(t *testing.T) {
	r := New(secretModel(t))
	if got := CEscape(`S3cr"et\key-é`); got != `S3cr\"et\\key-\303\251` {
		t.Fatalf("CEscape = %s; want the protobuf text form S3cr\\\"et\\\\key-\\303\\251", got)
	}
	for name, form := range quotedForms(hostileSecret) {
		msg := fmt.Sprintf("field value=%s; at the end: %s", form, form)
		got := r.Text(msg)
		if strings.Count(got, Mark) != 2 {
			t.Errorf("%s: %q → %q; want both redacted", name, msg, got)
		}
		for _, f := range Forms(hostileSecret) {
			if len(f) >= MinPrefix && strings.Contains(got, f[:MinPrefix]) {
				t.Errorf("%s: %q still holds %q", name, got, f[:MinPrefix])
			}
		}
	}
	if got := r.Text("nothing secret here"); got != "nothing secret here" {
		t.Errorf("ordinary text changed: %q", got)
	}
}
