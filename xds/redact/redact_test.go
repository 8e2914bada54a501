package redact_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
	"github.com/poolpilot/poolpilot/xds/redact"
)

// secretModel is a one-backend model whose credential header is adstest.HostileSecret.
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
	lookup := func(k string) (string, bool) { return adstest.HostileSecret, k == "HOSTILE_KEY" }
	m, err := model.LoadBytes("secret.yaml", []byte(doc), model.WithLookupEnv(lookup))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRedactorEscapedForms: every quoted form of a secret is redacted, and no run of
// MinPrefix bytes of any form survives.
func TestRedactorEscapedForms(t *testing.T) {
	r := redact.New(secretModel(t))
	if got := redact.CEscape(`S3cr"et\key-é`); got != `S3cr\"et\\key-\303\251` {
		t.Fatalf("CEscape = %s; want the protobuf text form S3cr\\\"et\\\\key-\\303\\251", got)
	}
	for name, form := range adstest.QuotedForms(adstest.HostileSecret) {
		msg := fmt.Sprintf("field value=%s; at the end: %s", form, form)
		got := r.Text(msg)
		if strings.Count(got, redact.Mark) != 2 {
			t.Errorf("%s: %q → %q; want both redacted", name, msg, got)
		}
		for _, f := range redact.Forms(adstest.HostileSecret) {
			if len(f) >= redact.MinPrefix && strings.Contains(got, f[:redact.MinPrefix]) {
				t.Errorf("%s: %q still holds %q", name, got, f[:redact.MinPrefix])
			}
		}
	}
	if got := r.Text("nothing secret here"); got != "nothing secret here" {
		t.Errorf("ordinary text changed: %q", got)
	}
}
