package model

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeEnv and fakeFiles keep tests away from the process environment and real secrets.
func fakeEnv(env map[string]string) Option {
	return WithLookupEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

func fakeFiles(files map[string]string) Option {
	return WithReadFile(func(p string) ([]byte, error) {
		if v, ok := files[p]; ok {
			return []byte(v), nil
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	})
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadExample(t *testing.T) {
	m, err := LoadBytes("failover.yaml", readTestdata(t, "failover.yaml"), fakeEnv(map[string]string{"FUNC_SECONDARY_KEY": "from-env"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Backends) != 2 || len(m.Pools) != 1 || len(m.APIs) != 1 || len(m.Listeners) != 1 {
		t.Fatalf("counts: %d backends %d pools %d apis %d listeners", len(m.Backends), len(m.Pools), len(m.APIs), len(m.Listeners))
	}
	b := m.Backend("func-primary-sdc")
	if b == nil {
		t.Fatal("backend func-primary-sdc not found")
	}
	wantEP := Endpoint{Scheme: "https", Host: "func-primary-sdc.azurewebsites.net", Port: 443}
	if b.Endpoint != wantEP {
		t.Errorf("Endpoint = %+v, want %+v", b.Endpoint, wantEP)
	}
	if b.Pos != (Pos{File: "failover.yaml", Line: 2, Column: 5}) {
		t.Errorf("backend Pos = %#v", b.Pos)
	}
	key := b.Credentials.Header["x-functions-key"]
	if key.Reveal() != "primary-demo-key" || !key.Defaulted || key.Ref != "${FUNC_PRIMARY_KEY}" {
		t.Errorf("primary key: value %q defaulted %v ref %q", key.Reveal(), key.Defaulted, key.Ref)
	}
	key2 := m.Backend("func-secondary-nwe").Credentials.Header["x-functions-key"]
	if key2.Reveal() != "from-env" || key2.Defaulted {
		t.Errorf("secondary key: value %q defaulted %v", key2.Reveal(), key2.Defaulted)
	}
	r := b.CircuitBreaker.Rules[0]
	if r.Name != "primary-breaker" || r.TripDuration.Duration != 30*time.Second || !r.AcceptRetryAfter ||
		r.FailureCondition.Count != 3 || r.FailureCondition.Interval.Duration != 15*time.Second ||
		fmt.Sprint(r.FailureCondition.ErrorReasons) != "[BackendConnectionFailure]" ||
		fmt.Sprint(r.FailureCondition.StatusCodeRanges) != "[{502 504}]" || r.Pos.Line != 10 {
		t.Errorf("rule = %+v", r)
	}
	p := m.Pool("load-balanced-pool")
	if !p.PreferLocalRegion || len(p.Services) != 2 || *p.Services[1] != (PoolMember{Backend: "func-secondary-nwe", Priority: 2, Weight: 1, Pos: Pos{"failover.yaml", 39, 9}}) {
		t.Errorf("pool = %+v, services[1] = %+v", p, p.Services[1])
	}
	a := m.API("resilient-api")
	if a.PathPrefix != "/resilient-api/" || a.Backend != "load-balanced-pool" || a.RewritePrefix != "/api/ProcessRequestFunction" ||
		fmt.Sprint(a.Hosts) != "[*]" || a.Timeout.Set() {
		t.Errorf("api = %+v", a)
	}
	rt := a.Retry
	if rt.Count != 3 || rt.Interval.Duration != time.Second || !rt.FirstFastRetry || !rt.BufferRequestBody ||
		fmt.Sprint(rt.StatusCodeRanges) != "[{500 599}]" || fmt.Sprint(rt.ErrorReasons) != "[BackendConnectionFailure]" {
		t.Errorf("retry = %+v", rt)
	}
	l := m.Listener("public")
	if l.Address != "0.0.0.0" || l.Port != 10000 || fmt.Sprint(l.APIs) != "[resilient-api]" || l.Pos.Line != 53 {
		t.Errorf("listener = %+v", l)
	}
	if got := fmt.Sprint(m.Regions()); got != "[norwayeast swedencentral]" {
		t.Errorf("Regions = %s", got)
	}
	if m.Backend("load-balanced-pool") != nil || m.Pool("func-primary-sdc") != nil || m.API("nope") != nil || m.Backend("") != nil {
		t.Error("lookups must not cross kinds or find missing names")
	}
}

func TestLoadValid(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, m *Model)
	}{
		{"empty file", "", func(t *testing.T, m *Model) {
			if len(m.Backends)+len(m.Pools)+len(m.APIs)+len(m.Listeners) != 0 {
				t.Errorf("want an empty model, got %+v", m)
			}
		}},
		{"only comments", "# nothing here\n", nil},
		{"empty lists", "backends: []\npools:\napis: []\nlisteners: []\n", nil},
		{"backends without apis or listeners", "backends: [{name: b, url: http://b}]\n", func(t *testing.T, m *Model) {
			if m.Backends[0].Endpoint != (Endpoint{Scheme: "http", Host: "b", Port: 80}) {
				t.Errorf("Endpoint = %+v", m.Backends[0].Endpoint)
			}
		}},
		{"IPv4 with port and path", "backends: [{name: b, url: 'HTTP://10.1.2.3:8080/base/'}]\n", func(t *testing.T, m *Model) {
			if m.Backends[0].Endpoint != (Endpoint{Scheme: "http", Host: "10.1.2.3", Port: 8080, IsIP: true, Path: "/base/"}) {
				t.Errorf("Endpoint = %+v", m.Backends[0].Endpoint)
			}
		}},
		{"IPv6 literal", "backends: [{name: b, url: 'https://[2001:db8::1]:8443/'}]\n", func(t *testing.T, m *Model) {
			if m.Backends[0].Endpoint != (Endpoint{Scheme: "https", Host: "2001:db8::1", Port: 8443, IsIP: true}) {
				t.Errorf("Endpoint = %+v", m.Backends[0].Endpoint)
			}
		}},
		{"DNS name is lower-cased", "backends: [{name: b, url: 'https://API.Example.COM.'}]\n", func(t *testing.T, m *Model) {
			if m.Backends[0].Endpoint.Host != "api.example.com" {
				t.Errorf("Host = %q", m.Backends[0].Endpoint.Host)
			}
		}},
		{"percentage breaker, Go durations, single status code", `
backends:
  - name: b
    url: http://b
    circuitBreaker:
      rules:
        - tripDuration: 1m30s
          failureCondition: {percentage: 50, interval: 500ms, statusCodeRanges: [{min: 429}]}
`, func(t *testing.T, m *Model) {
			r := m.Backends[0].CircuitBreaker.Rules[0]
			if r.TripDuration.Duration != 90*time.Second || r.FailureCondition.Percentage != 50 ||
				r.FailureCondition.Interval.Duration != 500*time.Millisecond ||
				r.FailureCondition.StatusCodeRanges[0] != (StatusRange{429, 429}) {
				t.Errorf("rule = %+v", r)
			}
		}},
		{"defaults", `
backends: [{name: b, url: http://b}]
pools: [{name: p, services: [{backend: b}]}]
apis: [{name: a, backend: p, retry: {count: 2}}]
listeners: [{name: l, port: 8080, apis: [a]}]
`, func(t *testing.T, m *Model) {
			s := m.Pools[0].Services[0]
			a := m.APIs[0]
			if s.Priority != 0 || s.Weight != 1 || a.PathPrefix != "/" || fmt.Sprint(a.Hosts) != "[*]" ||
				m.Listeners[0].Address != "0.0.0.0" ||
				fmt.Sprint(a.Retry.StatusCodeRanges) != "[{502 504}]" || fmt.Sprint(a.Retry.ErrorReasons) != "[BackendConnectionFailure]" {
				t.Errorf("defaults not applied: member %+v api %+v retry %+v listener %+v", s, a, a.Retry, m.Listeners[0])
			}
		}},
		{"retry with only errorReasons keeps no status ranges", `
backends: [{name: b, url: http://b}]
apis: [{name: a, backend: b, timeout: PT10S, retry: {count: 1, interval: PT0.5S, maxInterval: PT2S, delta: PT0.1S, perTryTimeout: 2s, errorReasons: [Timeout]}}]
`, func(t *testing.T, m *Model) {
			r := m.APIs[0].Retry
			if len(r.StatusCodeRanges) != 0 || r.Interval.Duration != 500*time.Millisecond || r.MaxInterval.Duration != 2*time.Second ||
				r.Delta.Duration != 100*time.Millisecond || r.PerTryTimeout.Duration != 2*time.Second || m.APIs[0].Timeout.Duration != 10*time.Second {
				t.Errorf("retry = %+v", r)
			}
		}},
		{"hosts and two APIs on one listener", `
backends: [{name: b, url: http://b}]
apis:
  - {name: a1, backend: b, hosts: ['*.example.com', 'api.example.com:8080', 'www.*']}
  - {name: a2, backend: b, pathPrefix: /v2/}
  - {name: a3, backend: b, hosts: [other.example.com]}
listeners:
  - {name: l, port: 8080, address: 127.0.0.1, apis: [a1, a2, a3]}
  - {name: l6, port: 8080, address: '::1', apis: [a1]}
  - {name: l2, port: 8081, apis: [a2]}
`, nil},
		{"multi-document file", "backends: [{name: b1, url: http://b1}]\n---\nbackends: [{name: b2, url: http://b2}]\n", func(t *testing.T, m *Model) {
			if len(m.Backends) != 2 || m.Backends[1].Pos.Line != 3 {
				t.Errorf("backends = %+v %+v", m.Backends[0], m.Backends[1])
			}
		}},
		{"aliases", `
backends:
  - name: b1
    url: http://b1
    circuitBreaker: &cb
      rules: [{tripDuration: PT30S, failureCondition: {count: 3, interval: PT15S, errorReasons: [BackendConnectionFailure]}}]
  - {name: b2, url: http://b2, circuitBreaker: *cb}
`, func(t *testing.T, m *Model) {
			if m.Backends[1].CircuitBreaker.Rules[0].FailureCondition.Count != 3 || m.Backends[0].CircuitBreaker == m.Backends[1].CircuitBreaker {
				t.Error("alias not decoded into its own value")
			}
		}},
		{"secrets", `
backends:
  - name: b
    url: http://b
    credentials:
      header:
        x-env: ${KEY}
        x-file: ${file:key.txt}
        x-abs: ${file:/run/secrets/abs}
        Authorization: Bearer ${KEY}
        x-literal: plain-value
        x-dollar: a$b$${c}
        x-num: 42
`, func(t *testing.T, m *Model) {
			h := m.Backends[0].Credentials.Header
			want := map[string][2]string{
				"x-env":         {"env-value", "${KEY}"},
				"x-file":        {"file-value", "${file:key.txt}"},
				"x-abs":         {"abs-value", "${file:/run/secrets/abs}"},
				"Authorization": {"Bearer env-value", "Bearer ${KEY}"},
				"x-literal":     {"plain-value", ""},
				"x-dollar":      {"a$b${c}", "a$b$${c}"},
				"x-num":         {"42", ""},
			}
			for k, w := range want {
				if h[k].Reveal() != w[0] || h[k].Ref != w[1] {
					t.Errorf("%s: value %q ref %q, want %q %q", k, h[k].Reveal(), h[k].Ref, w[0], w[1])
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := LoadBytes("dir/t.yaml", []byte(tt.yaml),
				fakeEnv(map[string]string{"KEY": "env-value"}),
				fakeFiles(map[string]string{"dir/key.txt": "file-value\n", "/run/secrets/abs": "abs-value\r\n"}))
			if err != nil {
				t.Fatalf("unexpected error:\n%v", err)
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

func TestValidHost(t *testing.T) {
	for _, h := range []string{"*", "api.example.com", "api.example.com:8080", "*.example.com", "www.*",
		"10.0.0.1", "10.0.0.1:80", "[2001:db8::1]", "[::1]:8443"} {
		if !validHost(h) {
			t.Errorf("validHost(%q) = false, want true", h)
		}
	}
	for _, h := range []string{"", "a*b.example", "api.example.com:0", "api.example.com:x", "::1", "2001:db8::1:80",
		"[::1", "::1]", "[10.0.0.1]", "[fe80::1%eth0]", "[::1]:", "[::1]:70000", "10.0.0.1]"} {
		if validHost(h) {
			t.Errorf("validHost(%q) = true, want false", h)
		}
	}
}
