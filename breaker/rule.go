// Package breaker is the fleet circuit breaker's rule engine: it sums what every proxy
// reports about each backend over the backend's rule interval and trips the backend, as
// APIM words its rule (count or percentage of failures within interval → tripped for
// tripDuration, then closed by time), for the whole fleet or for one reporting region.
//
// The engine is pure: it keeps no goroutine and reads time only from the clock it is
// given, so the same reports at the same times give the same trips. Reports come from
// any source (load reports today, per-attempt access logs later) as Report values.
package breaker

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/poolpilot/poolpilot/model"
)

// Scope says which proxies' reports a rule sums and whom its trip affects.
type Scope string

const (
	// ScopeFleet sums the reports of every region; a trip takes the backend out for
	// every proxy.
	ScopeFleet Scope = "fleet"
	// ScopeRegion evaluates each reporting region on its own; a trip takes the backend
	// out only for the proxies of the region whose reports tripped it.
	ScopeRegion Scope = "region"
)

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return s == ScopeFleet || s == ScopeRegion }

// Rule is one backend's breaker rule as the engine evaluates it. Exactly one of Count
// and Percentage is more than 0; Interval and TripDuration are more than 0.
type Rule struct {
	Name         string
	Count        int
	Percentage   int
	Interval     time.Duration
	TripDuration time.Duration
	Scope        Scope
	// Match says which failures count when a source can tell failures apart
	// (Counts.Classes); a source that cannot (load reports) counts every failure.
	Match Match
}

// Match is the failure condition's errorReasons and statusCodeRanges.
type Match struct {
	ConnectionFailure bool // BackendConnectionFailure: connect failures and resets
	Timeout           bool
	StatusRanges      []model.StatusRange
}

func (m Match) equal(o Match) bool {
	return m.ConnectionFailure == o.ConnectionFailure && m.Timeout == o.Timeout && slices.Equal(m.StatusRanges, o.StatusRanges)
}

func (m Match) code(c int) bool {
	for _, r := range m.StatusRanges {
		if c >= r.Min && c <= r.Max {
			return true
		}
	}
	return false
}

func (r Rule) equal(o Rule) bool {
	return r.Name == o.Name && r.Count == o.Count && r.Percentage == o.Percentage &&
		r.Interval == o.Interval && r.TripDuration == o.TripDuration && r.Scope == o.Scope &&
		r.Match.equal(o.Match)
}

// String is the rule as the status page shows it, e.g. "rule: 3 failures within 15s →
// open 30s (fleet)".
func (r Rule) String() string {
	cond := fmt.Sprintf("%d failures", r.Count)
	if r.Percentage > 0 {
		cond = fmt.Sprintf("%d%% of requests failed", r.Percentage)
	}
	return fmt.Sprintf("%s: %s within %s → open %s (%s)", r.Name, cond, r.Interval, r.TripDuration, r.Scope)
}

func (r Rule) validate() error {
	switch {
	case (r.Count > 0) == (r.Percentage > 0):
		return fmt.Errorf("rule %q: set count or percentage (> 0), not both or neither", r.Name)
	case r.Percentage > 100:
		return fmt.Errorf("rule %q: percentage %d is out of range (1–100)", r.Name, r.Percentage)
	case r.Interval <= 0:
		return fmt.Errorf("rule %q: interval must be more than 0", r.Name)
	case r.TripDuration <= 0:
		return fmt.Errorf("rule %q: tripDuration must be more than 0", r.Name)
	case !r.Scope.Valid():
		return fmt.Errorf("rule %q: scope %q is not fleet or region", r.Name, r.Scope)
	}
	return nil
}

// RulesFromModel returns the rule of every backend of m that has a circuit breaker,
// keyed by backend name. A scope or error reason of the model the engine has no case for
// is an error naming the backend and rule (model.BreakerScopes and model.ErrorReasons
// are the lists; TestModelClosedSetsHandled holds this switch to them).
func RulesFromModel(m *model.Model) (map[string]Rule, error) {
	out := map[string]Rule{}
	if m == nil {
		return out, nil
	}
	for _, b := range m.Backends {
		if b.CircuitBreaker == nil || len(b.CircuitBreaker.Rules) == 0 || b.CircuitBreaker.Rules[0] == nil {
			continue
		}
		r := b.CircuitBreaker.Rules[0] // a loaded model has exactly one (APIM's limit)
		fc := r.FailureCondition
		rule := Rule{
			Name:         r.Name,
			Count:        fc.Count,
			Percentage:   fc.Percentage,
			Interval:     fc.Interval.Duration,
			TripDuration: r.TripDuration.Duration,
		}
		switch r.Scope {
		case "", model.ScopeFleet: // "" is the model's default, fleet
			rule.Scope = ScopeFleet
		case model.ScopeRegion:
			rule.Scope = ScopeRegion
		default:
			return nil, fmt.Errorf("backend %q, rule %q: scope %q has no case in the fleet breaker (want one of model.BreakerScopes)",
				b.Name, r.Name, r.Scope)
		}
		for _, reason := range fc.ErrorReasons {
			switch reason {
			case model.BackendConnectionFailure:
				rule.Match.ConnectionFailure = true
			case model.Timeout:
				rule.Match.Timeout = true
			default:
				return nil, fmt.Errorf("backend %q, rule %q: error reason %q has no case in the fleet breaker (want one of model.ErrorReasons)",
					b.Name, r.Name, reason)
			}
		}
		rule.Match.StatusRanges = append([]model.StatusRange(nil), fc.StatusCodeRanges...)
		sort.Slice(rule.Match.StatusRanges, func(i, j int) bool {
			a, b := rule.Match.StatusRanges[i], rule.Match.StatusRanges[j]
			return a.Min < b.Min || (a.Min == b.Min && a.Max < b.Max)
		})
		out[b.Name] = rule
	}
	return out, nil
}
