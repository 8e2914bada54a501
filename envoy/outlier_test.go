package envoy

import (
	"testing"
	"time"
)

func TestOutlierDetectionCopiesTheSpec(t *testing.T) {
	od := OutlierDetection(OutlierSpec{
		Interval: time.Second, BaseEjectionTime: 30 * time.Second, MaxEjectionTime: 30 * time.Second,
		MaxEjectionPercent: 100, AlwaysEjectOneHost: true,
		SplitLocalOrigin: true, ConsecutiveLocalOrigin: &Detector{3, 100}, ConsecutiveGateway: Detector{3, 100},
	})
	if err := Validate(od); err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]uint32{
		"max_ejection_percent":                       {od.GetMaxEjectionPercent().GetValue(), 100},
		"consecutive_gateway_failure":                {od.GetConsecutiveGatewayFailure().GetValue(), 3},
		"enforcing_consecutive_gateway_failure":      {od.GetEnforcingConsecutiveGatewayFailure().GetValue(), 100},
		"consecutive_local_origin_failure":           {od.GetConsecutiveLocalOriginFailure().GetValue(), 3},
		"enforcing_consecutive_local_origin_failure": {od.GetEnforcingConsecutiveLocalOriginFailure().GetValue(), 100},
		"enforcing_consecutive_5xx":                  {od.GetEnforcingConsecutive_5Xx().GetValue(), 0},
		"enforcing_success_rate":                     {od.GetEnforcingSuccessRate().GetValue(), 0},
		"enforcing_local_origin_success_rate":        {od.GetEnforcingLocalOriginSuccessRate().GetValue(), 0},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %d, want %d", name, c[0], c[1])
		}
	}
	// Zeros are written, not left absent: absent means Envoy's default of 100.
	if od.GetEnforcingConsecutive_5Xx() == nil || od.GetEnforcingSuccessRate() == nil {
		t.Error("enforcing_* zeros must be written explicitly")
	}
	if !od.GetSplitExternalLocalOriginErrors() || !od.GetAlwaysEjectOneHost().GetValue() {
		t.Error("split_external_local_origin_errors and always_eject_one_host must be set")
	}
	if od.GetBaseEjectionTime().AsDuration() != 30*time.Second || od.GetMaxEjectionTime().AsDuration() != 30*time.Second {
		t.Errorf("ejection times = %v / %v", od.GetBaseEjectionTime(), od.GetMaxEjectionTime())
	}
	if od.GetEnforcingFailurePercentage() != nil {
		t.Error("failure percentage was not asked for")
	}
}

func TestOutlierDetectionFailurePercentage(t *testing.T) {
	od := OutlierDetection(OutlierSpec{
		Interval: 15 * time.Second, BaseEjectionTime: 30 * time.Second, MaxEjectionTime: 30 * time.Second,
		SplitLocalOrigin:       true,
		ConsecutiveLocalOrigin: &Detector{},
		FailurePercentage:      &FailurePercentage{Threshold: 50, RequestVolume: 3, MinimumHosts: 1, Enforcing: 100, EnforcingLocalOrigin: 100},
	})
	if err := Validate(od); err != nil {
		t.Fatal(err)
	}
	if od.GetEnforcingFailurePercentage().GetValue() != 100 || od.GetFailurePercentageMinimumHosts().GetValue() != 1 ||
		od.GetFailurePercentageRequestVolume().GetValue() != 3 || od.GetFailurePercentageThreshold().GetValue() != 50 ||
		od.GetEnforcingFailurePercentageLocalOrigin().GetValue() != 100 {
		t.Errorf("failure percentage = %v", od)
	}
	if od.GetEnforcingConsecutiveGatewayFailure() == nil || od.GetEnforcingConsecutiveGatewayFailure().GetValue() != 0 ||
		od.GetEnforcingConsecutiveLocalOriginFailure() == nil || od.GetEnforcingConsecutiveLocalOriginFailure().GetValue() != 0 {
		t.Error("consecutive detectors must be written as off")
	}
	if od.GetMaxEjectionPercent().GetValue() != 0 || od.GetAlwaysEjectOneHost() != nil {
		t.Errorf("max_ejection_percent and always_eject_one_host come from the spec only: %v", od)
	}
}
