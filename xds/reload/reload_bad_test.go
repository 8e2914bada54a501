package reload_test

import (
	"html"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/poolpilot/poolpilot/xds/admin"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
	"github.com/poolpilot/poolpilot/xds/internal/livetest"
)

// badModels are the files of testdata/bad, each added to a good model directory as
// bad.yaml, with the error (file:line: field: message) the server must report for it.
var badModels = []struct{ file, want string }{
	{"yaml-syntax.yaml", `bad.yaml:4: YAML syntax: could not find expected ':'`},
	{"unknown-field.yaml", `bad.yaml:4: backends[0].colour: unknown field "colour"`},
	{"wrong-type.yaml", `bad.yaml:2: listeners[0].port: want an integer; got string "abc"`},
	{"duplicate-key.yaml", `bad.yaml:4: backends[0].url: duplicate key (first at line 3)`},
	{"duplicate-name.yaml", `model.yaml:2: backends[0].name: duplicate name "sdc": backends[0] already has it`}, // bad.yaml loads first
	{"dangling-pool-member.yaml", `bad.yaml:4: pools[0].services[0].backend: no backend named "nope"`},
	{"dangling-api-backend.yaml", `bad.yaml:2: apis[0].backend: no backend or pool named "nope"`},
	{"listener-api.yaml", `bad.yaml:2: listeners[0].apis[0]: no API named "nope"`},
	{"url-scheme.yaml", `bad.yaml:2: backends[0].url: scheme "ftp" is not supported`},
	{"url-userinfo.yaml", `bad.yaml:2: backends[0].url: must not contain user info`},
	{"url-port.yaml", `bad.yaml:2: backends[0].url: port "65536" is out of range (1–65535)`},
	{"bad-duration.yaml", `bad.yaml:2: apis[0].timeout: "PT3" is not a duration`},
	{"priority-range.yaml", `bad.yaml:4: pools[0].services[0].priority: 101 is out of range (0–100; lower is preferred)`},
	{"weight-zero.yaml", `bad.yaml:4: pools[0].services[0].weight: weight 0 is not valid in Envoy`},
	{"status-range.yaml", `bad.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition.statusCodeRanges[0].max: 600 is out of range (100–599)`},
	{"breaker-two-rules.yaml", `bad.yaml:5: backends[0].circuitBreaker.rules: has 2 rules; exactly one is allowed`},
	{"count-and-percentage.yaml", `bad.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition: set count (1–10000) or percentage (1–100), not both`},
	{"error-reason.yaml", `bad.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition.errorReasons[0]: "ConnectionFailure" is not an error reason`},
	{"retry-count.yaml", `bad.yaml:5: apis[0].retry.count: is required`},
	{"path-prefix.yaml", `bad.yaml:2: apis[0].pathPrefix: "a2" must start with /`},
	{"header-name.yaml", `bad.yaml:6: backends[0].credentials.header.x key: "x key" is not a valid HTTP header name`},
	{"secret-env.yaml", `bad.yaml:6: backends[0].credentials.header.x-functions-key: environment variable NOT_SET_ANYWHERE is not set`},
	{"secret-file.yaml", `bad.yaml:6: backends[0].credentials.header.x-functions-key: cannot read secret file /no/such/secret: is outside the secrets directory: none is configured`},
}

// fileLine matches the file:line that starts every positioned model error.
var fileLine = regexp.MustCompile(`\.yaml:\d+: `)

// TestBadModelsChangeNothing breaks a served model directory in every way of badModels,
// plus a truncated and a removed file. Each time the server keeps serving the previous
// version (the connected client receives nothing), /status shows the error with its
// file:line, the HTML page shows it too, and the reload-failure counter rises by exactly
// one. Repairing the model makes the reload succeed again with the same version.
func TestBadModelsChangeNothing(t *testing.T) {
	good := adstest.Model(8001, false)
	l := livetest.Start(t, map[string]string{"model.yaml": good}, livetest.Options{Debounce: 50 * time.Millisecond})
	a, first := l.Subscribe("sdc-1", "swedencentral")
	goodVersion := l.Status().ModelVersion
	if goodVersion == "" {
		t.Fatal("no model version after startup")
	}

	type badCase struct {
		name     string
		want     string // in one of /status's lastReload.errors
		break_   func(t *testing.T)
		repair   func(t *testing.T)
		needLine bool
	}
	var cases []badCase
	for _, b := range badModels {
		data, err := os.ReadFile(filepath.Join("testdata", "bad", b.file))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, badCase{
			name: b.file, want: l.Dir + "/" + b.want, needLine: true,
			break_: func(t *testing.T) { adstest.ReplaceFile(t, l.Dir, "bad.yaml", string(data)) },
			repair: func(t *testing.T) { removeFile(t, filepath.Join(l.Dir, "bad.yaml")) },
		})
	}
	// Cut in the middle of the pools section: the API then names a pool that is gone.
	truncated := good[:strings.Index(good, "    services:")]
	cases = append(cases,
		badCase{
			name: "truncated file", want: l.Dir + "/model.yaml:", needLine: true,
			break_: func(t *testing.T) { adstest.ReplaceFile(t, l.Dir, "model.yaml", truncated) },
			repair: func(t *testing.T) { adstest.ReplaceFile(t, l.Dir, "model.yaml", good) },
		},
		badCase{
			name: "removed file", want: l.Dir + ": no *.yaml or *.yml model files in this directory",
			break_: func(t *testing.T) { removeFile(t, filepath.Join(l.Dir, "model.yaml")) },
			repair: func(t *testing.T) { adstest.ReplaceFile(t, l.Dir, "model.yaml", good) },
		},
	)
	if len(cases) < 20 {
		t.Fatalf("only %d bad models; want at least 20", len(cases))
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := l.Settle(150 * time.Millisecond)
			fams := l.Scrape()
			errBefore := adstest.MetricValue(fams, admin.MetricReloads, map[string]string{"result": "error"})
			okBefore := adstest.MetricValue(fams, admin.MetricReloads, map[string]string{"result": "ok"})

			c.break_(t)
			l.WaitAttempts(n + 1)
			st := l.Status()
			if st.LastReload == nil || st.LastReload.OK {
				t.Fatalf("last reload = %+v; want a failure", st.LastReload)
			}
			if st.ModelVersion != goodVersion || st.LastReload.Version != goodVersion || !st.Ready {
				t.Errorf("serving %q (last reload says %q, ready %v); want the previous version %q, ready",
					st.ModelVersion, st.LastReload.Version, st.Ready, goodVersion)
			}
			i := slices.IndexFunc(st.LastReload.Errors, func(e string) bool { return strings.Contains(e, c.want) })
			if i < 0 {
				t.Fatalf("/status errors %q do not contain %q", st.LastReload.Errors, c.want)
			}
			t.Logf("rejected: %s", st.LastReload.Errors[i])
			if c.needLine && !fileLine.MatchString(st.LastReload.Errors[i]) {
				t.Errorf("error %q has no file:line", st.LastReload.Errors[i])
			}
			code, page := l.Get("/")
			if code != http.StatusOK || !strings.Contains(html.UnescapeString(page), st.LastReload.Errors[i]) {
				t.Errorf("the HTML page (%d) does not show the error %q", code, st.LastReload.Errors[i])
			}
			fams = l.Scrape()
			if got := adstest.MetricValue(fams, admin.MetricReloads, map[string]string{"result": "error"}); got != errBefore+1 {
				t.Errorf("reload errors went from %v to %v; want +1", errBefore, got)
			}
			if got := adstest.MetricValue(fams, admin.MetricReloads, map[string]string{"result": "ok"}); got != okBefore {
				t.Errorf("reload ok went from %v to %v; want unchanged", okBefore, got)
			}
			if v := adstest.MetricValue(fams, admin.MetricLastReloadOK, nil); v != 0 {
				t.Errorf("%s = %v; want 0", admin.MetricLastReloadOK, v)
			}
			if v := adstest.MetricValue(fams, admin.MetricModelErrors, nil); v < 1 {
				t.Errorf("%s = %v; want at least 1", admin.MetricModelErrors, v)
			}
			a.Quiet(200 * time.Millisecond)

			c.repair(t)
			l.WaitAttempts(n + 2)
			st = l.Status()
			if !st.LastReload.OK || st.ModelVersion != goodVersion {
				t.Fatalf("after repair: last reload %+v, version %q; want ok with %q", st.LastReload, st.ModelVersion, goodVersion)
			}
		})
	}
	// The same model again is the same version: the client never saw a change.
	a.Quiet(200 * time.Millisecond)
	if first.VersionInfo == "" {
		t.Error("first response had no version")
	}
}

// TestRemovedSingleFile: removing a single-file model keeps serving it; writing it back
// (an editor's delete-and-recreate) recovers.
func TestRemovedSingleFile(t *testing.T) {
	good := adstest.Model(8001, false)
	l := livetest.Start(t, map[string]string{"model.yaml": good}, livetest.Options{File: "model.yaml", Debounce: 50 * time.Millisecond})
	a, _ := l.Subscribe("nwe-1", "norwayeast")
	n := l.Settle(150 * time.Millisecond)
	removeFile(t, l.Path)
	l.WaitAttempts(n + 1)
	st := l.Status()
	want := l.Path + ": cannot read model: no such file"
	if st.LastReload.OK || !slices.Contains(st.LastReload.Errors, want) {
		t.Fatalf("last reload %+v; want the error %q", st.LastReload, want)
	}
	a.Quiet(200 * time.Millisecond)
	adstest.WriteFile(t, l.Dir, "model.yaml", []byte(good))
	deadline := time.Now().Add(10 * time.Second)
	for last, _ := l.Reloader.Last(); !last.OK; last, _ = l.Reloader.Last() {
		if time.Now().After(deadline) {
			t.Fatalf("the recreated model was not reloaded within 10s: %+v", last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func removeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
