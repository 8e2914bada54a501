package translator

import (
	"fmt"
	"time"

	"github.com/poolpilot/poolpilot/envoy"
	"github.com/poolpilot/poolpilot/model"
)

const (
	// hostSelectionAttempts is how often Envoy re-picks a host to avoid one already tried.
	hostSelectionAttempts = 5
	// grpcMaxAttempts is gRPC's cap on attempts (the first plus retries).
	grpcMaxAttempts = 5
)

// envoyRetryOn returns Envoy retry conditions for a retry policy's reasons and statuses.
// Named classes (5xx, gateway-error) also retry resets and connection failures, so they
// are used only when the policy asks for BackendConnectionFailure; otherwise statuses go
// through retriable-status-codes, which match responses only.
func envoyRetryOn(r *model.Retry) (on []string, codes []uint32, err error) {
	var connection, timeout bool
	for _, reason := range r.ErrorReasons {
		switch reason {
		case model.BackendConnectionFailure:
			connection = true // connect-failure, refused-stream, reset (and the 5xx classes)
		case model.Timeout:
			timeout = true // reset: a per-try timeout
		default:
			return nil, nil, unhandledReason("Envoy retry", reason)
		}
	}
	rest := codesOf(r.StatusCodeRanges)
	if connection {
		switch {
		case rest.hasAll(500, 599):
			on = append(on, "5xx")
			rest = rest.without(500, 599)
		case rest.hasAll(502, 504):
			on = append(on, "gateway-error")
			rest = rest.without(502, 504)
		}
		on = append(on, "connect-failure", "refused-stream")
	}
	if connection || timeout {
		// reset covers a connection reset mid-request and a per-try timeout.
		on = append(on, "reset")
	}
	if !rest.empty() {
		on = append(on, "retriable-status-codes")
		for _, c := range rest.sorted() {
			codes = append(codes, uint32(c))
		}
	}
	return on, codes, nil
}

// grpcRetryOn maps a retry policy to gRPC status names: the statuses a gRPC server (or
// gRPC's own HTTP mapping) gives for the same failures. gRPC retries only cancelled,
// deadline-exceeded, internal, resource-exhausted and unavailable.
func grpcRetryOn(r *model.Retry) ([]string, error) {
	codes := codesOf(r.StatusCodeRanges)
	want := map[string]bool{
		"cancelled":          codes.has(499),
		"internal":           codes.has(500),
		"resource-exhausted": codes.has(429),
		"unavailable":        codes.has(502) || codes.has(503) || codes.has(504),
	}
	for _, reason := range r.ErrorReasons {
		switch reason {
		case model.BackendConnectionFailure:
			want["unavailable"] = true
		case model.Timeout:
			want["deadline-exceeded"] = true
		default:
			return nil, unhandledReason("gRPC retry", reason)
		}
	}
	var on []string
	for _, name := range []string{"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"} {
		if want[name] {
			on = append(on, name)
		}
	}
	return on, nil
}

// backOff returns Envoy's base and max back-off for an APIM retry. A fixed APIM interval
// (no delta, no maxInterval) caps the back-off at the interval, so it never grows.
func backOff(r *model.Retry) (base, maxInterval time.Duration) {
	base = r.Interval.Duration
	if base <= 0 {
		return 0, 0
	}
	switch {
	case r.MaxInterval.Set():
		maxInterval = r.MaxInterval.Duration
	case r.Delta.Set():
		maxInterval = 10 * base // Envoy's default
	default:
		maxInterval = base
	}
	return base, max(maxInterval, base)
}

// envoyRetry builds an API's retry policy for Envoy. levelSize is the number of members in
// the target's largest priority level: previous_priorities excludes a level once that
// many attempts have been made, so every member of a level is tried before the next one.
// Retry-After is not honoured: previous_priorities sends the retry to another backend, so
// waiting for the failed one only delays it, past the route timeout for a long value.
func envoyRetry(a *model.API, levelSize int) (*envoy.RetrySpec, []string, error) {
	r := a.Retry
	on, codes, err := envoyRetryOn(r)
	if err != nil {
		return nil, nil, fmt.Errorf("api %q: retry.%w", a.Name, err)
	}
	var warnings []string
	if len(on) == 0 {
		return nil, []string{fmt.Sprintf("api %q: the retry policy names no failure to retry; no retry policy is sent", a.Name)}, nil
	}
	if hasReason(r.ErrorReasons, model.Timeout) && !r.PerTryTimeout.Set() {
		warnings = append(warnings, fmt.Sprintf(
			"api %q: retry on Timeout needs retry.perTryTimeout; without it an attempt runs until the route timeout and is never retried", a.Name))
	}
	base, maxInterval := backOff(r)
	return &envoy.RetrySpec{
		RetryOn:               on,
		StatusCodes:           codes,
		NumRetries:            uint32(r.Count),
		BaseInterval:          base,
		MaxInterval:           maxInterval,
		PerTryTimeout:         r.PerTryTimeout.Duration,
		PreviousPriorities:    true,
		UpdateFrequency:       int32(max(levelSize, 1)),
		PreviousHosts:         true,
		HostSelectionAttempts: hostSelectionAttempts,
	}, warnings, nil
}

// grpcRetry builds an API's retry policy for gRPC clients, which ignore retry_priority,
// host predicates, per_try_timeout and Retry-After: failover comes from ejection.
func grpcRetry(a *model.API) (*envoy.RetrySpec, []string, error) {
	r := a.Retry
	on, err := grpcRetryOn(r)
	if err != nil {
		return nil, nil, fmt.Errorf("api %q: retry.%w", a.Name, err)
	}
	if len(on) == 0 {
		return nil, []string{fmt.Sprintf(
			"api %q: none of the retry policy's failures has a gRPC status gRPC retries on; gRPC clients get no retry policy", a.Name)}, nil
	}
	var warnings []string
	if r.Count+1 > grpcMaxAttempts {
		warnings = append(warnings, fmt.Sprintf(
			"api %q: gRPC clients make at most %d attempts; retry.count %d is capped", a.Name, grpcMaxAttempts, r.Count))
	}
	base, maxInterval := backOff(r)
	return &envoy.RetrySpec{
		RetryOn:      on,
		NumRetries:   uint32(r.Count),
		BaseInterval: base,
		MaxInterval:  maxInterval,
	}, warnings, nil
}
