package envoy

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// OutlierSpec is a cluster's outlier_detection, field by field; the translator decides
// every value (which detectors run, and how hard they enforce).
type OutlierSpec struct {
	// Interval is Envoy's sweep period: failure-percentage windows, and how often an
	// ejected host is checked for its return.
	Interval         time.Duration
	BaseEjectionTime time.Duration
	MaxEjectionTime  time.Duration
	// MaxEjectionPercent is always written.
	MaxEjectionPercent uint32
	// AlwaysEjectOneHost is written when true.
	AlwaysEjectOneHost bool

	// SplitLocalOrigin is split_external_local_origin_errors.
	SplitLocalOrigin bool
	// Consecutive5xx and ConsecutiveGateway are always written (their enforcing_* at
	// least); ConsecutiveLocalOrigin only when non-nil.
	Consecutive5xx         Detector
	ConsecutiveGateway     Detector
	ConsecutiveLocalOrigin *Detector

	// EnforcingSuccessRate and EnforcingLocalOriginSuccessRate are always written.
	EnforcingSuccessRate            uint32
	EnforcingLocalOriginSuccessRate uint32

	// FailurePercentage, when set, writes the failure_percentage_* fields.
	FailurePercentage *FailurePercentage
}

// Detector is one consecutive_* detector: Count (0: not written, Envoy's default) and
// its enforcing_* percentage (always written).
type Detector struct {
	Count     uint32
	Enforcing uint32
}

// FailurePercentage is the failure_percentage_* fields.
type FailurePercentage struct {
	Threshold     uint32
	RequestVolume uint32
	MinimumHosts  uint32
	// Enforcing is enforcing_failure_percentage, always written.
	Enforcing uint32
	// EnforcingLocalOrigin is enforcing_failure_percentage_local_origin, written when > 0.
	EnforcingLocalOrigin uint32
}

// OutlierDetection builds a cluster's outlier_detection from s.
func OutlierDetection(s OutlierSpec) *clusterv3.OutlierDetection {
	od := &clusterv3.OutlierDetection{
		Interval:           dur(s.Interval),
		BaseEjectionTime:   dur(s.BaseEjectionTime),
		MaxEjectionTime:    dur(s.MaxEjectionTime),
		MaxEjectionPercent: u32(s.MaxEjectionPercent),

		SplitExternalLocalOriginErrors: s.SplitLocalOrigin,

		EnforcingSuccessRate:            u32(s.EnforcingSuccessRate),
		EnforcingLocalOriginSuccessRate: u32(s.EnforcingLocalOriginSuccessRate),
	}
	if s.AlwaysEjectOneHost {
		od.AlwaysEjectOneHost = wrapperspb.Bool(true)
	}
	od.Consecutive_5Xx, od.EnforcingConsecutive_5Xx = detector(s.Consecutive5xx)
	od.ConsecutiveGatewayFailure, od.EnforcingConsecutiveGatewayFailure = detector(s.ConsecutiveGateway)
	if d := s.ConsecutiveLocalOrigin; d != nil {
		od.ConsecutiveLocalOriginFailure, od.EnforcingConsecutiveLocalOriginFailure = detector(*d)
	}
	if fp := s.FailurePercentage; fp != nil {
		od.FailurePercentageThreshold = u32(fp.Threshold)
		od.EnforcingFailurePercentage = u32(fp.Enforcing)
		od.FailurePercentageMinimumHosts = u32(fp.MinimumHosts)
		od.FailurePercentageRequestVolume = u32(fp.RequestVolume)
		if fp.EnforcingLocalOrigin > 0 {
			od.EnforcingFailurePercentageLocalOrigin = u32(fp.EnforcingLocalOrigin)
		}
	}
	return od
}

func detector(d Detector) (count, enforcing *wrapperspb.UInt32Value) {
	if d.Count > 0 {
		count = u32(d.Count)
	}
	return count, u32(d.Enforcing)
}
