package model

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	envSecret     = "S3CRET-FROM-ENV-7f3a"
	fileSecret    = "S3CRET-FROM-FILE-91bc"
	defaultSecret = "S3CRET-DEFAULT-d00d"
	literalSecret = "S3CRET-LITERAL-5eed"
)

var allSecrets = []string{envSecret, fileSecret, defaultSecret, literalSecret}

const secretModel = `backends:
  - name: b
    url: https://b.example.com
    credentials:
      header:
        x-env: ${KEY}
        x-file: ${file:/run/key}
        x-default: ${UNSET:-` + defaultSecret + `}
        x-literal: ` + literalSecret + `
`

func secretOpts() []Option {
	return []Option{
		fakeEnv(map[string]string{"KEY": envSecret}),
		fakeFiles(map[string]string{"/run/key": fileSecret + "\n", "/run/multi": fileSecret + "\nmore\n"}),
	}
}

func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, sec := range allSecrets {
		if strings.Contains(s, sec) {
			t.Errorf("%s shows secret %q:\n%s", what, sec, s)
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	m, err := LoadBytes("m.yaml", []byte(secretModel), secretOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Backends[0].Credentials.Header
	for k, want := range map[string]string{"x-env": envSecret, "x-file": fileSecret, "x-default": defaultSecret, "x-literal": literalSecret} {
		if h[k].Reveal() != want {
			t.Errorf("%s = %q, want %q", k, h[k].Reveal(), want)
		}
	}
	b := m.Backends[0]
	for _, v := range []struct {
		what string
		s    string
	}{
		{"Sprint(model)", fmt.Sprint(m)},
		{"%+v of the model", fmt.Sprintf("%+v", *m)},
		{"%v of a backend", fmt.Sprintf("%v", b)},
		{"%+v of a backend", fmt.Sprintf("%+v", b)},
		{"%#v of a backend", fmt.Sprintf("%#v", b)},
		{"%+v of credentials", fmt.Sprintf("%+v", b.Credentials)},
		{"%#v of credentials", fmt.Sprintf("%#v", b.Credentials)},
		{"%v of the headers", fmt.Sprintf("%v", h)},
		{"%#v of the headers", fmt.Sprintf("%#v", h)},
		{"%s %q %x %d of a secret", fmt.Sprintf("%s %q %x %d %X", h["x-env"], h["x-env"], h["x-env"], h["x-env"], h["x-env"])},
		{"%+v of a secret", fmt.Sprintf("%+v", h["x-literal"])},
		{"json", mustJSON(t, m)},
		{"yaml", mustYAML(t, m)},
	} {
		assertNoSecret(t, v.what, v.s)
	}
	if got := fmt.Sprintf("%v|%#v", h["x-env"], h["x-env"]); got != "[redacted]|model.Secret{[redacted]}" {
		t.Errorf("secret formats as %q", got)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The YAML form of a model shows references, not values, and loads back.
func TestSecretMarshalShowsReferences(t *testing.T) {
	m, err := LoadBytes("m.yaml", []byte(secretModel), secretOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	out := mustYAML(t, m.Backends[0].Credentials)
	want := "header:\n    x-default: ${UNSET}\n    x-env: ${KEY}\n    x-file: ${file:/run/key}\n    x-literal: '[redacted]'\n"
	if out != want {
		t.Errorf("yaml:\n%s\nwant:\n%s", out, want)
	}
}

func TestSecretsNotInErrors(t *testing.T) {
	bad := `backends:
  - name: b
    url: https://user:` + literalSecret + `@b.example.com
    region: [` + literalSecret + `]
    credentials:
      header:
        "bad name": ${KEY}
        x-multi: ${file:/run/multi}
        x-list: [` + envSecret + `]
        x-map: {a: ` + envSecret + `}
        x-bool: true
        x-missing: ${MISSING}
        x-bad: ${` + literalSecret + `-x}
        x-open: ` + literalSecret + `${KEY
`
	_, err := LoadBytes("m.yaml", []byte(bad), secretOpts()...)
	if err == nil {
		t.Fatal("want errors")
	}
	es, _ := AsErrors(err)
	if len(es) != 10 {
		t.Errorf("want 10 errors, got %d:\n%v", len(es), err)
	}
	assertNoSecret(t, "the errors", err.Error())
}

func TestSecretRedacted(t *testing.T) {
	m, err := LoadBytes("m.yaml", []byte(secretModel), secretOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	r := m.Redacted()
	for k, s := range r.Backends[0].Credentials.Header {
		if s.Reveal() != "[redacted]" {
			t.Errorf("redacted %s reveals %q", k, s.Reveal())
		}
		if s.Ref != m.Backends[0].Credentials.Header[k].Ref {
			t.Errorf("redacted %s lost its reference", k)
		}
	}
	if m.Backends[0].Credentials.Header["x-env"].Reveal() != envSecret {
		t.Error("Redacted changed the original model")
	}
}

// A secret file loses exactly one trailing line end, \n or \r\n (docs/model.md).
func TestSecretFileLineEnd(t *testing.T) {
	files := map[string]string{"/lf": "k\n", "/crlf": "k\r\n", "/two": "k\n\n", "/cr": "k\r", "/none": "k"}
	r := &secretResolver{readFile: func(p string) ([]byte, error) { return []byte(files[p]), nil }}
	for path, want := range map[string]string{"/lf": "k", "/crlf": "k", "/two": "k\n", "/cr": "k\r", "/none": "k"} {
		s, err := r.resolve("${file:" + path + "}")
		if err != nil || s.Reveal() != want {
			t.Errorf("%s: %q, %v; want %q", path, s.Reveal(), err, want)
		}
	}
}
