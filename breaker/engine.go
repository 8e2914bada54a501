package breaker

import (
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultReportInterval = time.Second
	// DefaultMinRequests is the fewest completed requests within the interval before a
	// percentage rule may trip: one failed request of one must not take a backend out.
	DefaultMinRequests = 10
	// DefaultMaxCount bounds each count of one report: a million requests a second from
	// one proxy to one backend is beyond any real proxy at the default interval.
	DefaultMaxCount   = 1_000_000
	DefaultMaxRegions = 64
	DefaultMaxNodes   = 1024
	// HistoryLen is how many trips Trips keeps.
	HistoryLen = 20
)

// Config configures an Engine. Every field is optional.
type Config struct {
	// Clock defaults to time.Now.
	Clock func() time.Time
	// ReportInterval is how often sources report; reports older than two of these are
	// stale and do not count.
	ReportInterval time.Duration
	// MinRequests is the minimum volume of a percentage rule.
	MinRequests int
	// MaxCount bounds each count of one report; a report beyond it is refused.
	MaxCount uint64
	// MaxRegions bounds the reporting regions kept per backend.
	MaxRegions int
	// MaxNodes bounds the reporting nodes remembered per backend and region.
	MaxNodes int
	// OnTrip, when set, is called after a trip opens (by Record or Adopt), outside the
	// engine's lock: the caller rebuilds the snapshots. A trip that closes by time calls
	// nothing; NextChange says when.
	OnTrip func(Trip)
}

// Engine evaluates every backend's rule over the reports it is given. It is safe for
// concurrent use.
type Engine struct {
	cfg Config

	mu       sync.Mutex
	backends map[string]*backendState
	history  []Trip // oldest first, at most HistoryLen
}

type backendState struct {
	rule    Rule
	regions map[string]*window
	// open holds the trips in force. A fleet-scoped rule has at most one, a
	// region-scoped rule one per region.
	open map[tripKey]Trip
	// trips counts the trips opened under this rule, by key, for monotonic counters.
	trips map[tripKey]uint64
}

// tripKey tells a fleet trip from the trip of the region named "" (nodes that report
// no region).
type tripKey struct {
	fleet  bool
	region string
}

func keyOf(t Trip) tripKey { return tripKey{fleet: t.Scope == ScopeFleet, region: t.Region} }

// Trip is one opening of a backend's breaker.
type Trip struct {
	Backend string
	// Region is the reporting region a region-scoped trip applies to; "" for fleet scope.
	Region string
	Scope  Scope
	// Rule is the rule's name, Condition the rule in words.
	Rule      string
	Condition string
	At        time.Time
	// OpenUntil is absolute so every replica serving the trip closes it at once.
	OpenUntil time.Time
	// The counts within the interval that tripped it.
	Requests uint64
	Failures uint64
	Proxies  int
}

// New returns an engine with no rules.
func New(cfg Config) *Engine {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = DefaultReportInterval
	}
	if cfg.MinRequests <= 0 {
		cfg.MinRequests = DefaultMinRequests
	}
	if cfg.MaxCount == 0 {
		cfg.MaxCount = DefaultMaxCount
	}
	if cfg.MaxRegions <= 0 {
		cfg.MaxRegions = DefaultMaxRegions
	}
	if cfg.MaxNodes <= 0 {
		cfg.MaxNodes = DefaultMaxNodes
	}
	return &Engine{cfg: cfg, backends: map[string]*backendState{}}
}

// SetRules replaces the rules, keyed by backend name. A backend whose rule is unchanged
// keeps its windows and trips; a changed rule starts with empty windows and keeps only
// the trips of the same scope; a backend without a rule is forgotten. Invalid rules
// change nothing.
func (e *Engine) SetRules(rules map[string]Rule) error {
	names := make([]string, 0, len(rules))
	for name := range rules {
		names = append(names, name)
	}
	sort.Strings(names) // the first invalid rule by name is the one reported
	for _, name := range names {
		if err := rules[name].validate(); err != nil {
			return fmt.Errorf("backend %q: %w", name, err)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	next := make(map[string]*backendState, len(rules))
	for _, name := range names {
		r := rules[name]
		r.Match.StatusRanges = slices.Clone(r.Match.StatusRanges) // the caller's slice stays the caller's
		old := e.backends[name]
		if old != nil && old.rule.equal(r) {
			next[name] = old
			continue
		}
		st := &backendState{rule: r, regions: map[string]*window{}, open: map[tripKey]Trip{}, trips: map[tripKey]uint64{}}
		if old != nil && old.rule.Scope == r.Scope {
			for k, t := range old.open {
				st.open[k] = t
			}
		}
		next[name] = st
	}
	e.backends = next
	return nil
}

// Record counts one report and evaluates the backend's rule. It returns why a report
// was ignored (ErrUnknownBackend, ErrAbsurd, ErrStale, ErrTooManyRegions), nil when
// counted, and whether a trip opened.
func (e *Engine) Record(r Report) (tripped bool, err error) {
	if err := r.Counts.check(e.cfg.MaxCount); err != nil {
		return false, err
	}
	trip, tripped, err := e.record(r)
	if tripped && e.cfg.OnTrip != nil {
		e.cfg.OnTrip(trip)
	}
	return tripped, err
}

func (e *Engine) record(r Report) (Trip, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	// The clock is read under the lock so reports are evaluated in time order.
	now := e.cfg.Clock()
	at := r.At
	if at.IsZero() || at.After(now) {
		at = now
	}
	span, limit := max(r.Span, 0), 2*e.cfg.ReportInterval
	if age := now.Sub(at); span > limit || age > limit-span {
		return Trip{}, false, fmt.Errorf("%w: counts from %s to %s ago, more than 2 reporting intervals (%s)", ErrStale, age+min(span, limit), age, limit)
	}
	b := e.backends[r.Backend]
	if b == nil {
		return Trip{}, false, ErrUnknownBackend
	}
	b.expire(now)
	w := b.regions[r.Region]
	if w == nil {
		if len(b.regions) >= e.cfg.MaxRegions {
			return Trip{}, false, fmt.Errorf("%w: backend has %d already", ErrTooManyRegions, len(b.regions))
		}
		w = newWindow(b.rule.Interval, e.cfg.MaxNodes)
		b.regions[r.Region] = w
	}
	w.see(r.Node, at, r.Counts.InProgress, now, b.rule.Interval+2*e.cfg.ReportInterval)
	matching := r.Counts.failures(b.rule.Match)
	w.total.done = addSat(w.total.done, addSat(r.Counts.Succeeded, r.Counts.Failed))
	w.total.matching = addSat(w.total.matching, matching)
	if b.openFor(r.Region) {
		// The backend is out for this region: what arrives now was sent before the trip
		// took effect and must not trip it again the moment it closes.
		return Trip{}, false, nil
	}
	w.add(at, r.Counts, matching, now)
	trip, ok := e.evaluate(r.Backend, b, r.Region, now)
	return trip, ok, nil
}

// evaluate opens a trip when the rule holds for region's scope.
func (e *Engine) evaluate(backend string, b *backendState, region string, now time.Time) (Trip, bool) {
	var t totals
	key := tripKey{fleet: true}
	if b.rule.Scope == ScopeRegion {
		key = tripKey{region: region}
		t = b.regions[region].sum(now)
	} else {
		for _, w := range b.regions {
			t = t.add(w.sum(now))
		}
	}
	if !b.rule.holds(t, e.cfg.MinRequests) {
		return Trip{}, false
	}
	if key.fleet {
		for _, w := range b.regions {
			t = w.nodes(t, now, b.rule.Interval)
		}
	} else {
		t = b.regions[region].nodes(t, now, b.rule.Interval)
	}
	trip := Trip{
		Backend: backend, Region: key.region, Scope: b.rule.Scope,
		Rule: b.rule.Name, Condition: b.rule.String(),
		At: now, OpenUntil: now.Add(b.rule.TripDuration),
		Requests: t.done, Failures: t.matching, Proxies: t.proxies,
	}
	b.open[key] = trip
	b.trips[key]++
	b.clear(key)
	e.remember(trip)
	return trip, true
}

// holds reports whether the rule's failure condition is met by t.
func (r Rule) holds(t totals, minRequests int) bool {
	if r.Count > 0 {
		return t.matching >= uint64(r.Count)
	}
	if t.done < uint64(minRequests) || t.matching == 0 {
		return false
	}
	// matching/done ≥ percentage/100, in 128 bits so no product wraps.
	hi1, lo1 := bits.Mul64(t.matching, 100)
	hi2, lo2 := bits.Mul64(uint64(r.Percentage), t.done)
	return hi1 > hi2 || (hi1 == hi2 && lo1 >= lo2)
}

func (e *Engine) remember(t Trip) {
	if len(e.history) >= HistoryLen {
		copy(e.history, e.history[1:])
		e.history = e.history[:HistoryLen-1]
	}
	e.history = append(e.history, t)
}

// expire closes the trips whose time has come.
func (b *backendState) expire(now time.Time) {
	for k, t := range b.open {
		if !now.Before(t.OpenUntil) {
			delete(b.open, k)
		}
	}
}

// openFor reports whether a trip holds the backend open for region's proxies. Call
// expire first.
func (b *backendState) openFor(region string) bool {
	if _, ok := b.open[tripKey{fleet: true}]; ok {
		return true
	}
	_, ok := b.open[tripKey{region: region}]
	return ok
}

// clear empties the windows a trip of key covers.
func (b *backendState) clear(key tripKey) {
	if !key.fleet {
		if w := b.regions[key.region]; w != nil {
			w.clear()
		}
		return
	}
	for _, w := range b.regions {
		w.clear()
	}
}

// Adopt serves a trip decided elsewhere (another replica) until its OpenUntil. It
// returns false, changing nothing, when the backend has no rule, the scope differs, the
// trip is over, or the engine already holds it open at least as long.
func (e *Engine) Adopt(t Trip) bool {
	if !e.adopt(t) {
		return false
	}
	if e.cfg.OnTrip != nil {
		e.cfg.OnTrip(t)
	}
	return true
}

func (e *Engine) adopt(t Trip) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Clock()
	b := e.backends[t.Backend]
	if b == nil || t.Scope != b.rule.Scope || !now.Before(t.OpenUntil) || (t.Scope == ScopeFleet && t.Region != "") {
		return false
	}
	b.expire(now)
	k := keyOf(t)
	if cur, ok := b.open[k]; ok && !cur.OpenUntil.Before(t.OpenUntil) {
		return false
	}
	b.open[k] = t
	b.trips[k]++
	b.clear(k)
	e.remember(t)
	return true
}

// Trips returns the last HistoryLen trips, newest first.
func (e *Engine) Trips() []Trip {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Trip, len(e.history))
	for i, t := range e.history {
		out[len(out)-1-i] = t
	}
	return out
}

// NextChange is when the next open trip closes by time: the caller rebuilds snapshots
// then. ok is false when nothing is open.
func (e *Engine) NextChange() (at time.Time, ok bool) {
	now := e.cfg.Clock()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range e.backends {
		b.expire(now)
		for _, t := range b.open {
			if !ok || t.OpenUntil.Before(at) {
				at, ok = t.OpenUntil, true
			}
		}
	}
	return at, ok
}
