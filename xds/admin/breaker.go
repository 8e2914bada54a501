package admin

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/poolpilot/poolpilot/breaker"
	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/xds"
)

// BreakerView is what the admin endpoints read from the fleet breaker: *breaker.Engine
// implements it. Both calls take the engine's lock briefly and copy.
type BreakerView interface {
	// Stats is one row per backend × reporting region, plus the fleet row of
	// fleet-scoped rules, sorted by backend, fleet row first, then region.
	Stats() []breaker.Row
	// Trips is the last breaker.HistoryLen trips, newest first.
	Trips() []breaker.Trip
}

var _ BreakerView = (*breaker.Engine)(nil)

// breakerOrNil turns a nil *breaker.Engine held in the interface (a server built without
// a breaker handing out its engine) into no breaker, rather than a panic at the first
// /status.
func breakerOrNil(v BreakerView) BreakerView {
	if e, ok := v.(*breaker.Engine); ok && e == nil {
		return nil
	}
	return v
}

// BreakerStatus is /status's breaker section: the rule engine's table, its last trips,
// and the pools every member of which is tripped.
type BreakerStatus struct {
	// Open are the trips in force, one per trip (a fleet trip opens every row of its
	// backend), sorted by backend, fleet before region scope.
	Open  []BreakerTrip `json:"open"`
	Rows  []BreakerRow  `json:"rows"`
	Trips []BreakerTrip `json:"trips"`
	// FailFast lists the pools whose members are all tripped, fleet-wide or for one
	// region's proxies: their clients get no endpoint and fail fast.
	FailFast []PoolFailFast `json:"failFast"`
	// LoadReports count the load reports (LRS) the breaker's counts come from, so a
	// fleet whose reports are ignored or never arrive shows it.
	LoadReports xds.LoadReports `json:"loadReports"`
}

// BreakerRule is a backend's rule as the engine evaluates it.
type BreakerRule struct {
	Name string `json:"name"`
	// Exactly one of Count and Percentage is set.
	Count               int     `json:"count,omitempty"`
	Percentage          int     `json:"percentage,omitempty"`
	IntervalSeconds     float64 `json:"intervalSeconds"`
	TripDurationSeconds float64 `json:"tripDurationSeconds"`
	// Scope is fleet (every region's reports sum, a trip affects every proxy) or region.
	Scope string `json:"scope"`
	// Text is the rule in words, as the table shows it.
	Text string `json:"text"`
}

// BreakerRow is one backend seen from one reporting region (or the whole fleet) over the
// rule's interval.
type BreakerRow struct {
	Backend string `json:"backend"`
	// Region is the reporting proxies' region: "" for proxies without one, and on the
	// fleet row (Fleet set), which is the sum a fleet-scoped rule evaluates.
	Region string      `json:"region"`
	Fleet  bool        `json:"fleet"`
	Rule   BreakerRule `json:"rule"`
	// Over the rule's interval. Errors are the failures that count against the rule.
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	ErrorsPerSecond   float64 `json:"errorsPerSecond"`
	ErrorPercent      float64 `json:"errorPercent"`
	Requests          uint64  `json:"requests"`
	Errors            uint64  `json:"errors"`
	Issued            uint64  `json:"issued"`
	InProgress        uint64  `json:"inProgress"`
	Proxies           int     `json:"proxies"`
	// NewestReport and ReportAgeSeconds are absent before the first report.
	NewestReport     time.Time `json:"newestReport,omitzero"`
	ReportAgeSeconds *float64  `json:"reportAgeSeconds,omitempty"`
	// State is "closed" or "open": open while a trip holds the backend out for this
	// row's proxies, until OpenUntil; Trip is that trip, with the counts that tripped it.
	State     string       `json:"state"`
	OpenUntil time.Time    `json:"openUntil,omitzero"`
	Trip      *BreakerTrip `json:"trip,omitempty"`
	// Running totals since the backend got its current rule; the metrics export them.
	RequestsTotal uint64 `json:"requestsTotal"`
	ErrorsTotal   uint64 `json:"errorsTotal"`
	TripsTotal    uint64 `json:"tripsTotal"`
}

// BreakerTrip is one opening of a backend's breaker.
type BreakerTrip struct {
	Backend string `json:"backend"`
	// Region is the region a region-scoped trip applies to; "" for scope fleet.
	Region    string    `json:"region"`
	Scope     string    `json:"scope"`
	Rule      string    `json:"rule"`
	Condition string    `json:"condition"`
	At        time.Time `json:"at"`
	OpenUntil time.Time `json:"openUntil"`
	// The counts within the interval that tripped it.
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
	Proxies  int    `json:"proxies"`
}

// PoolFailFast is a pool every member of which is tripped, for every proxy (Fleet) or
// for the proxies of Region.
type PoolFailFast struct {
	Pool    string `json:"pool"`
	Fleet   bool   `json:"fleet"`
	Region  string `json:"region,omitempty"`
	Message string `json:"message"`
}

const (
	breakerClosed = "closed"
	breakerOpen   = "open"
)

// breakerStatus reads v once and builds the section; m (may be nil) names the pools.
func breakerStatus(v BreakerView, m *model.Model) *BreakerStatus {
	rows := v.Stats()
	out := &BreakerStatus{Open: []BreakerTrip{}, Rows: make([]BreakerRow, 0, len(rows)), Trips: []BreakerTrip{}, FailFast: []PoolFailFast{}}
	type tripKey struct {
		backend, scope, region string
		until                  time.Time
	}
	inForce := map[tripKey]bool{}
	for _, r := range rows {
		br := BreakerRow{
			Backend: r.Backend, Region: r.Region, Fleet: r.Fleet,
			Rule: BreakerRule{Name: r.RuleName, Count: r.Count, Percentage: r.Percentage,
				IntervalSeconds: r.Interval.Seconds(), TripDurationSeconds: r.TripDuration.Seconds(),
				Scope: string(r.Scope), Text: r.Rule},
			RequestsPerSecond: r.RequestsPerSecond, ErrorsPerSecond: r.FailuresPerSecond, ErrorPercent: r.FailurePercent,
			Requests: r.Requests, Errors: r.Failures, Issued: r.Issued, InProgress: r.InProgress, Proxies: r.Proxies,
			NewestReport: r.NewestReport, State: breakerClosed,
			RequestsTotal: r.TotalRequests, ErrorsTotal: r.TotalFailures, TripsTotal: r.TotalTrips,
		}
		if !r.NewestReport.IsZero() {
			age := r.ReportAge.Seconds()
			br.ReportAgeSeconds = &age
		}
		if r.Open {
			t := tripView(r.Trip)
			br.State, br.OpenUntil, br.Trip = breakerOpen, r.Trip.OpenUntil, &t
			if k := (tripKey{t.Backend, t.Scope, t.Region, t.OpenUntil}); !inForce[k] {
				inForce[k] = true
				out.Open = append(out.Open, t)
			}
		}
		out.Rows = append(out.Rows, br)
	}
	sort.SliceStable(out.Open, func(i, j int) bool {
		a, b := out.Open[i], out.Open[j]
		if a.Backend != b.Backend {
			return a.Backend < b.Backend
		}
		if a.Scope != b.Scope {
			return a.Scope == string(breaker.ScopeFleet)
		}
		return a.Region < b.Region
	})
	for _, t := range v.Trips() {
		out.Trips = append(out.Trips, tripView(t))
	}
	if m != nil {
		out.FailFast = poolsFailFast(m, rows)
	}
	return out
}

func tripView(t breaker.Trip) BreakerTrip {
	return BreakerTrip{Backend: t.Backend, Region: t.Region, Scope: string(t.Scope), Rule: t.Rule,
		Condition: t.Condition, At: t.At, OpenUntil: t.OpenUntil,
		Requests: t.Requests, Errors: t.Failures, Proxies: t.Proxies}
}

// poolsFailFast lists the pools of m whose members are all open: fleet-wide when each is
// open by a fleet trip, else per region for which each is open by a fleet trip or a trip
// of that region. Regions come from the rows' trips, so they are bounded by the engine.
func poolsFailFast(m *model.Model, rows []breaker.Row) []PoolFailFast {
	fleet := map[string]bool{}
	byRegion := map[string]map[string]bool{}
	for _, r := range rows {
		if !r.Open {
			continue
		}
		if r.Trip.Scope == breaker.ScopeFleet {
			fleet[r.Backend] = true
			continue
		}
		if byRegion[r.Trip.Region] == nil {
			byRegion[r.Trip.Region] = map[string]bool{}
		}
		byRegion[r.Trip.Region][r.Backend] = true
	}
	regions := make([]string, 0, len(byRegion))
	for region := range byRegion {
		regions = append(regions, region)
	}
	sort.Strings(regions)
	all := func(p *model.Pool, region map[string]bool) bool {
		for _, mem := range p.Services {
			if mem == nil || !(fleet[mem.Backend] || region[mem.Backend]) {
				return false
			}
		}
		return true
	}
	out := []PoolFailFast{}
	for _, p := range m.Pools {
		if p == nil || len(p.Services) == 0 {
			continue
		}
		if all(p, nil) {
			out = append(out, PoolFailFast{Pool: p.Name, Fleet: true,
				Message: fmt.Sprintf("pool %s: all members tripped — clients fail fast", p.Name)})
			continue
		}
		for _, region := range regions {
			if all(p, byRegion[region]) {
				out = append(out, PoolFailFast{Pool: p.Name, Region: region,
					Message: fmt.Sprintf("pool %s: all members tripped for the proxies of region %s — clients there fail fast", p.Name, regionLabel(region))})
			}
		}
	}
	return out
}

// regionLabel names the region "" for people.
func regionLabel(r string) string {
	if r == "" {
		return "(no region)"
	}
	return r
}

// RowRegion is the row's region column: "fleet" on the fleet row.
func (r BreakerRow) RowRegion() string {
	if r.Fleet {
		return "fleet"
	}
	return regionLabel(r.Region)
}

// StateText is "closed" or "open until <RFC 3339 UTC>".
func (r BreakerRow) StateText() string {
	if r.State != breakerOpen {
		return breakerClosed
	}
	return "open until " + r.OpenUntil.UTC().Format(time.RFC3339)
}

// AgeText is the newest report's age, or "never".
func (r BreakerRow) AgeText() string {
	if r.ReportAgeSeconds == nil {
		return "never"
	}
	return (time.Duration(*r.ReportAgeSeconds * float64(time.Second))).Round(100 * time.Millisecond).String()
}

// TrippedBy is the counts that tripped the row's trip in force, or "". A region's row
// held open by a fleet trip points at the fleet row, which has them.
func (r BreakerRow) TrippedBy() string {
	switch {
	case r.Trip == nil:
		return ""
	case !r.Fleet && r.Trip.Scope == string(breaker.ScopeFleet):
		return "(the fleet trip)"
	}
	return r.Trip.Counts()
}

// Counts says what tripped t, e.g. "4 errors of 9 requests from 2 proxies at 03:50:01Z".
func (t BreakerTrip) Counts() string {
	return fmt.Sprintf("%d errors of %d requests from %d proxies at %s", t.Errors, t.Requests, t.Proxies, t.At.UTC().Format(time.RFC3339))
}

// TripRegion is the trip's region column: "fleet" for a fleet-scoped trip.
func (t BreakerTrip) TripRegion() string {
	if t.Scope == string(breaker.ScopeFleet) {
		return "fleet"
	}
	return regionLabel(t.Region)
}

// WriteTable prints the section as aligned text: the table, the pools that fail fast,
// and the last trips. `poolpilot breaker` prints it.
func (s *BreakerStatus) WriteTable(w io.Writer) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tREGION\tREQ/S\tERR/S\tERR%\tPROXIES\tNEWEST\tSTATE\tRULE\tTRIPPED BY")
	for _, r := range s.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%.1f\t%d\t%s\t%s\t%s\t%s\n", oneLine(r.Backend), oneLine(r.RowRegion()),
			r.RequestsPerSecond, r.ErrorsPerSecond, r.ErrorPercent, r.Proxies, r.AgeText(), r.StateText(), oneLine(r.Rule.Text), r.TrippedBy())
	}
	if len(s.Rows) == 0 {
		fmt.Fprintln(tw, "(no reports yet)")
	}
	_ = tw.Flush()
	for _, f := range s.FailFast {
		fmt.Fprintln(&buf, oneLine(f.Message))
	}
	// Once reports arrive, what became of them: ignored ones are counts the table lacks.
	if n := s.LoadReports; n.Messages > 0 {
		fmt.Fprintf(&buf, "\nLoad reports (LRS): %d handled, %d counts given to the breaker, %d ignored (the log says why)\n",
			n.Messages, n.Reports, n.Ignored)
	}
	fmt.Fprintf(&buf, "\nLast %d trips (newest first):\n", len(s.Trips))
	tw = tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tBACKEND\tREGION\tOPEN UNTIL\tRULE\tCOUNTS")
	for _, t := range s.Trips {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d errors of %d requests from %d proxies\n", t.At.UTC().Format(time.RFC3339), oneLine(t.Backend),
			oneLine(t.TripRegion()), t.OpenUntil.UTC().Format(time.RFC3339), oneLine(t.Condition), t.Errors, t.Requests, t.Proxies)
	}
	_ = tw.Flush()
	// The padding of an empty last column would end lines in spaces.
	lines := strings.SplitAfter(buf.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \n")
	}
	_, err := io.WriteString(w, strings.Join(lines[:len(lines)-1], "\n")+"\n")
	return err
}

// oneLine keeps a name from breaking the table's lines or columns (and from writing
// terminal control sequences): control characters and tabs print as '?'.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
