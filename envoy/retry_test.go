package envoy

import (
	"testing"
	"time"

	previousprioritiesv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
)

func TestRetryPolicy(t *testing.T) {
	rp := RetryPolicy(RetrySpec{
		RetryOn: []string{"gateway-error", "connect-failure", "retriable-status-codes"}, StatusCodes: []uint32{429},
		NumRetries: 3, BaseInterval: time.Second, MaxInterval: 10 * time.Second, PerTryTimeout: 5 * time.Second,
		PreviousPriorities: true, UpdateFrequency: 1, PreviousHosts: true, HostSelectionAttempts: 5,
	})
	if err := Validate(rp); err != nil {
		t.Fatal(err)
	}
	if rp.GetRetryOn() != "gateway-error,connect-failure,retriable-status-codes" {
		t.Errorf("retry_on = %q", rp.GetRetryOn())
	}
	if rp.GetNumRetries().GetValue() != 3 || rp.GetRetriableStatusCodes()[0] != 429 || rp.GetPerTryTimeout().AsDuration() != 5*time.Second {
		t.Errorf("policy = %v", rp)
	}
	if b := rp.GetRetryBackOff(); b.GetBaseInterval().AsDuration() != time.Second || b.GetMaxInterval().AsDuration() != 10*time.Second {
		t.Errorf("back-off = %v", b)
	}
	if rp.GetRetryPriority().GetName() != PreviousPrioritiesName {
		t.Errorf("retry_priority = %v", rp.GetRetryPriority())
	}
	pp := &previousprioritiesv3.PreviousPrioritiesConfig{}
	if err := rp.GetRetryPriority().GetTypedConfig().UnmarshalTo(pp); err != nil || pp.GetUpdateFrequency() != 1 {
		t.Errorf("previous_priorities config = %v, %v", pp, err)
	}
	if rp.GetRetryHostPredicate()[0].GetName() != PreviousHostsName || rp.GetHostSelectionRetryMaxAttempts() != 5 {
		t.Errorf("host predicate = %v", rp.GetRetryHostPredicate())
	}
}

func TestRetryPolicyMinimal(t *testing.T) {
	rp := RetryPolicy(RetrySpec{RetryOn: []string{"unavailable"}, NumRetries: 1})
	if err := Validate(rp); err != nil {
		t.Fatal(err)
	}
	if rp.GetRetryBackOff() != nil || rp.GetRetryPriority() != nil || rp.GetRetryHostPredicate() != nil || rp.GetRateLimitedRetryBackOff() != nil {
		t.Errorf("unasked fields set: %v", rp)
	}
}
