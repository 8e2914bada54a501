package admin_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	prommodel "github.com/prometheus/common/model"

	"github.com/poolpilot/poolpilot/breaker"
	"github.com/poolpilot/poolpilot/internal/breakertest"
	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/admin"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
)

// adminBreakerModel: a pool of two backends, each with a count rule of 3 failures within 10 s,
// open for 30 s.
var adminBreakerModel = breakertest.Model(breakertest.CountRule)

var breakerBase = time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)

type breakerClock struct{ t time.Time }

func (c *breakerClock) now() time.Time { return c.t }

// breakerAdmin is a real admin server on 127.0.0.1 over a served model and a real
// engine on a fake clock.
type breakerAdmin struct {
	t   *testing.T
	clk *breakerClock
	eng *breaker.Engine
	url string
}

func newBreakerAdmin(t *testing.T, m *model.Model, rules map[string]breaker.Rule) *breakerAdmin {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := xds.New(xds.Options{Logger: log, Translate: translator.Translate})
	if m != nil {
		if err := srv.Apply(m); err != nil {
			t.Fatal(err)
		}
	}
	clk := &breakerClock{t: breakerBase}
	eng := breaker.New(breaker.Config{Clock: clk.now})
	if err := eng.SetRules(rules); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(admin.New(admin.Options{Server: srv, Metrics: admin.NewMetrics(), Breaker: eng, Logger: log}).Handler())
	t.Cleanup(hs.Close)
	return &breakerAdmin{t: t, clk: clk, eng: eng, url: hs.URL}
}

func (b *breakerAdmin) record(node, region, backend string, ok, failed uint64) {
	b.t.Helper()
	if _, err := b.eng.Record(breaker.Report{Node: node, Region: region, Backend: backend, At: b.clk.t,
		Source: breaker.SourceLRS, Counts: breaker.Counts{Issued: ok + failed, Succeeded: ok, Failed: failed}}); err != nil {
		b.t.Fatal(err)
	}
}

func (b *breakerAdmin) get(path string) string {
	b.t.Helper()
	resp, err := http.Get(b.url + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return string(body)
}

func (b *breakerAdmin) status() *admin.BreakerStatus {
	b.t.Helper()
	var st admin.Status
	if err := json.Unmarshal([]byte(b.get("/status")), &st); err != nil {
		b.t.Fatal(err)
	}
	if st.Breaker == nil {
		b.t.Fatal("/status has no breaker section")
	}
	return st.Breaker
}

func (b *breakerAdmin) scrape() map[string]*dto.MetricFamily {
	b.t.Helper()
	p := expfmt.NewTextParser(prommodel.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(b.get("/metrics")))
	if err != nil {
		b.t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

func findRow(s *admin.BreakerStatus, backend string, fleet bool, region string) *admin.BreakerRow {
	for i, r := range s.Rows {
		if r.Backend == backend && r.Fleet == fleet && (fleet || r.Region == region) {
			return &s.Rows[i]
		}
	}
	return nil
}

// checkMetricsMatch: every series agrees with the table read just before, and there is
// no series the table has no row for.
func checkMetricsMatch(t *testing.T, s *admin.BreakerStatus, fams map[string]*dto.MetricFamily) {
	t.Helper()
	want := map[string]int{}
	for _, r := range s.Rows {
		if !r.Fleet {
			want[admin.MetricBreakerRequests]++
			want[admin.MetricBreakerErrors]++
			rl := map[string]string{"backend": r.Backend, "region": r.Region}
			if got := adstest.MetricValue(fams, admin.MetricBreakerRequests, rl); got != float64(r.RequestsTotal) {
				t.Errorf("%s%v = %v; the table says %d", admin.MetricBreakerRequests, rl, got, r.RequestsTotal)
			}
			if got := adstest.MetricValue(fams, admin.MetricBreakerErrors, rl); got != float64(r.ErrorsTotal) {
				t.Errorf("%s%v = %v; the table says %d", admin.MetricBreakerErrors, rl, got, r.ErrorsTotal)
			}
		}
		if r.Fleet != (r.Rule.Scope == "fleet") {
			continue
		}
		want[admin.MetricBreakerOpen]++
		want[admin.MetricBreakerTrips]++
		sl := map[string]string{"backend": r.Backend, "scope": r.Rule.Scope, "region": r.Region}
		open := 0.0
		if r.State == "open" {
			open = 1
		}
		if got := adstest.MetricValue(fams, admin.MetricBreakerOpen, sl); got != open {
			t.Errorf("%s%v = %v; the table says %s", admin.MetricBreakerOpen, sl, got, r.State)
		}
		if got := adstest.MetricValue(fams, admin.MetricBreakerTrips, sl); got != float64(r.TripsTotal) {
			t.Errorf("%s%v = %v; the table says %d", admin.MetricBreakerTrips, sl, got, r.TripsTotal)
		}
	}
	for _, name := range []string{admin.MetricBreakerRequests, admin.MetricBreakerErrors, admin.MetricBreakerOpen, admin.MetricBreakerTrips} {
		n := 0
		if f := fams[name]; f != nil {
			n = len(f.GetMetric())
		}
		if n != want[name] {
			t.Errorf("%s has %d series; the table has %d rows for it", name, n, want[name])
		}
	}
}

// TestAdminBreaker: /status, / and /metrics show a fleet trip (backend, region, rule,
// counts, open until) while it lasts and not after tripDuration; the metrics match the
// table; a pool whose members are all tripped is called out; a backend that leaves the
// rules leaves no series.
func TestAdminBreaker(t *testing.T) {
	m, err := model.LoadBytes("breaker.yaml", []byte(adminBreakerModel))
	if err != nil {
		t.Fatal(err)
	}
	b := newBreakerAdmin(t, m, rulesOf(t, m))

	if s := b.status(); len(s.Rows) != 0 || len(s.Trips) != 0 || len(s.FailFast) != 0 {
		t.Fatalf("before any report: %+v", s)
	}
	checkMetricsMatch(t, b.status(), b.scrape())

	// Two proxies in two regions see 2 and 1 failures: 3 within 10 s across the fleet.
	b.record("sdc-1", "swedencentral", "sdc", 3, 2)
	b.clk.t = b.clk.t.Add(2 * time.Second)
	b.record("nwe-1", "norwayeast", "sdc", 4, 1)
	b.record("sdc-1", "swedencentral", "nwe", 9, 1)
	tripAt, openUntil := b.clk.t, b.clk.t.Add(30*time.Second)
	b.clk.t = b.clk.t.Add(1500 * time.Millisecond)

	s := b.status()
	fleet := findRow(s, "sdc", true, "")
	if fleet == nil {
		t.Fatalf("no fleet row for sdc: %+v", s.Rows)
	}
	wantRule := admin.BreakerRule{Name: "sdc-breaker", Count: 3, IntervalSeconds: 10, TripDurationSeconds: 30, Scope: "fleet",
		Text: "sdc-breaker: 3 failures within 10s → open 30s (fleet)"}
	wantTrip := admin.BreakerTrip{Backend: "sdc", Scope: "fleet", Rule: "sdc-breaker", Condition: wantRule.Text,
		At: tripAt, OpenUntil: openUntil, Requests: 10, Errors: 3, Proxies: 2}
	if fleet.State != "open" || !fleet.OpenUntil.Equal(openUntil) || fleet.Rule != wantRule || fleet.Trip == nil ||
		!tripEqual(*fleet.Trip, wantTrip) || fleet.RequestsTotal != 10 || fleet.ErrorsTotal != 3 || fleet.TripsTotal != 1 {
		t.Errorf("fleet row %+v (trip %+v); want open until %s by %+v", fleet, fleet.Trip, openUntil, wantTrip)
	}
	for _, region := range []string{"swedencentral", "norwayeast"} {
		r := findRow(s, "sdc", false, region)
		if r == nil || r.State != "open" || r.Proxies != 1 || r.ReportAgeSeconds == nil {
			t.Errorf("sdc row of %s = %+v; want open, 1 proxy, a report age", region, r)
		}
	}
	if r := findRow(s, "sdc", false, "norwayeast"); r != nil && (*r.ReportAgeSeconds != 1.5 || r.RequestsTotal != 5 || r.ErrorsTotal != 1) {
		t.Errorf("sdc row of norwayeast: age %v, totals %d/%d; want 1.5 s, 5 requests, 1 error", *r.ReportAgeSeconds, r.RequestsTotal, r.ErrorsTotal)
	}
	if r := findRow(s, "nwe", true, ""); r == nil || r.State != "closed" || r.Trip != nil || r.Errors != 1 || r.Requests != 10 ||
		r.ErrorPercent != 10 || r.RequestsPerSecond != 1 || r.ErrorsPerSecond != 0.1 {
		t.Errorf("nwe fleet row %+v; want closed, 1 error of 10 requests", r)
	}
	if len(s.Trips) != 1 || !tripEqual(s.Trips[0], wantTrip) {
		t.Errorf("trips %+v; want [%+v]", s.Trips, wantTrip)
	}
	if len(s.FailFast) != 0 {
		t.Errorf("fail fast %+v with nwe closed", s.FailFast)
	}
	checkMetricsMatch(t, s, b.scrape())
	if got := adstest.MetricValue(b.scrape(), admin.MetricBreakerOpen, map[string]string{"backend": "sdc", "scope": "fleet", "region": ""}); got != 1 {
		t.Errorf("%s{sdc} = %v; want 1", admin.MetricBreakerOpen, got)
	}

	page := html.UnescapeString(b.get("/"))
	for _, want := range []string{
		`<tr data-backend="sdc" data-region="fleet"><td>sdc</td><td>fleet</td>`,
		"open until 2026-11-30T03:00:32Z",
		"sdc-breaker: 3 failures within 10s → open 30s (fleet)",
		"3 errors of 10 requests from 2 proxies at 2026-11-30T03:00:02Z",
		`<tr data-backend="nwe" data-region="fleet"><td>nwe</td><td>fleet</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "all members tripped") {
		t.Error("the page says the pool fails fast with nwe closed")
	}

	// The second member trips too: the pool's clients fail fast.
	b.record("sdc-1", "swedencentral", "nwe", 0, 2)
	s = b.status()
	wantFF := admin.PoolFailFast{Pool: "pool", Fleet: true, Message: "pool pool: all members tripped — clients fail fast"}
	if len(s.FailFast) != 1 || s.FailFast[0] != wantFF || len(s.Trips) != 2 || s.Trips[0].Backend != "nwe" {
		t.Errorf("fail fast %+v, trips %+v; want %+v and nwe's trip first", s.FailFast, s.Trips, wantFF)
	}
	if page := html.UnescapeString(b.get("/")); !strings.Contains(page, "<strong>pool pool: all members tripped — clients fail fast</strong>") {
		t.Error("the page does not say that the pool fails fast")
	}
	checkMetricsMatch(t, s, b.scrape())

	// After tripDuration both close by time; the counters keep what they counted.
	b.clk.t = b.clk.t.Add(31 * time.Second)
	s = b.status()
	for _, r := range s.Rows {
		if r.State != "closed" || r.Trip != nil || !r.OpenUntil.IsZero() {
			t.Errorf("row %s/%s after tripDuration: %+v", r.Backend, r.RowRegion(), r)
		}
	}
	if len(s.FailFast) != 0 || len(s.Trips) != 2 {
		t.Errorf("after tripDuration: fail fast %+v, %d trips in the history", s.FailFast, len(s.Trips))
	}
	fams := b.scrape()
	checkMetricsMatch(t, s, fams)
	if got := adstest.MetricValue(fams, admin.MetricBreakerTrips, map[string]string{"backend": "sdc", "scope": "fleet"}); got != 1 {
		t.Errorf("%s{sdc} = %v after the trip closed; want 1", admin.MetricBreakerTrips, got)
	}
	if page := b.get("/"); strings.Contains(page, `<span class="bad">open until`) || !strings.Contains(page, `<span class="ok">closed</span>`) ||
		strings.Contains(page, "all members tripped") {
		t.Error("the page still shows a trip after tripDuration")
	}

	// sdc leaves the rules (the model): its series go with it.
	rules := rulesOf(t, m)
	delete(rules, "sdc")
	if err := b.eng.SetRules(rules); err != nil {
		t.Fatal(err)
	}
	fams = b.scrape()
	checkMetricsMatch(t, b.status(), fams)
	for name, f := range fams {
		for _, mt := range f.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if lp.GetName() == "backend" && lp.GetValue() == "sdc" {
					t.Errorf("%s still has a series for sdc", name)
				}
			}
		}
	}
}

func tripEqual(a, b admin.BreakerTrip) bool {
	return a.Backend == b.Backend && a.Region == b.Region && a.Scope == b.Scope && a.Rule == b.Rule && a.Condition == b.Condition &&
		a.At.Equal(b.At) && a.OpenUntil.Equal(b.OpenUntil) && a.Requests == b.Requests && a.Errors == b.Errors && a.Proxies == b.Proxies
}

// TestAdminBreakerRegionScope: a region-scoped trip opens only its region's row and
// series, and a pool is called out for that region only.
func TestAdminBreakerRegionScope(t *testing.T) {
	m, err := model.LoadBytes("breaker.yaml", []byte(adminBreakerModel))
	if err != nil {
		t.Fatal(err)
	}
	for _, be := range m.Backends {
		if be.CircuitBreaker != nil {
			be.CircuitBreaker.Rules[0].Scope = model.ScopeRegion
		}
	}
	b := newBreakerAdmin(t, m, rulesOf(t, m))
	b.record("sdc-1", "swedencentral", "sdc", 0, 3)
	b.record("sdc-1", "swedencentral", "nwe", 0, 3)
	b.record("nwe-1", "norwayeast", "sdc", 0, 2)
	s := b.status()
	if r := findRow(s, "sdc", true, ""); r != nil {
		t.Errorf("a region rule has a fleet row: %+v", r)
	}
	if r := findRow(s, "sdc", false, "swedencentral"); r == nil || r.State != "open" || r.Trip.Region != "swedencentral" || r.Trip.Scope != "region" || r.TripsTotal != 1 {
		t.Errorf("sdc/swedencentral = %+v; want open by a swedencentral trip", r)
	}
	if r := findRow(s, "sdc", false, "norwayeast"); r == nil || r.State != "closed" || r.Errors != 2 {
		t.Errorf("sdc/norwayeast = %+v; want closed with 2 errors", r)
	}
	want := admin.PoolFailFast{Pool: "pool", Region: "swedencentral",
		Message: "pool pool: all members tripped for the proxies of region swedencentral — clients there fail fast"}
	if len(s.FailFast) != 1 || s.FailFast[0] != want {
		t.Errorf("fail fast %+v; want [%+v]", s.FailFast, want)
	}
	fams := b.scrape()
	checkMetricsMatch(t, s, fams)
	if got := adstest.MetricValue(fams, admin.MetricBreakerOpen, map[string]string{"backend": "sdc", "scope": "region", "region": "swedencentral"}); got != 1 {
		t.Errorf("open{sdc, swedencentral} = %v; want 1", got)
	}
}

// TestAdminBreakerHostileNames: backend and region names are escaped on the page, and
// cannot break the text table's lines.
func TestAdminBreakerHostileNames(t *testing.T) {
	evil := `<script>alert("b")</script>`
	region := `"><img src=x onerror=alert(1)>` + "\n\x1b[2J"
	b := newBreakerAdmin(t, nil, map[string]breaker.Rule{evil: {Name: `<b>rule</b>`, Count: 1, Interval: time.Second, TripDuration: time.Minute, Scope: breaker.ScopeRegion}})
	b.record("n", region, evil, 0, 1)
	page := b.get("/")
	for _, raw := range []string{"<script>", "<img", "<b>rule"} {
		if strings.Contains(page, raw) {
			t.Errorf("the page carries %q unescaped", raw)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;b&#34;)&lt;/script&gt;") || !strings.Contains(page, "&lt;img src=x") {
		t.Errorf("the escaped names are missing from the page")
	}
	var out bytes.Buffer
	if err := b.status().WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "\x1b") || strings.Count(out.String(), "\n") != 6 {
		t.Errorf("the table has a control character or a broken line:\n%s", out.String())
	}
}

// TestAdminNilEngine: a nil engine is no breaker section, not a panic.
func TestAdminNilEngine(t *testing.T) {
	var eng *breaker.Engine
	srv := xds.New(xds.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Translate: translator.Translate})
	a := admin.New(admin.Options{Server: srv, Metrics: admin.NewMetrics(), Breaker: eng})
	if st := a.Status(); st.Breaker != nil {
		t.Errorf("breaker section %+v from a nil engine", st.Breaker)
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "poolpilot_breaker_") {
		t.Errorf("/metrics = %d with breaker series from a nil engine", rec.Code)
	}
}

// manyRows is an engine with n fleet-scoped backends, each reported by nodesPer nodes in
// each of regions: n × (regions + 1) rows.
func manyRows(tb testing.TB, clk *breakerClock, n, regions, nodesPer int) *breaker.Engine {
	tb.Helper()
	eng := breaker.New(breaker.Config{Clock: clk.now})
	rules := map[string]breaker.Rule{}
	for i := range n {
		rules[fmt.Sprintf("b%03d", i)] = breaker.Rule{Name: "r", Count: 1 << 30, Interval: 10 * time.Second, TripDuration: time.Minute, Scope: breaker.ScopeFleet}
	}
	if err := eng.SetRules(rules); err != nil {
		tb.Fatal(err)
	}
	for name := range rules {
		for r := range regions {
			for k := range nodesPer {
				if _, err := eng.Record(breaker.Report{Node: fmt.Sprintf("n%d-%d", r, k), Region: fmt.Sprintf("region-%d", r), Backend: name,
					At: clk.t, Counts: breaker.Counts{Issued: 10, Succeeded: 9, Failed: 1}}); err != nil {
					tb.Fatal(err)
				}
			}
		}
	}
	return eng
}

// TestAdminBreakerHTMLBound: the page shows at most admin.BreakerHTMLRows rows and says
// how many more /status has.
func TestAdminBreakerHTMLBound(t *testing.T) {
	clk := &breakerClock{t: breakerBase}
	eng := manyRows(t, clk, 200, 3, 1) // 800 rows
	srv := xds.New(xds.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Translate: translator.Translate})
	rec := httptest.NewRecorder()
	admin.New(admin.Options{Server: srv, Breaker: eng}).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	page := rec.Body.String()
	if got := strings.Count(page, "<tr data-backend="); got != admin.BreakerHTMLRows {
		t.Errorf("the page has %d breaker rows; want %d", got, admin.BreakerHTMLRows)
	}
	if !strings.Contains(page, "300 more rows in") {
		t.Error("the page does not say how many rows it left out")
	}
}

// BenchmarkBreakerScrape is one scrape of the breaker series alone: 100 backends, each
// reported by 1,000 nodes in 4 regions (500 rows).
func BenchmarkBreakerScrape(b *testing.B) {
	clk := &breakerClock{t: breakerBase}
	eng := manyRows(b, clk, 100, 4, 250)
	reg := prometheus.NewRegistry()
	reg.MustRegister(admin.NewBreakerCollector(eng))
	b.ReportAllocs()
	for b.Loop() {
		fams, err := reg.Gather()
		if err != nil || len(fams) != 4 {
			b.Fatal(len(fams), err)
		}
	}
}

// rulesOf is the fleet breaker's rules of m.
func rulesOf(t testing.TB, m *model.Model) map[string]breaker.Rule {
	t.Helper()
	rules, err := breaker.RulesFromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}
