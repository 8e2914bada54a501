package envoy

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// AggregateName is the aggregate cluster extension's name (gRPC matches on it).
const AggregateName = "envoy.clusters.aggregate"

// Discovery is how a cluster finds its endpoints.
type Discovery int

const (
	// EDS: endpoints come over ADS as a ClusterLoadAssignment named after the cluster.
	// Addresses must be IP literals.
	EDS Discovery = iota
	// StrictDNS: Envoy resolves every endpoint's DNS name itself (inline load assignment).
	StrictDNS
	// LogicalDNS: one DNS name, resolved by the client (the kind gRPC supports).
	LogicalDNS
)

// ClusterSpec is one upstream cluster.
type ClusterSpec struct {
	Name      string
	Discovery Discovery
	// Localities and Overprovisioning are the load assignment inlined for StrictDNS and
	// LogicalDNS (see LoadAssignment); ignored for EDS, whose assignment is a resource.
	Localities       []LocalityGroup
	Overprovisioning uint32
	// LbPolicy is the cluster's lb_policy.
	LbPolicy clusterv3.Cluster_LbPolicy
	// HealthyPanicThreshold is common_lb_config.healthy_panic_threshold in percent, always
	// written (0 too).
	HealthyPanicThreshold float64
	// LocalityWeighted honours locality load_balancing_weight (Envoy ignores it otherwise).
	LocalityWeighted bool
	// Outlier, when set, is the cluster's outlier_detection.
	Outlier *OutlierSpec
	// RetryBudgetPercent > 0 replaces the default circuit breaker of 3 concurrent retries
	// per cluster with a budget relative to the active requests.
	RetryBudgetPercent float64
	RetryBudgetMinimum uint32
	Protocol           ProtocolSpec
	// TLS are the cluster's transport_socket_matches, in order.
	TLS []TLSMatch
	// ConnectTimeout > 0 bounds each TCP (and TLS) connect; Envoy's default is 5 s.
	ConnectTimeout time.Duration
	// V4Preferred resolves DNS names to IPv4 when there is an A record (Envoy's default
	// AUTO asks for IPv6 first).
	V4Preferred bool
	// LRSSelf sets lrs_server {self: {}}: the client reports load on its ADS channel.
	// gRPC clients only; Envoy does not implement it (notimplemented.go).
	LRSSelf bool
}

// Cluster builds a cluster from s.
func Cluster(s ClusterSpec) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:     s.Name,
		LbPolicy: s.LbPolicy,
		CommonLbConfig: &clusterv3.Cluster_CommonLbConfig{
			HealthyPanicThreshold: &typev3.Percent{Value: s.HealthyPanicThreshold},
		},
	}
	for _, m := range s.TLS {
		c.TransportSocketMatches = append(c.TransportSocketMatches,
			TransportSocketMatch(m.Name, m.Match, UpstreamTLS(m.SNI, m.CAFile)))
	}
	if s.Outlier != nil {
		c.OutlierDetection = OutlierDetection(*s.Outlier)
	}
	if s.ConnectTimeout > 0 {
		c.ConnectTimeout = dur(s.ConnectTimeout)
	}
	if s.V4Preferred {
		c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
	}
	switch s.Discovery {
	case EDS:
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		c.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ADS()}
	case StrictDNS:
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		c.LoadAssignment = LoadAssignment(s.Name, s.Localities, s.Overprovisioning)
	case LogicalDNS:
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_LOGICAL_DNS}
		c.LoadAssignment = LoadAssignment(s.Name, s.Localities, s.Overprovisioning)
	}
	if s.LRSSelf {
		c.LrsServer = &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Self{Self: &corev3.SelfConfigSource{}}}
	}
	if s.LocalityWeighted {
		c.CommonLbConfig.LocalityConfigSpecifier = &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig_{
			LocalityWeightedLbConfig: &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig{},
		}
	}
	if s.RetryBudgetPercent > 0 {
		c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
			Priority: corev3.RoutingPriority_DEFAULT,
			RetryBudget: &clusterv3.CircuitBreakers_Thresholds_RetryBudget{
				BudgetPercent:       &typev3.Percent{Value: s.RetryBudgetPercent},
				MinRetryConcurrency: u32(s.RetryBudgetMinimum),
			},
		}}}
	}
	if !s.Protocol.Empty() {
		c.TypedExtensionProtocolOptions = HTTPProtocolOptions(s.Protocol)
	}
	return c
}

// AggregateCluster tries children in order: the first with a healthy host takes the
// traffic, like priorities within one cluster.
func AggregateCluster(name string, lbPolicy clusterv3.Cluster_LbPolicy, children []string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:     name,
		LbPolicy: lbPolicy,
		ClusterDiscoveryType: &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{
			Name:        AggregateName,
			TypedConfig: mustAny(&aggregatev3.ClusterConfig{Clusters: children}),
		}},
	}
}
