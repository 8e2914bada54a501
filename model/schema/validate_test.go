package schema

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/poolpilot/poolpilot/internal/modelgen"
	"github.com/poolpilot/poolpilot/model"
)

// compiled is the committed schema, compiled by an independent validator (which also
// checks it against the 2020-12 meta-schema).
func compiled(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(committed)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(ID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(ID)
	if err != nil {
		t.Fatalf("compile %s: %v", committed, err)
	}
	return s
}

// validateYAML checks every document of a model file against the schema, as the YAML
// language server does.
func validateYAML(s *jsonschema.Schema, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var errs []error
	for {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if doc == nil {
			continue // an empty document, as the loader skips it
		}
		if err := s.Validate(doc); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// modelFiles are the example models, the translator's golden inputs and the loader's
// valid test model.
func modelFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("../../examples", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(p) == "model.yaml" {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	golden, err := filepath.Glob("../../translator/testdata/in/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, golden...)
	files = append(files, "../testdata/failover.yaml") // the loader's own valid test model
	if len(files) < 4 {
		t.Fatalf("found only %v: the example or golden folders moved?", files)
	}
	return files
}

func TestExamplesAndGoldenInputsValidate(t *testing.T) {
	s := compiled(t)
	for _, f := range modelFiles(t) {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := model.LoadBytes(f, data, model.WithLookupEnv(noEnv)); err != nil {
				t.Fatalf("the loader rejects it: %v", err)
			}
			if err := validateYAML(s, data); err != nil {
				t.Errorf("the schema rejects a model the loader accepts:\n%v", err)
			}
		})
	}
}

// TestGeneratedModelValidates: a synthetic model of the size the benchmarks use, with
// credentials, breakers and retries on every API, loads and validates.
func TestGeneratedModelValidates(t *testing.T) {
	spec := modelgen.Spec{Pools: 50, BackendsPerPool: 4, Regions: 3, Listeners: 2, Credentials: true}
	data, err := modelgen.YAML(spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := model.LoadBytes("gen.yaml", data); err != nil {
		t.Fatalf("the loader rejects it: %v", err)
	}
	if err := validateYAML(compiled(t), data); err != nil {
		t.Errorf("the schema rejects a model the loader accepts:\n%v", err)
	}
}

// TestExamplesCarryTheModeline checks that every example model names the schema on its
// first line, with a path that reaches docs/model.schema.json from the file.
func TestExamplesCarryTheModeline(t *testing.T) {
	const prefix = "# yaml-language-server: $schema="
	for _, f := range modelFiles(t) {
		if !strings.HasPrefix(f, "../../examples/") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(data), "\n")
		ref, ok := strings.CutPrefix(first, prefix)
		if !ok {
			t.Errorf("%s: first line is %q, want %s<relative path to docs/model.schema.json>", f, first, prefix)
			continue
		}
		target := filepath.Join(filepath.Dir(f), ref)
		if filepath.Clean(target) != filepath.Clean(committed) {
			t.Errorf("%s: the modeline's %s resolves to %s, not %s", f, ref, target, committed)
		}
	}
}

func noEnv(string) (string, bool) { return "", false }

// base is a valid model that the cases below change in one place.
const base = `backends:
  - name: b1
    url: http://10.0.0.1:8080
    region: r1
    credentials:
      header: {x-key: literal}
    circuitBreaker:
      rules:
        - name: rule
          tripDuration: PT30S
          failureCondition:
            count: 3
            interval: PT15S
            errorReasons: [BackendConnectionFailure]
            statusCodeRanges: [{min: 502, max: 504}]
  - name: b2
    url: https://b2.example.com
    region: r2
pools:
  - name: p1
    preferLocalRegion: true
    services:
      - {backend: b1, priority: 1, weight: 1}
      - {backend: b2, priority: 2, weight: 1}
apis:
  - name: a1
    pathPrefix: /a/
    backend: p1
    timeout: 10s
    retry:
      count: 3
      interval: PT1S
      statusCodeRanges: [{min: 500, max: 599}]
listeners:
  - {name: l1, port: 10000, apis: [a1]}
`

// edit replaces the first old in base with new; every old with all.
type edit struct {
	name, old, new string
	all            bool
}

func (e edit) apply(t *testing.T) []byte {
	t.Helper()
	if !strings.Contains(base, e.old) {
		t.Fatalf("base has no %q", e.old)
	}
	if e.all {
		return []byte(strings.ReplaceAll(base, e.old, e.new))
	}
	return []byte(strings.Replace(base, e.old, e.new, 1))
}

// TestSchemaAcceptsWhatTheLoaderAccepts covers the loader's lenient corners: every
// variant loads, so the schema must accept it too.
func TestSchemaAcceptsWhatTheLoaderAccepts(t *testing.T) {
	s := compiled(t)
	cases := []edit{
		{"the base model", "", "", false},
		{"lower-case ISO duration", "tripDuration: PT30S", "tripDuration: pt30s", false},
		{"ISO days and time", "tripDuration: PT30S", "tripDuration: P1DT2H", false},
		{"ISO weeks", "tripDuration: PT30S", "tripDuration: P1W", false},
		{"ISO fraction with a dot", "interval: PT15S", "interval: PT0.5S", false},
		{"ISO fraction with a comma", "interval: PT15S", "interval: PT0,5S", false},
		{"ISO hours minutes seconds", "interval: PT15S", "interval: PT1H2M3.5S", false},
		{"Go duration", "timeout: 10s", "timeout: 1m30s", false},
		{"Go fractional hours", "timeout: 10s", "timeout: 1.5h", false},
		{"Go micro sign", "timeout: 10s", "timeout: 500µs", false},
		{"Go zero", "timeout: 10s", "timeout: \"0\"", false},
		{"numeric names", "b2", "2024", true},
		{"numeric region", "region: r1", "region: 1", false},
		{"numeric secret", "{x-key: literal}", "{x-key: 12345}", false},
		{"absolute caFile", "    url: https://b2.example.com\n", "    url: https://b2.example.com\n    tls: {caFile: /etc/pki/ca.pem}\n", false},
		{"breaker scope region", "          tripDuration: PT30S\n", "          tripDuration: PT30S\n          scope: region\n", false},
		{"header name with symbols", "{x-key: literal}", "{X-Key_1.v2: literal}", false},
		{"status range with min only", "{min: 502, max: 504}", "{min: 503}", false},
		{"weight left out", "priority: 2, weight: 1}", "priority: 2}", false},
		{"priority 0 and weight 100", "priority: 2, weight: 1}", "priority: 0, weight: 100}", false},
		{"priority 100", "priority: 2,", "priority: 100,", false},
		{"percentage instead of count", "count: 3\n            interval", "percentage: 50\n            interval", false},
		{"upper-case URL", "https://b2.example.com", "HTTPS://B2.EXAMPLE.COM:8443/base", false},
		{"IPv6 URL", "http://10.0.0.1:8080", "http://[2001:db8::1]:8080", false},
		{"path with unicode", "pathPrefix: /a/", "pathPrefix: /å/", false},
		{"retry with maxInterval and delta", "interval: PT1S\n", "interval: PT1S\n      maxInterval: PT5S\n      delta: PT1S\n", false},
		{"fields without a value", "    timeout: 10s\n", "    timeout:\n    hosts: ~\n", false},
		{"objects without a value", "    region: r2\n", "    region: r2\n    credentials:\n    circuitBreaker: ~\n", false},
		{"a list without a value", "listeners:\n  - {name: l1, port: 10000, apis: [a1]}\n", "listeners:\n", false},
		{"count without a value beside percentage", "count: 3\n            interval", "count:\n            percentage: 50\n            interval", false},
		{"second document", "", "---\n# only a comment\n---\nlisteners: [{name: l2, port: 10001, apis: [a1]}]\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := []byte(base)
			if c.old != "" {
				data = c.apply(t)
			} else {
				data = append(data, c.new...)
			}
			if _, err := model.LoadBytes("case.yaml", data, model.WithLookupEnv(noEnv)); err != nil {
				t.Fatalf("the loader rejects the case itself: %v", err)
			}
			if err := validateYAML(s, data); err != nil {
				t.Errorf("the schema rejects a model the loader accepts:\n%v", err)
			}
		})
	}
}

// TestSchemaRejectsWhatTheLoaderRejects: each model is rejected by the loader for a
// reason JSON Schema can express (want is part of the loader's message, which proves the
// reason), and must be rejected by the schema too.
func TestSchemaRejectsWhatTheLoaderRejects(t *testing.T) {
	s := compiled(t)
	cases := []struct {
		edit
		want string
	}{
		{edit{"unknown field", "    region: r1\n", "    region: r1\n    colour: red\n", false}, `unknown field "colour"`},
		{edit{"unknown top-level field", "pools:\n", "pool: []\npools:\n", false}, `unknown field "pool"`},
		{edit{"integer given a string", "port: 10000", "port: abc", false}, "want an integer"},
		{edit{"boolean given a string", "preferLocalRegion: true", "preferLocalRegion: 'yes'", false}, "want true or false"},
		{edit{"string given a boolean", "region: r1", "region: true", false}, "want a string"},
		{edit{"list given a string", "apis: [a1]", "apis: a1", false}, "want a list"},
		{edit{"empty list entry", "services:\n", "services:\n      -\n", false}, "empty entry"},
		{edit{"priority 101", "priority: 2,", "priority: 101,", false}, "101 is out of range (0–100"},
		{edit{"priority -1", "priority: 2,", "priority: -1,", false}, "-1 is out of range (0–100"},
		{edit{"weight 0", "priority: 2, weight: 1}", "priority: 2, weight: 0}", false}, "weight 0 is not valid in Envoy"},
		{edit{"weight 101", "priority: 2, weight: 1}", "priority: 2, weight: 101}", false}, "101 is out of range (1–100)"},
		{edit{"status 600", "max: 599", "max: 600", false}, "600 is out of range (100–599)"},
		{edit{"status 99", "min: 500", "min: 99", false}, "99 is out of range (100–599)"},
		{edit{"status range without min", "{min: 502, max: 504}", "{max: 504}", false}, "min: is required"},
		{edit{"duration without a unit", "tripDuration: PT30S", "tripDuration: 30", false}, "has no unit"},
		{edit{"duration in words", "interval: PT1S", "interval: 1 second", false}, "is not a duration"},
		{edit{"ISO months", "timeout: 10s", "timeout: P1M", false}, "years and months"},
		{edit{"ISO T without a time", "timeout: 10s", "timeout: P1DT", false}, "no components after T"},
		{edit{"negative duration", "timeout: 10s", "timeout: -5s", false}, "is negative"},
		{edit{"unknown error reason", "[BackendConnectionFailure]", "[ConnectionFailure]", false}, `"ConnectionFailure" is not an error reason`},
		{edit{"count and percentage", "count: 3\n            interval", "count: 3\n            percentage: 50\n            interval", false}, "not both"},
		{edit{"neither count nor percentage", "count: 3\n            interval", "interval", false}, "needs count"},
		{edit{"breaker without reasons or ranges", "            errorReasons: [BackendConnectionFailure]\n            statusCodeRanges: [{min: 502, max: 504}]\n", "", false}, "needs errorReasons"},
		{edit{"breaker reasons and ranges without values", "errorReasons: [BackendConnectionFailure]\n            statusCodeRanges: [{min: 502, max: 504}]", "errorReasons:\n            statusCodeRanges: ~", false}, "needs errorReasons"},
		{edit{"percentage 101", "count: 3\n", "percentage: 101\n", false}, "101 is out of range (1–100)"},
		{edit{"breaker count 0", "count: 3\n            interval", "count: 0\n            interval", false}, "0 is out of range (1–10000)"},
		{edit{"two breaker rules", "      rules:\n", "      rules:\n        - {tripDuration: PT5S, failureCondition: {count: 1, interval: PT5S, errorReasons: [Timeout]}}\n", false}, "exactly one is allowed"},
		{edit{"breaker rule without tripDuration", "          tripDuration: PT30S\n", "", false}, "tripDuration: is required"},
		{edit{"retry count 0", "count: 3\n      interval", "count: 0\n      interval", false}, "0 is out of range (1–50"},
		{edit{"retry count 51", "count: 3\n      interval", "count: 51\n      interval", false}, "51 is out of range (1–50"},
		{edit{"maxInterval without interval", "      interval: PT1S\n", "      maxInterval: PT1S\n", false}, "needs interval"},
		{edit{"port 70000", "port: 10000", "port: 70000", false}, "70000 is out of range (1–65535)"},
		{edit{"listener without apis", "apis: [a1]}", "apis: []}", false}, "needs at least one API"},
		{edit{"pool without services", "    services:\n      - {backend: b1, priority: 1, weight: 1}\n      - {backend: b2, priority: 2, weight: 1}\n", "    services: []\n", false}, "needs at least one service"},
		{edit{"ftp URL", "http://10.0.0.1:8080", "ftp://10.0.0.1", false}, `scheme "ftp" is not supported`},
		{edit{"URL with a query", "https://b2.example.com", "https://b2.example.com/?a=1", false}, "must not have a query"},
		{edit{"URL left out", "    url: https://b2.example.com\n", "", false}, "url: is required"},
		{edit{"name with a space", "- name: b2\n", "- name: 'b 2'\n", false}, "is not a valid name"},
		{edit{"name too long", "- name: b2\n", "- name: " + strings.Repeat("b", 101) + "\n", false}, "at most 100"},
		{edit{"header name with a space", "{x-key: literal}", "{'x key': literal}", false}, "is not a valid HTTP header name"},
		{edit{"path without a slash", "pathPrefix: /a/", "pathPrefix: a/", false}, "must start with /"},
		{edit{"path with a query", "pathPrefix: /a/", "pathPrefix: /a?b", false}, "must not contain ?"},
		{edit{"unknown breaker scope", "          tripDuration: PT30S\n", "          tripDuration: PT30S\n          scope: world\n", false}, `"world" is not a scope`},
		{edit{"relative caFile", "    url: https://b2.example.com\n", "    url: https://b2.example.com\n    tls: {caFile: certs/ca.pem}\n", false}, "is not an absolute path on the proxy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.apply(t)
			_, err := model.LoadBytes("case.yaml", data, model.WithLookupEnv(noEnv))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("the loader's error is %v, want one containing %q", err, c.want)
			}
			if validateYAML(s, data) == nil {
				t.Errorf("the schema accepts a model the loader rejects (%s)", c.want)
			}
		})
	}
}
