package envoy

import (
	"strings"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	previousprioritiesv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
)

// Extension names, as Envoy registers them.
const (
	PreviousPrioritiesName = "envoy.retry_priorities.previous_priorities"
	PreviousHostsName      = "envoy.retry_host_predicates.previous_hosts"
)

// RetrySpec is a route retry policy.
type RetrySpec struct {
	// RetryOn are Envoy (or gRPC) retry conditions; joined with "," and no spaces, because
	// grpc-js splits on "," without trimming.
	RetryOn       []string
	StatusCodes   []uint32 // retriable_status_codes, for "retriable-status-codes"
	NumRetries    uint32
	BaseInterval  time.Duration // 0: Envoy's default 25ms
	MaxInterval   time.Duration // 0: Envoy's default 10 × BaseInterval
	PerTryTimeout time.Duration
	// PreviousPriorities sends retries to priorities not yet tried. The tried levels are
	// recomputed every UpdateFrequency attempts (≥ 1).
	PreviousPriorities bool
	UpdateFrequency    int32
	// PreviousHosts avoids hosts already tried, re-picking up to HostSelectionAttempts times.
	PreviousHosts         bool
	HostSelectionAttempts int64
}

// RetryPolicy builds a route retry_policy.
func RetryPolicy(s RetrySpec) *routev3.RetryPolicy {
	rp := &routev3.RetryPolicy{
		RetryOn:              strings.Join(s.RetryOn, ","),
		NumRetries:           u32(s.NumRetries),
		RetriableStatusCodes: s.StatusCodes,
	}
	if s.BaseInterval > 0 {
		rp.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: dur(s.BaseInterval)}
		if s.MaxInterval > 0 {
			rp.RetryBackOff.MaxInterval = dur(s.MaxInterval)
		}
	}
	if s.PerTryTimeout > 0 {
		rp.PerTryTimeout = dur(s.PerTryTimeout)
	}
	if s.PreviousPriorities {
		rp.RetryPriority = &routev3.RetryPolicy_RetryPriority{
			Name: PreviousPrioritiesName,
			ConfigType: &routev3.RetryPolicy_RetryPriority_TypedConfig{TypedConfig: mustAny(
				&previousprioritiesv3.PreviousPrioritiesConfig{UpdateFrequency: s.UpdateFrequency})},
		}
	}
	if s.PreviousHosts {
		rp.RetryHostPredicate = []*routev3.RetryPolicy_RetryHostPredicate{{
			Name: PreviousHostsName,
			ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: mustAny(
				&previoushostsv3.PreviousHostsPredicate{})},
		}}
		rp.HostSelectionRetryMaxAttempts = s.HostSelectionAttempts
	}
	return rp
}
