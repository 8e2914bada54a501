package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/poolpilot/poolpilot/breaker"
	"github.com/poolpilot/poolpilot/internal/breakertest"
	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/admin"
)

// breakerCmdModel: sdc trips on 3 failures within 10 s, nwe on 50% failed within 10 s.
var breakerCmdModel = breakertest.Model("{percentage: 50, interval: PT10S, errorReasons: [BackendConnectionFailure]}")

// startBreakerAdmin serves a real admin handler on 127.0.0.1 over an applied model and a
// real engine on a fake clock (nil engine: no breaker). It returns host:port.
func startBreakerAdmin(t *testing.T, eng *breaker.Engine) string {
	t.Helper()
	m, err := model.LoadBytes("breaker.yaml", []byte(breakerCmdModel))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := xds.New(xds.Options{Logger: log, Translate: translator.Translate})
	if err := srv.Apply(m); err != nil {
		t.Fatal(err)
	}
	opts := admin.Options{Server: srv, Logger: log}
	if eng != nil {
		rules, err := breaker.RulesFromModel(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.SetRules(rules); err != nil {
			t.Fatal(err)
		}
		opts.Breaker = eng
	}
	hs := httptest.NewServer(admin.New(opts).Handler())
	t.Cleanup(hs.Close)
	return strings.TrimPrefix(hs.URL, "http://")
}

func TestBreakerCommand(t *testing.T) {
	now := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	eng := breaker.New(breaker.Config{Clock: func() time.Time { return now }})
	addr := startBreakerAdmin(t, eng)
	rec := func(node, region, backend string, ok, failed uint64) {
		t.Helper()
		if _, err := eng.Record(breaker.Report{Node: node, Region: region, Backend: backend, At: now,
			Counts: breaker.Counts{Issued: ok + failed, Succeeded: ok, Failed: failed}}); err != nil {
			t.Fatal(err)
		}
	}
	rec("sdc-envoy-1", "swedencentral", "sdc", 40, 2)
	rec("nwe-envoy-1", "norwayeast", "nwe", 60, 0)
	now = now.Add(2 * time.Second)
	rec("nwe-envoy-1", "norwayeast", "sdc", 37, 1) // the third failure within 10 s: sdc trips
	rec("sdc-envoy-1", "swedencentral", "nwe", 50, 3)
	now = now.Add(1200 * time.Millisecond)

	out, errOut, code := runCLI(t, "breaker", "--admin-address", addr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	t.Logf("poolpilot breaker:\n%s", out)
	if strings.Contains(out, " \n") {
		t.Error("a line of the table ends in spaces")
	}
	// README.md quotes this output.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, quoted, _ := strings.Cut(string(readme), "$ poolpilot breaker\n")
	quoted, _, _ = strings.Cut(quoted, "```")
	if quoted != out {
		t.Errorf("README.md quotes\n%s\nbut poolpilot breaker prints\n%s", quoted, out)
	}
	for _, want := range []string{
		"BACKEND  REGION",
		// A trip empties the windows it covers: the counts that tripped it are on the trip.
		"sdc      fleet          0.00   0.00   0.0   2        1.2s    open until 2026-11-30T03:00:32Z  sdc-breaker: 3 failures within 10s → open 30s (fleet)              3 errors of 80 requests from 2 proxies at 2026-11-30T03:00:02Z",
		"sdc      norwayeast     0.00   0.00   0.0   1        1.2s    open until 2026-11-30T03:00:32Z  sdc-breaker: 3 failures within 10s → open 30s (fleet)              (the fleet trip)",
		"sdc      swedencentral  0.00   0.00   0.0   1        3.2s    open until 2026-11-30T03:00:32Z",
		"nwe      fleet          11.30  0.30   2.7   2        1.2s    closed                           nwe-breaker: 50% of requests failed within 10s → open 30s (fleet)",
		"nwe-breaker: 50% of requests failed within 10s → open 30s (fleet)",
		"Last 1 trips (newest first):",
		"2026-11-30T03:00:02Z  sdc      fleet   2026-11-30T03:00:32Z",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q", want)
		}
	}

	out, errOut, code = runCLI(t, "breaker", "--admin-address", "http://"+addr, "-o", "json")
	var st admin.BreakerStatus
	if code != exitOK || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("-o json: exit %d, %s\n%s", code, errOut, out)
	}
	if len(st.Rows) != 6 || st.Rows[0].Backend != "nwe" || !st.Rows[0].Fleet || len(st.Trips) != 1 || st.Trips[0].Backend != "sdc" ||
		!st.Trips[0].OpenUntil.Equal(time.Date(2026, 11, 30, 3, 0, 32, 0, time.UTC)) {
		t.Errorf("-o json = %+v", st)
	}
}

func TestBreakerCommandErrors(t *testing.T) {
	// A port nothing listens on: bound, then closed.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := lis.Addr().String()
	_ = lis.Close()

	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello\n") }))
	t.Cleanup(other.Close)
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		chunk := []byte(strings.Repeat(" ", 1<<20))
		for range breakerMaxBody>>20 + 2 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(huge.Close)

	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"nothing listens", []string{"--admin-address", gone}, exitError, "no poolpilot admin server at http://" + gone},
		{"no breaker", []string{"--admin-address", startBreakerAdmin(t, nil)}, exitError, "runs without a fleet breaker: its /status has no breaker section"},
		{"not poolpilot", []string{"--admin-address", other.URL}, exitError, "is not poolpilot's status JSON"},
		{"too large", []string{"--admin-address", huge.URL}, exitError, "larger than 32 MiB"},
		{"bad output", []string{"-o", "yaml"}, exitUsage, `--output "yaml": want table or json`},
		{"bad address", []string{"--admin-address", "19000"}, exitUsage, `--admin-address "19000": want host:port`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, append([]string{"breaker"}, tt.args...)...)
			if code != tt.code || !strings.Contains(errOut, tt.want) || out != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want exit %d and %q", code, errOut, out, tt.code, tt.want)
			}
		})
	}
}

func TestAdminURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:19000":        "http://127.0.0.1:19000",
		":19000":                 "http://127.0.0.1:19000",
		"0.0.0.0:19000":          "http://127.0.0.1:19000",
		"[::]:19000":             "http://127.0.0.1:19000",
		"admin.internal:19000":   "http://admin.internal:19000",
		"https://admin.example/": "https://admin.example",
	} {
		if got, err := adminURL(in); err != nil || got != want {
			t.Errorf("adminURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
