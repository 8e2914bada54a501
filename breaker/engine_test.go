package breaker

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poolpilot/poolpilot/model"
)

// base is a whole second, so a report at base+n·s falls at the start of a bucket and
// interval edges are exact.
var base = time.Unix(1_800_000_000, 0).UTC()

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func countRule(count int, interval, trip time.Duration, scope Scope) Rule {
	return Rule{Name: "rule", Count: count, Interval: interval, TripDuration: trip, Scope: scope,
		Match: Match{ConnectionFailure: true, StatusRanges: []model.StatusRange{{Min: 502, Max: 504}}}}
}

func pctRule(pct int, interval, trip time.Duration) Rule {
	return Rule{Name: "pct", Percentage: pct, Interval: interval, TripDuration: trip, Scope: ScopeFleet}
}

// step advances the clock to base+at and records a report, or only checks the state
// when backend is "".
type step struct {
	at       time.Duration
	node     string
	region   string
	backend  string
	ok, fail uint64
	classes  *Failures
	reportAt time.Duration // when the counts were taken, if not at
	span     time.Duration // how long before reportAt the counts began
	wantTrip bool
	wantErr  error
	// wantOpen lists "backend/region" (region "*" for fleet) open after the step;
	// every step checks it.
	wantOpen []string
}

func (s step) report() Report {
	at := base.Add(s.at)
	if s.reportAt != 0 {
		at = base.Add(s.reportAt)
	}
	node := s.node
	if node == "" {
		node = "n1"
	}
	return Report{Node: node, Region: s.region, Backend: s.backend, At: at, Span: s.span, Source: SourceLRS,
		Counts: Counts{Issued: s.ok + s.fail, Succeeded: s.ok, Failed: s.fail, Classes: s.classes}}
}

func openList(st State) []string {
	var out []string
	for _, t := range st.Open {
		r := t.Region
		if t.Scope == ScopeFleet {
			r = "*"
		}
		out = append(out, t.Backend+"/"+r)
	}
	return out
}

func TestEngineRules(t *testing.T) {
	const sdc, nwe = "swedencentral", "norwayeast"
	s := time.Second
	rules := map[string]Rule{
		"count":  countRule(3, 15*s, 30*s, ScopeFleet),
		"region": countRule(3, 15*s, 30*s, ScopeRegion),
		"pct":    pctRule(50, 10*s, 20*s),
		"short":  countRule(2, 15*s, 5*s, ScopeFleet),
		"tiny":   countRule(2, 1*s, 5*s, ScopeFleet),
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"count reached within interval trips", []step{
			{at: 0, backend: "count", fail: 1, region: sdc},
			{at: 1 * s, backend: "count", fail: 1, region: sdc},
			{at: 2 * s, backend: "count", fail: 1, region: sdc, wantTrip: true, wantOpen: []string{"count/*"}},
		}},
		{"one short of count does not trip", []step{
			{at: 0, backend: "count", fail: 2, ok: 100, region: sdc},
			{at: 14 * s, backend: "count", ok: 100, region: sdc, wantOpen: nil},
		}},
		{"failing every other request trips (no consecutive run needed)", []step{
			{at: 0, backend: "count", ok: 1, fail: 1, region: sdc},
			{at: 1 * s, backend: "count", ok: 1, fail: 1, region: sdc},
			{at: 2 * s, backend: "count", ok: 1, fail: 1, region: sdc, wantTrip: true, wantOpen: []string{"count/*"}},
		}},
		{"fleet scope sums proxies and regions none of which trips alone", []step{
			{at: 0, backend: "count", fail: 1, node: "a", region: sdc},
			{at: 1 * s, backend: "count", fail: 1, node: "b", region: sdc},
			{at: 2 * s, backend: "count", fail: 1, node: "c", region: nwe, wantTrip: true, wantOpen: []string{"count/*"}},
		}},
		{"interval edge: a failure counts for exactly interval", []step{
			{at: 0, backend: "count", fail: 1, region: sdc},
			{at: 1 * s, backend: "count", fail: 1, region: sdc},
			{at: 14*s + 999*time.Millisecond, backend: "count", fail: 1, region: sdc, wantTrip: true, wantOpen: []string{"count/*"}},
		}},
		{"interval edge: at interval the first failure no longer counts", []step{
			{at: 0, backend: "count", fail: 1, region: sdc},
			{at: 1 * s, backend: "count", fail: 1, region: sdc},
			{at: 15 * s, backend: "count", fail: 1, region: sdc, wantOpen: nil},
			{at: 15*s + 500*time.Millisecond, backend: "count", fail: 1, region: sdc, wantTrip: true, wantOpen: []string{"count/*"}},
		}},
		{"interval edge: a bucket older than interval is not summed though its slot is unused", []step{
			{at: 0, backend: "count", fail: 1, region: sdc},
			{at: 1 * s, backend: "count", fail: 1, region: sdc},
			{at: 15 * s, reportAt: 14 * s, backend: "count", fail: 1, region: sdc, wantOpen: nil},
		}},
		{"a report taken before the interval neither counts nor displaces newer counts", []step{
			{at: 10 * s, backend: "tiny", fail: 1, region: sdc},
			{at: 10*s + 500*time.Millisecond, reportAt: 8*s + 500*time.Millisecond, backend: "tiny", fail: 1, region: sdc},
			{at: 10*s + 600*time.Millisecond, backend: "tiny", fail: 1, region: sdc, wantTrip: true, wantOpen: []string{"tiny/*"}},
		}},
		{"region scope trips only the region whose reports met the rule", []step{
			{at: 0, backend: "region", fail: 2, region: sdc},
			{at: 1 * s, backend: "region", fail: 2, region: nwe},
			{at: 2 * s, backend: "region", fail: 1, region: sdc, wantTrip: true, wantOpen: []string{"region/" + sdc}},
			{at: 3 * s, backend: "region", fail: 1, region: nwe, wantTrip: true, wantOpen: []string{"region/" + nwe, "region/" + sdc}},
		}},
		{"region scope: reports of a region whose trip is open do not count", []step{
			{at: 0, backend: "region", fail: 3, region: sdc, wantTrip: true, wantOpen: []string{"region/" + sdc}},
			{at: 1 * s, backend: "region", fail: 100, region: sdc, wantOpen: []string{"region/" + sdc}},
		}},
		{"percentage above minimum volume trips", []step{
			{at: 0, backend: "pct", ok: 3, fail: 2, region: sdc},
			{at: 1 * s, backend: "pct", ok: 2, fail: 3, region: nwe, wantTrip: true, wantOpen: []string{"pct/*"}},
		}},
		{"percentage below its threshold does not trip", []step{
			{at: 0, backend: "pct", ok: 11, fail: 9, region: sdc, wantOpen: nil},
		}},
		{"percentage below minimum volume does not trip", []step{
			{at: 0, backend: "pct", fail: 9, region: sdc, wantOpen: nil},
			{at: 1 * s, backend: "pct", fail: 1, region: sdc, wantTrip: true, wantOpen: []string{"pct/*"}},
		}},
		{"trip lasts tripDuration, then closes by time", []step{
			{at: 0, backend: "count", fail: 3, region: sdc, wantTrip: true, wantOpen: []string{"count/*"}},
			{at: 30*s - time.Nanosecond, wantOpen: []string{"count/*"}},
			{at: 30 * s, wantOpen: nil},
		}},
		{"failures reported while open do not re-trip at close; new ones do", []step{
			{at: 0, backend: "short", fail: 2, region: sdc, wantTrip: true, wantOpen: []string{"short/*"}},
			{at: 1 * s, backend: "short", fail: 5, region: sdc, wantOpen: []string{"short/*"}},
			{at: 5 * s, backend: "short", ok: 1, region: sdc, wantOpen: nil},
			{at: 6 * s, backend: "short", fail: 1, region: sdc, wantOpen: nil},
			{at: 7 * s, backend: "short", fail: 1, region: sdc, wantTrip: true, wantOpen: []string{"short/*"}},
			{at: 12 * s, wantOpen: nil},
		}},
		{"the failures that tripped do not count again after close", []step{
			{at: 0, backend: "short", fail: 2, region: sdc, wantTrip: true, wantOpen: []string{"short/*"}},
			{at: 5 * s, backend: "short", fail: 1, region: sdc, wantOpen: nil},
		}},
		{"stale reports do not count", []step{
			{at: 10 * s, reportAt: 7 * s, backend: "count", fail: 3, region: sdc, wantErr: ErrStale, wantOpen: nil},
			{at: 11 * s, reportAt: 9 * s, backend: "count", fail: 3, region: sdc, wantTrip: true, wantOpen: []string{"count/*"}},
		}},
		{"reports spanning more than 2 reporting intervals do not count", []step{
			{at: 10 * s, span: 2*s + 1, backend: "count", fail: 3, region: sdc, wantErr: ErrStale, wantOpen: nil},
			{at: 11 * s, reportAt: 10*s + 500*time.Millisecond, span: 1500 * time.Millisecond, backend: "count", fail: 3, region: sdc, wantTrip: true, wantOpen: []string{"count/*"}},
		}},
		{"reports taken 1s ago over 1.5s are stale", []step{
			{at: 11 * s, reportAt: 10 * s, span: 1500 * time.Millisecond, backend: "count", fail: 3, region: sdc, wantErr: ErrStale, wantOpen: nil},
			{at: 12 * s, span: time.Duration(1<<63 - 1), backend: "count", fail: 3, region: sdc, wantErr: ErrStale, wantOpen: nil},
		}},
		{"reports from the future count now", []step{
			{at: 0, reportAt: time.Hour, backend: "count", fail: 3, region: sdc, wantTrip: true, wantOpen: []string{"count/*"}},
		}},
		{"absurd counts are refused whole", []step{
			{at: 0, backend: "count", fail: ^uint64(0), region: sdc, wantErr: ErrAbsurd, wantOpen: nil},
			{at: 0, backend: "count", fail: DefaultMaxCount + 1, region: sdc, wantErr: ErrAbsurd, wantOpen: nil},
			{at: 0, backend: "count", ok: 2, fail: 2, region: sdc, classes: &Failures{Status: []StatusCount{{Code: 700, N: 2}}}, wantErr: ErrAbsurd, wantOpen: nil},
		}},
		{"unknown backend is ignored", []step{
			{at: 0, backend: "nosuch", fail: 10, region: sdc, wantErr: ErrUnknownBackend, wantOpen: nil},
		}},
		{"exact classes count only what the rule matches", []step{
			{at: 0, backend: "count", fail: 5, region: sdc, classes: &Failures{Status: []StatusCount{{Code: 500, N: 5}}}},
			{at: 1 * s, backend: "count", fail: 2, region: sdc, classes: &Failures{Status: []StatusCount{{Code: 503, N: 1}}, ConnectFailure: 1}},
			{at: 2 * s, backend: "count", fail: 1, region: sdc, classes: &Failures{Timeout: 1}, wantOpen: nil},
			{at: 3 * s, backend: "count", fail: 1, region: sdc, classes: &Failures{Reset: 1}, wantTrip: true, wantOpen: []string{"count/*"}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: base}
			e := New(Config{Clock: clk.now})
			if err := e.SetRules(rules); err != nil {
				t.Fatal(err)
			}
			for i, st := range tc.steps {
				clk.t = base.Add(st.at)
				if st.backend != "" {
					tripped, err := e.Record(st.report())
					if !errors.Is(err, st.wantErr) || (err != nil && st.wantErr == nil) {
						t.Fatalf("step %d: err %v, want %v", i, err, st.wantErr)
					}
					if tripped != st.wantTrip {
						t.Fatalf("step %d: tripped %v, want %v", i, tripped, st.wantTrip)
					}
				}
				if got, want := fmt.Sprint(openList(e.State())), fmt.Sprint(st.wantOpen); got != want {
					t.Fatalf("step %d: open %s, want %s", i, got, want)
				}
			}
		})
	}
}

func TestNoReportsNoTrip(t *testing.T) {
	clk := &fakeClock{t: base}
	e := New(Config{Clock: clk.now})
	if err := e.SetRules(map[string]Rule{"b": countRule(1, time.Second, time.Second, ScopeFleet)}); err != nil {
		t.Fatal(err)
	}
	clk.t = base.Add(time.Hour)
	if st := e.State(); len(st.Open) != 0 || st.Key() != "" || st.Hash() != "" {
		t.Fatalf("state %+v with no reports", st)
	}
	if _, ok := e.NextChange(); ok {
		t.Fatal("NextChange with nothing open")
	}
	for _, r := range e.Stats() {
		t.Fatalf("row %+v with no reports", r)
	}
}

func TestTripCarriesCountsAndOpenUntil(t *testing.T) {
	clk := &fakeClock{t: base}
	e := New(Config{Clock: clk.now})
	if err := e.SetRules(map[string]Rule{"b": countRule(3, 15*time.Second, 30*time.Second, ScopeFleet)}); err != nil {
		t.Fatal(err)
	}
	rec := func(node, region string, ok, fail uint64) {
		t.Helper()
		if _, err := e.Record(Report{Node: node, Region: region, Backend: "b", At: clk.t, Counts: Counts{Issued: ok + fail, Succeeded: ok, Failed: fail, InProgress: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	rec("a", "sdc", 7, 1)
	clk.t = clk.t.Add(time.Second)
	rec("b", "nwe", 0, 2)
	trips := e.Trips()
	if len(trips) != 1 {
		t.Fatalf("trips %+v", trips)
	}
	got := trips[0]
	want := Trip{Backend: "b", Scope: ScopeFleet, Rule: "rule", Condition: "rule: 3 failures within 15s → open 30s (fleet)",
		At: clk.t, OpenUntil: clk.t.Add(30 * time.Second), Requests: 10, Failures: 3, Proxies: 2}
	if got != want {
		t.Fatalf("trip\n got %+v\nwant %+v", got, want)
	}
	if at, ok := e.NextChange(); !ok || !at.Equal(want.OpenUntil) {
		t.Fatalf("NextChange %v %v, want %v", at, ok, want.OpenUntil)
	}
	rows := e.Stats()
	if len(rows) != 3 || !rows[0].Fleet || rows[1].Region != "nwe" || rows[2].Region != "sdc" {
		t.Fatalf("rows %+v", rows)
	}
	for _, r := range rows {
		if !r.Open || r.Trip != want {
			t.Errorf("row %s/%s not open with the trip: %+v", r.Backend, r.Region, r)
		}
		// The trip started the interval afresh; the counts that tripped it are in Trip.
		if r.Requests != 0 || r.Failures != 0 {
			t.Errorf("row %s: counts %d/%d after the trip, want 0/0", r.Region, r.Requests, r.Failures)
		}
	}
	if rows[0].Proxies != 2 || rows[0].InProgress != 2 || rows[0].ReportAge != 0 {
		t.Errorf("fleet row %+v", rows[0])
	}
}

func TestStatsRates(t *testing.T) {
	clk := &fakeClock{t: base}
	e := New(Config{Clock: clk.now})
	if err := e.SetRules(map[string]Rule{"b": countRule(1000, 10*time.Second, time.Minute, ScopeRegion)}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		clk.t = base.Add(time.Duration(i) * time.Second)
		if _, err := e.Record(Report{Node: "a", Region: "sdc", Backend: "b", At: clk.t, Counts: Counts{Issued: 20, Succeeded: 15, Failed: 5}}); err != nil {
			t.Fatal(err)
		}
	}
	clk.t = clk.t.Add(1500 * time.Millisecond)
	rows := e.Stats()
	if len(rows) != 1 {
		t.Fatalf("region scope has no fleet row: %+v", rows)
	}
	r := rows[0]
	if r.Requests != 100 || r.Failures != 25 || r.Issued != 100 || r.RequestsPerSecond != 10 || r.FailuresPerSecond != 2.5 || r.FailurePercent != 25 ||
		r.Proxies != 1 || r.ReportAge != 1500*time.Millisecond || r.Open {
		t.Fatalf("row %+v", r)
	}
}

func TestStateDeterministic(t *testing.T) {
	build := func(order []string, start time.Time) State {
		clk := &fakeClock{t: start}
		e := New(Config{Clock: clk.now})
		rules := map[string]Rule{}
		for _, b := range order {
			rules[b] = countRule(1, time.Minute, time.Hour, ScopeRegion)
		}
		if err := e.SetRules(rules); err != nil {
			t.Fatal(err)
		}
		for _, b := range order {
			for _, region := range []string{"z", "a", ""} {
				if _, err := e.Record(Report{Node: "n", Region: region, Backend: b, At: clk.t, Counts: Counts{Failed: 1}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		return e.State()
	}
	s1 := build([]string{"c", "a", "b"}, base)
	s2 := build([]string{"b", "c", "a"}, base)
	s3 := build([]string{"a", "b", "c"}, base.Add(time.Minute))
	if !s1.Equal(s2) || s1.Key() != s2.Key() || s1.Hash() != s2.Hash() {
		t.Fatalf("same reports, different state:\n%+v\n%+v", s1, s2)
	}
	if s1.Equal(s3) || s1.Key() != s3.Key() || s1.Hash() != s3.Hash() {
		t.Fatalf("Key must not depend on the trip times, Equal must:\n%q\n%q", s1.Key(), s3.Key())
	}
	if got := fmt.Sprint(openList(s1)); got != "[a/ a/a a/z b/ b/a b/z c/ c/a c/z]" {
		t.Fatalf("order %s", got)
	}
	if !s1.Tripped("a", "") || !s1.Tripped("a", "z") || s1.Tripped("a", "q") || s1.Tripped("d", "a") {
		t.Fatal("Tripped")
	}
}

func TestRegionNamedEmptyIsNotFleet(t *testing.T) {
	clk := &fakeClock{t: base}
	e := New(Config{Clock: clk.now})
	if err := e.SetRules(map[string]Rule{"b": countRule(1, time.Minute, time.Hour, ScopeRegion)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Record(Report{Node: "n", Backend: "b", At: clk.t, Counts: Counts{Failed: 1}}); err != nil {
		t.Fatal(err)
	}
	st := e.State()
	if !st.Tripped("b", "") || st.Tripped("b", "sdc") {
		t.Fatalf("a trip of the nodes without region must not reach other regions: %+v", st)
	}
}

func TestBounds(t *testing.T) {
	clk := &fakeClock{t: base}
	e := New(Config{Clock: clk.now, MaxRegions: 2, MaxNodes: 3})
	if err := e.SetRules(map[string]Rule{"b": countRule(1000, time.Minute, time.Hour, ScopeFleet)}); err != nil {
		t.Fatal(err)
	}
	for i, region := range []string{"r1", "r2", "r3"} {
		_, err := e.Record(Report{Node: "n", Region: region, Backend: "b", At: clk.t, Counts: Counts{Succeeded: 1}})
		if (i < 2) != (err == nil) || (i == 2 && !errors.Is(err, ErrTooManyRegions)) {
			t.Fatalf("region %d: %v", i, err)
		}
	}
	for i := range 10 {
		clk.t = clk.t.Add(time.Millisecond)
		if _, err := e.Record(Report{Node: fmt.Sprint("node", i), Region: "r1", Backend: "b", At: clk.t, Counts: Counts{Succeeded: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	e.mu.Lock()
	n := len(e.backends["b"].regions["r1"].seen)
	e.mu.Unlock()
	if n != 3 {
		t.Fatalf("%d nodes remembered, want at most 3", n)
	}
	for i := range 30 {
		clk.t = clk.t.Add(2 * time.Hour)
		if _, err := e.Record(Report{Node: "n", Region: "r1", Backend: "b", At: clk.t, Counts: Counts{Failed: 1000}}); err != nil {
			t.Fatal(i, err)
		}
	}
	if got := len(e.Trips()); got != HistoryLen {
		t.Fatalf("%d trips kept, want %d", got, HistoryLen)
	}
	if tr := e.Trips(); !tr[0].At.After(tr[1].At) {
		t.Fatal("Trips is not newest first")
	}
}

func TestSaturatingSums(t *testing.T) {
	clk := &fakeClock{t: base}
	e := New(Config{Clock: clk.now, MaxCount: ^uint64(0) - 1})
	if err := e.SetRules(map[string]Rule{"b": pctRule(100, time.Minute, time.Hour)}); err != nil {
		t.Fatal(err)
	}
	half := ^uint64(0) / 2
	for range 3 {
		if _, err := e.Record(Report{Node: "n", Backend: "b", At: clk.t, Counts: Counts{Succeeded: half}}); err != nil {
			t.Fatal(err)
		}
	}
	if rows := e.Stats(); rows[0].Requests != ^uint64(0) {
		t.Fatalf("requests %d, want the saturated maximum", rows[0].Requests)
	}
	if len(e.State().Open) != 0 {
		t.Fatal("successes tripped a percentage rule")
	}
}

func TestSetRules(t *testing.T) {
	clk := &fakeClock{t: base}
	e := New(Config{Clock: clk.now})
	r := countRule(2, time.Minute, time.Hour, ScopeFleet)
	if err := e.SetRules(map[string]Rule{"a": r, "b": r}); err != nil {
		t.Fatal(err)
	}
	rec := func(b string, fail uint64) bool {
		tripped, err := e.Record(Report{Node: "n", Backend: b, At: clk.t, Counts: Counts{Failed: fail}})
		if err != nil {
			t.Fatal(err)
		}
		return tripped
	}
	rec("a", 1)
	if !rec("b", 2) {
		t.Fatal("b did not trip")
	}
	// Unchanged rule keeps a's window; a changed rule of the same scope keeps b's trip.
	r2 := r
	r2.TripDuration = 2 * time.Hour
	if err := e.SetRules(map[string]Rule{"a": r, "b": r2}); err != nil {
		t.Fatal(err)
	}
	if !rec("a", 1) {
		t.Fatal("a's window was lost with an unchanged rule")
	}
	if got := fmt.Sprint(openList(e.State())); got != "[a/* b/*]" {
		t.Fatalf("open %s", got)
	}
	// A scope change drops the trip; a removed backend is forgotten.
	r3 := r
	r3.Scope = ScopeRegion
	if err := e.SetRules(map[string]Rule{"b": r3}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(openList(e.State())); got != "[]" {
		t.Fatalf("open %s", got)
	}
	if _, err := e.Record(Report{Node: "n", Backend: "a", At: clk.t, Counts: Counts{Failed: 1}}); !errors.Is(err, ErrUnknownBackend) {
		t.Fatalf("removed backend: %v", err)
	}
	// An invalid rule changes nothing.
	bad := r
	bad.Percentage = 50
	if err := e.SetRules(map[string]Rule{"a": r, "b": bad}); err == nil {
		t.Fatal("count and percentage accepted")
	}
	if _, err := e.Record(Report{Node: "n", Backend: "a", At: clk.t, Counts: Counts{Failed: 1}}); !errors.Is(err, ErrUnknownBackend) {
		t.Fatalf("invalid SetRules applied: %v", err)
	}
}

func TestAdopt(t *testing.T) {
	clk := &fakeClock{t: base}
	var seen []Trip
	e := New(Config{Clock: clk.now, OnTrip: func(t Trip) { seen = append(seen, t) }})
	if err := e.SetRules(map[string]Rule{"b": countRule(2, time.Minute, time.Hour, ScopeFleet)}); err != nil {
		t.Fatal(err)
	}
	peer := Trip{Backend: "b", Scope: ScopeFleet, Rule: "rule", At: base, OpenUntil: base.Add(time.Minute)}
	for _, bad := range []Trip{
		{Backend: "x", Scope: ScopeFleet, OpenUntil: base.Add(time.Minute)},
		{Backend: "b", Scope: ScopeRegion, Region: "r", OpenUntil: base.Add(time.Minute)},
		{Backend: "b", Scope: ScopeFleet, Region: "r", OpenUntil: base.Add(time.Minute)},
		{Backend: "b", Scope: ScopeFleet, OpenUntil: base},
	} {
		if e.Adopt(bad) {
			t.Fatalf("adopted %+v", bad)
		}
	}
	if !e.Adopt(peer) || e.Adopt(peer) {
		t.Fatal("Adopt: want true once, then false for the same trip")
	}
	st := e.State()
	if len(st.Open) != 1 || !st.Open[0].OpenUntil.Equal(peer.OpenUntil) {
		t.Fatalf("state %+v", st)
	}
	if len(seen) != 1 || seen[0] != peer {
		t.Fatalf("OnTrip saw %+v, want the adopted trip once", seen)
	}
}

// OnTrip is called once per trip, outside the lock (it may read the engine).
func TestOnTrip(t *testing.T) {
	clk := &fakeClock{t: base}
	var e *Engine
	var seen []State
	e = New(Config{Clock: clk.now, OnTrip: func(Trip) { seen = append(seen, e.State()) }})
	if err := e.SetRules(map[string]Rule{"b": countRule(2, time.Minute, time.Hour, ScopeFleet)}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := e.Record(Report{Node: "n", Backend: "b", At: clk.t, Counts: Counts{Failed: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 1 || len(seen[0].Open) != 1 {
		t.Fatalf("OnTrip calls %+v, want one with the trip open", seen)
	}
}

func TestRulesFromModel(t *testing.T) {
	m := &model.Model{Backends: []*model.Backend{
		{Name: "none"},
		{Name: "b", CircuitBreaker: &model.CircuitBreaker{Rules: []*model.BreakerRule{{
			Name: "r", TripDuration: model.Duration{Duration: 30 * time.Second},
			FailureCondition: model.FailureCondition{
				Count: 3, Interval: model.Duration{Duration: 15 * time.Second},
				ErrorReasons:     []model.ErrorReason{model.BackendConnectionFailure},
				StatusCodeRanges: []model.StatusRange{{Min: 502, Max: 504}, {Min: 429, Max: 429}},
			}}}}},
	}}
	m.Backends[1].CircuitBreaker.Rules[0].Scope = model.ScopeRegion
	got, err := RulesFromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	want := Rule{Name: "r", Count: 3, Interval: 15 * time.Second, TripDuration: 30 * time.Second, Scope: ScopeRegion,
		Match: Match{ConnectionFailure: true, StatusRanges: []model.StatusRange{{Min: 429, Max: 429}, {Min: 502, Max: 504}}}}
	if len(got) != 1 || !got["b"].equal(want) {
		t.Fatalf("rules %+v", got)
	}
	m.Backends[1].CircuitBreaker.Rules[0].Scope = ""
	if got, err := RulesFromModel(m); err != nil || got["b"].Scope != ScopeFleet {
		t.Fatalf("no scope: %+v, %v; want the default, fleet", got["b"], err)
	}
}

// TestModelClosedSetsHandled: every scope in model.BreakerScopes and every reason in
// model.ErrorReasons has a case in RulesFromModel, distinct scopes stay distinct and each
// reason matches a failure; a value outside the lists is an error, not a silent default.
func TestModelClosedSetsHandled(t *testing.T) {
	ruleWith := func(sc model.BreakerScope, reasons ...model.ErrorReason) *model.Model {
		return &model.Model{Backends: []*model.Backend{{Name: "b", CircuitBreaker: &model.CircuitBreaker{Rules: []*model.BreakerRule{{
			Name: "r", Scope: sc, TripDuration: model.Duration{Duration: 30 * time.Second},
			FailureCondition: model.FailureCondition{Count: 3, Interval: model.Duration{Duration: 15 * time.Second},
				ErrorReasons: reasons, StatusCodeRanges: []model.StatusRange{{Min: 500, Max: 599}}},
		}}}}}}
	}
	seen := map[Scope]model.BreakerScope{}
	for _, sc := range model.BreakerScopes {
		rules, err := RulesFromModel(ruleWith(sc))
		if err != nil {
			t.Errorf("scope %s: %v", sc, err)
			continue
		}
		got := rules["b"].Scope
		if !got.Valid() || string(got) != string(sc) {
			t.Errorf("scope %s: engine scope %q", sc, got)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("scopes %s and %s both become %q", prev, sc, got)
		}
		seen[got] = sc
	}
	for _, r := range model.ErrorReasons {
		rules, err := RulesFromModel(ruleWith(model.ScopeFleet, r))
		if err != nil {
			t.Errorf("error reason %s: %v", r, err)
		} else if m := rules["b"].Match; !m.ConnectionFailure && !m.Timeout {
			t.Errorf("error reason %s matches no failure", r)
		}
	}
	if _, err := RulesFromModel(ruleWith("zone")); err == nil || !strings.Contains(err.Error(), `scope "zone"`) {
		t.Errorf("unknown scope: %v; want an error naming it", err)
	}
	if _, err := RulesFromModel(ruleWith(model.ScopeFleet, "DNSFailure")); err == nil || !strings.Contains(err.Error(), `"DNSFailure"`) {
		t.Errorf("unknown error reason: %v; want an error naming it", err)
	}
}

func TestWindowWidth(t *testing.T) {
	for _, c := range []struct {
		interval time.Duration
		width    time.Duration
		buckets  int
	}{
		{15 * time.Second, time.Second, 15},
		{time.Hour, time.Minute, 60},
		{500 * time.Millisecond, 500 * time.Millisecond, 1},
		{2500 * time.Millisecond, 1250 * time.Millisecond, 2},
	} {
		w := newWindow(c.interval, 1)
		if w.width != c.width || len(w.buckets) != c.buckets {
			t.Errorf("interval %s: width %s × %d, want %s × %d", c.interval, w.width, len(w.buckets), c.width, c.buckets)
		}
	}
}

// The running totals keep counting past the interval, across a trip and while it is
// open, and the trip count is on the rows that evaluate the rule.
func TestStatsTotals(t *testing.T) {
	clk := &fakeClock{t: base}
	e := New(Config{Clock: clk.now})
	if err := e.SetRules(map[string]Rule{"b": countRule(4, 2*time.Second, 10*time.Second, ScopeFleet)}); err != nil {
		t.Fatal(err)
	}
	rec := func(region string, ok, failed uint64) {
		t.Helper()
		if _, err := e.Record(Report{Node: "n-" + region, Region: region, Backend: "b", At: clk.t, Counts: Counts{Issued: ok + failed, Succeeded: ok, Failed: failed}}); err != nil {
			t.Fatal(err)
		}
	}
	rec("a", 5, 1)
	clk.t = clk.t.Add(5 * time.Second) // the first report leaves the interval
	rec("a", 5, 2)
	rec("z", 0, 2) // trips: 4 failures within 2 s
	rec("z", 1, 3) // while open
	rows := e.Stats()
	if len(rows) != 3 {
		t.Fatalf("rows %+v", rows)
	}
	fleet, a, z := rows[0], rows[1], rows[2]
	if !fleet.Fleet || fleet.TotalRequests != 19 || fleet.TotalFailures != 8 || fleet.TotalTrips != 1 || !fleet.Open {
		t.Fatalf("fleet row %+v", fleet)
	}
	if a.TotalRequests != 13 || a.TotalFailures != 3 || a.TotalTrips != 0 || z.TotalRequests != 6 || z.TotalFailures != 5 || z.TotalTrips != 0 {
		t.Fatalf("region rows %+v\n%+v", a, z)
	}
	if fleet.RuleName != "rule" || fleet.Count != 4 || fleet.Percentage != 0 || fleet.TripDuration != 10*time.Second {
		t.Fatalf("rule fields %+v", fleet)
	}
}

// TestSetRulesStatusRangesChanged: a rule that differs only in its status ranges is a
// changed rule, so its window starts empty: failures counted under the old ranges do
// not add up with those under the new.
func TestSetRulesStatusRangesChanged(t *testing.T) {
	clk := &fakeClock{t: base}
	e := New(Config{Clock: clk.now})
	r := countRule(2, time.Minute, time.Hour, ScopeFleet)
	r.Match.StatusRanges = []model.StatusRange{{Min: 502, Max: 504}}
	if err := e.SetRules(map[string]Rule{"a": r}); err != nil {
		t.Fatal(err)
	}
	rec := func() bool {
		tripped, err := e.Record(Report{Node: "n", Backend: "a", At: clk.t,
			Counts: Counts{Failed: 1, Classes: &Failures{Status: []StatusCount{{Code: 502, N: 1}}}}})
		if err != nil {
			t.Fatal(err)
		}
		return tripped
	}
	if rec() {
		t.Fatal("one failure tripped a count-2 rule")
	}
	r2 := r
	r2.Match.StatusRanges = []model.StatusRange{{Min: 500, Max: 599}}
	if err := e.SetRules(map[string]Rule{"a": r2}); err != nil {
		t.Fatal(err)
	}
	if rec() {
		t.Fatal("a failure counted under the old status ranges added up with one under the new")
	}
	if !rec() {
		t.Fatal("two failures under the new ranges did not trip")
	}
}
