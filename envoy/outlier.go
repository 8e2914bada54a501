package envoy

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// OutlierSpec says which of Envoy's (and gRPC's) ejection detectors to run. A zero count
// switches a consecutive detector off: its enforcing_* is written as 0, because Envoy's
// defaults enforce consecutive_5xx and success_rate at 100% and would eject on failures the
// model never asked about.
type OutlierSpec struct {
	// Interval is Envoy's sweep period: failure-percentage windows, and how often an
	// ejected host is checked for its return.
	Interval time.Duration
	// EjectionTime is both base_ejection_time and max_ejection_time, so every ejection lasts
	// the same time instead of growing with the number of ejections.
	EjectionTime time.Duration

	// SplitLocalOrigin counts connection failures, resets and timeouts apart from HTTP
	// statuses (split_external_local_origin_errors).
	SplitLocalOrigin       bool
	ConsecutiveLocalOrigin uint32
	ConsecutiveGateway     uint32
	Consecutive5xx         uint32

	// FailurePercentage, when set, ejects hosts whose failure percentage in an Interval
	// exceeds Threshold (gRPC implements only this and success rate).
	FailurePercentage *FailurePercentage
}

// FailurePercentage configures failure_percentage_* detection.
type FailurePercentage struct {
	Threshold     uint32
	RequestVolume uint32
	MinimumHosts  uint32
	// External enforces it on HTTP statuses (and, without split mode, on everything).
	External bool
	// LocalOrigin enforces it on locally originated failures (split mode only).
	LocalOrigin bool
}

// OutlierDetection builds a cluster's outlier_detection from s.
func OutlierDetection(s OutlierSpec) *clusterv3.OutlierDetection {
	od := &clusterv3.OutlierDetection{
		Interval:         dur(s.Interval),
		BaseEjectionTime: dur(s.EjectionTime),
		MaxEjectionTime:  dur(s.EjectionTime),
		// The default 10% would never eject the only host of a priority in a small pool.
		MaxEjectionPercent: u32(100),
		AlwaysEjectOneHost: wrapperspb.Bool(true),

		SplitExternalLocalOriginErrors: s.SplitLocalOrigin,

		// Off unless asked: Envoy defaults these to 100.
		EnforcingSuccessRate:            u32(0),
		EnforcingLocalOriginSuccessRate: u32(0),
	}
	od.Consecutive_5Xx, od.EnforcingConsecutive_5Xx = detector(s.Consecutive5xx)
	od.ConsecutiveGatewayFailure, od.EnforcingConsecutiveGatewayFailure = detector(s.ConsecutiveGateway)
	if s.SplitLocalOrigin {
		od.ConsecutiveLocalOriginFailure, od.EnforcingConsecutiveLocalOriginFailure = detector(s.ConsecutiveLocalOrigin)
	}
	if fp := s.FailurePercentage; fp != nil {
		od.FailurePercentageThreshold = u32(fp.Threshold)
		od.EnforcingFailurePercentage = u32(0)
		if fp.External {
			od.EnforcingFailurePercentage = u32(100)
		}
		od.FailurePercentageMinimumHosts = u32(fp.MinimumHosts)
		od.FailurePercentageRequestVolume = u32(fp.RequestVolume)
		if fp.LocalOrigin && s.SplitLocalOrigin {
			od.EnforcingFailurePercentageLocalOrigin = u32(100)
		}
	}
	return od
}

// detector returns a consecutive detector's count and enforcement: 100% when count > 0,
// else switched off (enforcing 0; the count is left at Envoy's default).
func detector(count uint32) (*wrapperspb.UInt32Value, *wrapperspb.UInt32Value) {
	if count == 0 {
		return nil, u32(0)
	}
	return u32(count), u32(100)
}
