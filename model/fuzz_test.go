package model

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzLoad: no input may panic the loader, a successful load is a valid model, and
// loading is deterministic. The seed corpus (testdata/*.yaml and the invalid cases)
// runs in the normal test suite.
func FuzzLoad(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(baseModel))
	f.Add([]byte(secretModel))
	for _, c := range invalidCases {
		f.Add([]byte(c.yaml))
		f.Add([]byte(baseModel + c.yaml))
	}
	f.Add([]byte("a: &a [*a]\n"))
	f.Add(aliasedUnknownKeys(100, 100))
	f.Add([]byte("backends: [{name: b, url: 'http://[::1]:80', credentials: {header: {x: '${A:-${B}}'}}}]\n---\n---\n"))

	opts := []Option{
		fakeEnv(map[string]string{"FUNC_PRIMARY_KEY": "k1", "SET": "v", "KEY": "k"}),
		fakeFiles(map[string]string{"/run/key": "file-key\n"}), // never the real disk
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := LoadBytes("fuzz.yaml", data, opts...)
		m2, err2 := LoadBytes("fuzz.yaml", data, opts...)
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("two loads differ:\n%v\n---\n%v", err, err2)
		}
		if err != nil {
			es, ok := AsErrors(err)
			if !ok || len(es) == 0 || len(es) > MaxErrors+1 {
				t.Fatalf("AsErrors: ok %v, %d errors", ok, len(es))
			}
			for _, e := range es {
				if e.Msg == "" {
					t.Fatalf("an error without a message: %#v", e)
				}
			}
			return
		}
		checkValidModel(t, m)
		if !reflect.DeepEqual(m, m2) {
			t.Fatal("two loads give different models")
		}
		if c := m.Clone(); !reflect.DeepEqual(c, m) {
			t.Fatal("Clone differs from the model")
		}
		r := m.Redacted()
		if _, err := yaml.Marshal(r); err != nil {
			t.Fatalf("marshal: %v", err)
		}
	})
}

// checkValidModel asserts what the translator relies on after a successful load.
func checkValidModel(t *testing.T, m *Model) {
	t.Helper()
	for _, b := range m.Backends {
		if b == nil || b.Name == "" || b.Endpoint.Host == "" || b.Endpoint.Port == 0 {
			t.Fatalf("backend not filled in: %+v", b)
		}
		if b.CircuitBreaker != nil {
			r := b.CircuitBreaker.Rules
			if len(r) != 1 || r[0].TripDuration.Duration <= 0 || r[0].FailureCondition.Interval.Duration <= 0 {
				t.Fatalf("breaker not validated: %+v", b.CircuitBreaker)
			}
		}
	}
	for _, p := range m.Pools {
		if len(p.Services) == 0 {
			t.Fatalf("pool %s has no services", p.Name)
		}
		for _, s := range p.Services {
			if m.Backend(s.Backend) == nil || s.Weight < 1 || s.Weight > MaxWeight || s.Priority < 0 || s.Priority > MaxPriority {
				t.Fatalf("pool %s member not validated: %+v", p.Name, s)
			}
		}
	}
	for _, a := range m.APIs {
		if a.PathPrefix == "" || len(a.Hosts) == 0 || m.Backend(a.Backend) == nil && m.Pool(a.Backend) == nil {
			t.Fatalf("api not validated: %+v", a)
		}
		if a.Retry != nil && len(a.Retry.StatusCodeRanges)+len(a.Retry.ErrorReasons) == 0 {
			t.Fatalf("retry without conditions: %+v", a.Retry)
		}
	}
	for _, l := range m.Listeners {
		if l.Address == "" || l.Port < 1 || l.Port > 65535 {
			t.Fatalf("listener not validated: %+v", l)
		}
		for _, n := range l.APIs {
			if m.API(n) == nil {
				t.Fatalf("listener %s names a missing API %s", l.Name, n)
			}
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT30S", "PT0.5S", "P1DT2H", "30s", "1m30s", "-1s", "PT", "P1M", "PT1.9999999999S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err == nil && d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
	})
}
