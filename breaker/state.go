package breaker

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
	"time"
)

// State is the set of open trips at one moment, sorted by backend, then fleet before
// region scope, then region. Snapshots depend on it through Key.
type State struct {
	Open []OpenTrip
}

// OpenTrip is a backend taken out of rotation until OpenUntil: for every proxy (Scope
// fleet) or for the proxies of Region (Scope region).
type OpenTrip struct {
	Backend   string
	Scope     Scope
	Region    string
	OpenUntil time.Time
}

// State returns the trips open now.
func (e *Engine) State() State {
	now := e.cfg.Clock()
	e.mu.Lock()
	defer e.mu.Unlock()
	var s State
	for name, b := range e.backends {
		b.expire(now)
		for _, t := range b.open {
			s.Open = append(s.Open, OpenTrip{Backend: name, Scope: t.Scope, Region: t.Region, OpenUntil: t.OpenUntil})
		}
	}
	sort.Slice(s.Open, func(i, j int) bool { return s.Open[i].less(s.Open[j]) })
	return s
}

func (a OpenTrip) less(b OpenTrip) bool {
	if a.Backend != b.Backend {
		return a.Backend < b.Backend
	}
	if a.Scope != b.Scope {
		return a.Scope == ScopeFleet
	}
	return a.Region < b.Region
}

// Tripped reports whether backend is out of rotation for the proxies of region.
func (s State) Tripped(backend, region string) bool {
	for _, t := range s.Open {
		if t.Backend == backend && (t.Scope == ScopeFleet || t.Region == region) {
			return true
		}
	}
	return false
}

// Key is the state as snapshots see it: which backends are out for whom, without the
// times, so the same trips give the same key on every replica whenever each opened. It
// is "" when nothing is open.
func (s State) Key() string {
	if len(s.Open) == 0 {
		return ""
	}
	var b strings.Builder
	for _, t := range s.Open {
		b.WriteString(strconv.Quote(t.Backend))
		if t.Scope == ScopeFleet {
			b.WriteString(" fleet\n")
			continue
		}
		b.WriteString(" region ")
		b.WriteString(strconv.Quote(t.Region))
		b.WriteByte('\n')
	}
	return b.String()
}

// Hash is a short content hash of Key, for version strings; "" when nothing is open.
func (s State) Hash() string {
	k := s.Key()
	if k == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:8])
}

// Equal reports whether s and o hold the same trips with the same times.
func (s State) Equal(o State) bool {
	if len(s.Open) != len(o.Open) {
		return false
	}
	for i := range s.Open {
		a, b := s.Open[i], o.Open[i]
		if a.Backend != b.Backend || a.Scope != b.Scope || a.Region != b.Region || !a.OpenUntil.Equal(b.OpenUntil) {
			return false
		}
	}
	return true
}

// Row is one backend seen from one reporting region over its rule's interval, for the
// status page. A fleet-scoped rule also has a row with Fleet set: the sum the rule
// evaluates.
type Row struct {
	Backend string
	Region  string // the reporting region; "" on the fleet row or for nodes without one
	Fleet   bool
	Rule    string // the rule in words
	Scope   Scope
	// Over the rule's interval:
	Interval          time.Duration
	Issued            uint64
	Requests          uint64 // completed: succeeded + failed
	Failures          uint64 // failures that count against the rule
	RequestsPerSecond float64
	FailuresPerSecond float64
	FailurePercent    float64 // Failures / Requests × 100; 0 without requests
	InProgress        uint64
	Proxies           int // nodes that reported within the interval
	// NewestReport is the time of the newest report; zero when none came.
	NewestReport time.Time
	ReportAge    time.Duration
	// Open is set while a trip holds the backend out for this row's proxies.
	Open bool
	Trip Trip // the trip in force, when Open
	// The rule's name and parameters, for tables that show them apart.
	RuleName     string
	Count        int
	Percentage   int
	TripDuration time.Duration
	// Running counts since the backend got its current rule (SetRules with a changed
	// rule starts them again), for monotonic counters: the completed requests and the
	// failures that count against the rule of every accepted report, including those
	// that arrived while the backend was open; and the trips the rule opened for this
	// row (the fleet row of a fleet rule, each region's row of a region rule; 0 on the
	// region rows of a fleet rule).
	TotalRequests uint64
	TotalFailures uint64
	TotalTrips    uint64
}

// Stats returns a row per backend with a rule and reporting region, sorted by backend,
// the fleet row first, then region.
func (e *Engine) Stats() []Row {
	now := e.cfg.Clock()
	e.mu.Lock()
	defer e.mu.Unlock()
	var rows []Row
	for name, b := range e.backends {
		b.expire(now)
		if len(b.regions) == 0 && len(b.open) == 0 {
			continue // no reports: nothing to show
		}
		var fleet totals
		var fleetDone, fleetMatching uint64
		regions := make([]string, 0, len(b.regions))
		for region := range b.regions {
			regions = append(regions, region)
		}
		sort.Strings(regions)
		var per []Row
		for _, region := range regions {
			w := b.regions[region]
			t := w.nodes(w.sum(now), now, b.rule.Interval)
			fleet = fleet.add(t)
			r := b.row(name, region, false, t, now)
			r.TotalRequests, r.TotalFailures = w.total.done, w.total.matching
			fleetDone, fleetMatching = addSat(fleetDone, w.total.done), addSat(fleetMatching, w.total.matching)
			if b.rule.Scope == ScopeRegion {
				r.TotalTrips = b.trips[tripKey{region: region}]
			}
			if tr, ok := b.open[tripKey{fleet: true}]; ok {
				r.Open, r.Trip = true, tr
			} else if tr, ok := b.open[tripKey{region: region}]; ok {
				r.Open, r.Trip = true, tr
			}
			per = append(per, r)
		}
		if b.rule.Scope == ScopeFleet {
			r := b.row(name, "", true, fleet, now)
			r.TotalRequests, r.TotalFailures = fleetDone, fleetMatching
			r.TotalTrips = b.trips[tripKey{fleet: true}]
			if tr, ok := b.open[tripKey{fleet: true}]; ok {
				r.Open, r.Trip = true, tr
			}
			rows = append(rows, r)
		}
		rows = append(rows, per...)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Backend != b.Backend {
			return a.Backend < b.Backend
		}
		if a.Fleet != b.Fleet {
			return a.Fleet
		}
		return a.Region < b.Region
	})
	return rows
}

func (b *backendState) row(name, region string, fleet bool, t totals, now time.Time) Row {
	secs := b.rule.Interval.Seconds()
	r := Row{
		Backend: name, Region: region, Fleet: fleet,
		Rule: b.rule.String(), Scope: b.rule.Scope, Interval: b.rule.Interval,
		RuleName: b.rule.Name, Count: b.rule.Count, Percentage: b.rule.Percentage, TripDuration: b.rule.TripDuration,
		Issued: t.issued, Requests: t.done, Failures: t.matching,
		RequestsPerSecond: float64(t.done) / secs,
		FailuresPerSecond: float64(t.matching) / secs,
		InProgress:        t.inProgress,
		Proxies:           t.proxies,
		NewestReport:      t.newest,
	}
	if t.done > 0 {
		r.FailurePercent = float64(t.matching) * 100 / float64(t.done)
	}
	if !t.newest.IsZero() {
		r.ReportAge = now.Sub(t.newest)
	}
	return r
}
