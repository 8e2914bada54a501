package translator

import (
	"fmt"
	"strings"
	"time"

	"github.com/poolpilot/poolpilot/envoy"
	"github.com/poolpilot/poolpilot/model"
)

const (
	// ejectionSweep bounds Envoy's outlier interval for count rules. Consecutive detectors
	// eject inline, so the interval only decides how soon after tripDuration an ejected
	// host is checked and returned: 1s keeps the return within a second of tripDuration.
	ejectionSweep = time.Second
	// grpcCountThreshold is the failure percentage a count rule becomes for gRPC clients,
	// which count every non-OK status (application errors too) as a failure: more than
	// half of at least `count` calls in the interval must fail.
	grpcCountThreshold = 50
	// percentageVolume is the minimum calls in an interval before a percentage rule may
	// eject: one failed call of one must not trip a backend.
	percentageVolume = 5
	// maxEjectionPercent lets every host of a cluster be ejected: Envoy's default of 10%
	// never ejects the only host of a priority in a small pool, so a two-backend pool would
	// never fail over.
	maxEjectionPercent = 100
	// alwaysEjectOneHost ejects a host even where max_ejection_percent of the cluster's
	// hosts rounds down to none.
	alwaysEjectOneHost = true
	// enforceOn and enforceOff are enforcing_* percentages. A detector the rule does not
	// ask for is switched off explicitly, because Envoy defaults enforcing_consecutive_5xx
	// and enforcing_success_rate to 100 and would eject on failures the model never named
	// (a 502–504 rule would also eject on five 500s).
	enforceOn  = 100
	enforceOff = 0
)

// outlierBase is the outlier detection every breaker starts from: every ejection lasts
// trip (base = max, so it does not grow with repeated ejections), any host may be
// ejected, success-rate detection is off (APIM has no such rule), and no detector runs
// until the rule switches it on.
func outlierBase(interval, trip time.Duration) envoy.OutlierSpec {
	return envoy.OutlierSpec{
		Interval:                        interval,
		BaseEjectionTime:                trip,
		MaxEjectionTime:                 trip,
		MaxEjectionPercent:              maxEjectionPercent,
		AlwaysEjectOneHost:              alwaysEjectOneHost,
		Consecutive5xx:                  consecutive(0),
		ConsecutiveGateway:              consecutive(0),
		EnforcingSuccessRate:            enforceOff,
		EnforcingLocalOriginSuccessRate: enforceOff,
	}
}

// consecutive is a consecutive_* detector ejecting after count failures, or switched off
// (count 0: Envoy's default count, enforcing 0).
func consecutive(count int) envoy.Detector {
	if count <= 0 {
		return envoy.Detector{Enforcing: enforceOff}
	}
	return envoy.Detector{Count: uint32(count), Enforcing: enforceOn}
}

// enforcing is enforceOn when on, else enforceOff.
func enforcing(on bool) uint32 {
	if on {
		return enforceOn
	}
	return enforceOff
}

// breaker is the circuit breaker of one cluster: one backend's rule, or the merge of a
// pool's members' rules.
type breaker struct {
	count      int // consecutive failures; 0 when the rule is a percentage
	percentage int
	interval   time.Duration
	trip       time.Duration
	codes      codeSet
	connection bool // BackendConnectionFailure
	timeout    bool // Timeout
	retryAfter bool // acceptRetryAfter
}

// breakerOf merges the breaker rules of backends into the strictest rule: any failure
// any rule names counts, the smallest count, percentage and interval, the longest trip.
// It returns nil when no backend has a breaker, and warns when the rules differ or some
// members have none, since Envoy has one outlier detector per cluster.
func breakerOf(what string, backends []*model.Backend) (*breaker, []string, error) {
	var with, without []string
	var rules []*model.BreakerRule
	for _, b := range backends {
		if b.CircuitBreaker == nil || len(b.CircuitBreaker.Rules) == 0 {
			without = append(without, b.Name)
			continue
		}
		with = append(with, b.Name)
		rules = append(rules, b.CircuitBreaker.Rules...)
	}
	if len(rules) == 0 {
		return nil, nil, nil
	}
	br := &breaker{}
	distinct := map[breaker]bool{}
	for _, r := range rules {
		rb, err := ruleBreaker(r)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: circuit breaker rule %q: %w", what, r.Name, err)
		}
		distinct[rb] = true
		br.count = minPositive(br.count, rb.count)
		br.percentage = minPositive(br.percentage, rb.percentage)
		if rb.interval > 0 && (br.interval == 0 || rb.interval < br.interval) {
			br.interval = rb.interval
		}
		br.trip = max(br.trip, rb.trip)
		br.codes = br.codes.union(rb.codes)
		br.connection = br.connection || rb.connection
		br.timeout = br.timeout || rb.timeout
		br.retryAfter = br.retryAfter || rb.retryAfter
	}
	if br.interval == 0 {
		br.interval = 10 * time.Second // Envoy's default
	}
	if br.trip == 0 {
		br.trip = 30 * time.Second // Envoy's default
	}
	var warnings []string
	if len(distinct) > 1 {
		warnings = append(warnings, fmt.Sprintf(
			"%s: members %s have different circuit breaker rules; a cluster has one outlier detector, so the strictest merge applies to all (see docs/translation.md)",
			what, strings.Join(with, ", ")))
	}
	if len(without) > 0 {
		warnings = append(warnings, fmt.Sprintf(
			"%s: members %s have no circuit breaker but share the cluster's outlier detection from %s",
			what, strings.Join(without, ", "), strings.Join(with, ", ")))
	}
	return br, warnings, nil
}

// ruleBreaker is one rule as a breaker, before defaults: comparable, so equal rules are
// recognised whatever the order of their ranges and reasons.
func ruleBreaker(r *model.BreakerRule) (breaker, error) {
	fc := r.FailureCondition
	b := breaker{
		count:      fc.Count,
		percentage: fc.Percentage,
		interval:   fc.Interval.Duration,
		trip:       r.TripDuration.Duration,
		codes:      codesOf(fc.StatusCodeRanges),
		retryAfter: r.AcceptRetryAfter,
	}
	for _, reason := range fc.ErrorReasons {
		switch reason {
		case model.BackendConnectionFailure:
			b.connection = true // local-origin failures: connect failures and resets
		case model.Timeout:
			b.timeout = true // local-origin failures: timeouts
		default:
			return breaker{}, unhandledReason("circuit breaker", reason)
		}
	}
	return b, nil
}

// unhandledReason is the error of a translation that has no case for an error reason:
// a reason added to model.ErrorReasons without its translation (TestErrorReasonsHandled).
func unhandledReason(translation string, r model.ErrorReason) error {
	return fmt.Errorf("errorReasons: %q has no %s translation (the translator handles %s)", r, translation, model.OneOf(handledReasons))
}

// handledReasons are the reasons every translation has a case for; model.ErrorReasons
// must equal it (TestErrorReasonsHandled).
var handledReasons = []model.ErrorReason{model.BackendConnectionFailure, model.Timeout}

func minPositive(a, b int) int {
	switch {
	case b <= 0:
		return a
	case a <= 0:
		return b
	}
	return min(a, b)
}

// envoyOutlier translates br for Envoy. Connection failures, resets and timeouts are
// counted apart from HTTP statuses (split mode), so a rule that names only statuses does
// not eject on connection failures and vice versa. errorStatuses is non-nil when the
// rule's statuses need outlier_detection.error_matcher to be counted exactly.
func envoyOutlier(what string, br *breaker, g Group) (spec envoy.OutlierSpec, errorStatuses []envoy.StatusRange, warnings []string) {
	spec = outlierBase(br.interval, br.trip)
	spec.SplitLocalOrigin = true
	// In split mode the local-origin detector is always written, off unless asked.
	spec.ConsecutiveLocalOrigin = &envoy.Detector{Enforcing: enforceOff}
	localOrigin := br.connection || br.timeout
	fivexx := br.codes.within(500, 599)
	other := br.codes.without(500, 599)
	countRule := br.count > 0 && br.percentage == 0
	// The native detectors count fixed classes: consecutive_gateway_failure 502–504,
	// consecutive_5xx and failure_percentage every 5xx. Any other set needs the
	// error_matcher (Envoy ≥ 1.36), under which only the rule's statuses count.
	gateway := countRule && !fivexx.empty() && fivexx.within(502, 504).len() == fivexx.len()
	exact := other.empty() && (fivexx.empty() || fivexx.only(500, 599) || (gateway && fivexx.only(502, 504)))
	useMatcher := !exact && !g.LegacyEnvoy
	if useMatcher {
		errorStatuses = br.codes.ranges()
	}
	if !exact && g.LegacyEnvoy {
		if !other.empty() {
			warnings = append(warnings, fmt.Sprintf(
				"%s: statuses %s cannot count toward ejection on Envoy older than 1.36 (no outlier_detection.error_matcher); they are ignored", what, describeCodes(other)))
		}
		if !fivexx.empty() {
			counted := "500–599"
			if gateway {
				counted = "502–504"
			}
			warnings = append(warnings, fmt.Sprintf(
				"%s: Envoy older than 1.36 counts %s toward ejection where the rule names %s", what, counted, describeCodes(fivexx)))
		}
	}
	if br.count > 0 {
		if br.interval > ejectionSweep {
			spec.Interval = ejectionSweep
		}
		if localOrigin {
			d := consecutive(br.count)
			spec.ConsecutiveLocalOrigin = &d
		}
		switch {
		case useMatcher:
			// A matched non-5xx is reported as a 500 and an unmatched 5xx as a success, so
			// consecutive_5xx counts exactly the rule's statuses.
			spec.Consecutive5xx = consecutive(br.count)
		case fivexx.empty():
		case gateway:
			spec.ConsecutiveGateway = consecutive(br.count)
		default:
			spec.Consecutive5xx = consecutive(br.count)
		}
	}
	if br.percentage > 0 {
		if br.count > 0 && br.interval > ejectionSweep {
			// One interval per cluster: the percentage window wins, and Envoy checks
			// ejected hosts for their return only at interval ticks.
			warnings = append(warnings, fmt.Sprintf(
				"%s: count and percentage rules share one outlier interval (%s, the percentage window), so an ejection lasts tripDuration plus up to %s, not the 1s sweep of a count rule",
				what, br.interval, br.interval))
		}
		spec.Interval = br.interval // the percentage's window
		spec.FailurePercentage = &envoy.FailurePercentage{
			Threshold:     uint32(br.percentage),
			RequestVolume: percentageVolume,
			MinimumHosts:  1,
			// External failures are the HTTP statuses (split mode); local origin ones the
			// connection failures, resets and timeouts.
			Enforcing:            enforcing(!br.codes.empty()),
			EnforcingLocalOrigin: enforcing(localOrigin),
		}
	}
	return spec, errorStatuses, warnings
}

// grpcOutlier translates br for proxyless gRPC, which implements only success-rate and
// failure-percentage ejection, and counts every non-OK call as a failure.
func grpcOutlier(br *breaker) *envoy.OutlierSpec {
	fp := &envoy.FailurePercentage{MinimumHosts: 1, Enforcing: enforceOn}
	if br.percentage > 0 {
		fp.Threshold = uint32(br.percentage)
		fp.RequestVolume = percentageVolume
	} else {
		fp.Threshold = grpcCountThreshold
		fp.RequestVolume = uint32(br.count)
	}
	spec := outlierBase(br.interval, br.trip) // the interval is gRPC's counting window
	spec.FailurePercentage = fp
	return &spec
}
