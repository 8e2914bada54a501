package envoy

import (
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	"google.golang.org/protobuf/proto"
)

func TestClusterEDS(t *testing.T) {
	c := Cluster(ClusterSpec{
		Name: "pool", Discovery: EDS, LocalityWeighted: true, LbPolicy: clusterv3.Cluster_ROUND_ROBIN,
		RetryBudgetPercent: 100, RetryBudgetMinimum: 10,
		TLS:     []TLSMatch{{Name: "tls-a", Match: map[string]string{"backend": "a"}, SNI: "a.example.net", CAFile: "/ca.pem"}},
		Outlier: &OutlierSpec{Interval: time.Second, BaseEjectionTime: 30 * time.Second, MaxEjectionTime: 30 * time.Second, ConsecutiveGateway: Detector{3, 100}},
	})
	if err := Validate(c); err != nil {
		t.Fatal(err)
	}
	if c.GetType() != clusterv3.Cluster_EDS || c.GetEdsClusterConfig().GetEdsConfig().GetAds() == nil {
		t.Errorf("want EDS over ADS, got %v", c)
	}
	if got := c.GetCommonLbConfig().GetHealthyPanicThreshold(); got == nil || got.GetValue() != 0 {
		t.Errorf("healthy_panic_threshold = %v, want an explicit 0", got)
	}
	if c.GetCommonLbConfig().GetLocalityWeightedLbConfig() == nil {
		t.Error("locality_weighted_lb_config missing")
	}
	if b := c.GetCircuitBreakers().GetThresholds()[0].GetRetryBudget(); b.GetBudgetPercent().GetValue() != 100 || b.GetMinRetryConcurrency().GetValue() != 10 {
		t.Errorf("retry budget = %v", b)
	}
	if c.GetLbPolicy() != clusterv3.Cluster_ROUND_ROBIN {
		t.Errorf("lb_policy = %v", c.GetLbPolicy())
	}
	if m := c.GetTransportSocketMatches(); len(m) != 1 || m[0].GetName() != "tls-a" || m[0].GetMatch().GetFields()["backend"].GetStringValue() != "a" {
		t.Errorf("transport_socket_matches = %v", m)
	}
	if c.GetOutlierDetection().GetConsecutiveGatewayFailure().GetValue() != 3 {
		t.Errorf("outlier_detection = %v", c.GetOutlierDetection())
	}
}

func TestClusterStrictDNSInlinesAssignment(t *testing.T) {
	groups := []LocalityGroup{{Region: "r", Weight: 1, Hosts: []Host{{Address: "example.com", Port: 443}}}}
	c := Cluster(ClusterSpec{Name: "pool", Discovery: StrictDNS, Localities: groups, Overprovisioning: 100000,
		LbPolicy: clusterv3.Cluster_RANDOM, HealthyPanicThreshold: 20})
	if err := Validate(c); err != nil {
		t.Fatal(err)
	}
	if c.GetType() != clusterv3.Cluster_STRICT_DNS || !proto.Equal(c.GetLoadAssignment(), LoadAssignment("pool", groups, 100000)) {
		t.Errorf("want STRICT_DNS with the inline assignment, got %v", c)
	}
	if c.GetTypedExtensionProtocolOptions() != nil || c.GetOutlierDetection() != nil {
		t.Error("no protocol options or outlier detection were asked for")
	}
	if c.GetLbPolicy() != clusterv3.Cluster_RANDOM || c.GetCommonLbConfig().GetHealthyPanicThreshold().GetValue() != 20 {
		t.Errorf("lb_policy and healthy_panic_threshold come from the spec: %v", c)
	}
}

func TestAggregateCluster(t *testing.T) {
	c := AggregateCluster("pool", clusterv3.Cluster_ROUND_ROBIN, []string{"a", "b"})
	if err := Validate(c); err != nil {
		t.Fatal(err)
	}
	cfg := &aggregatev3.ClusterConfig{}
	if err := c.GetClusterType().GetTypedConfig().UnmarshalTo(cfg); err != nil {
		t.Fatal(err)
	}
	if c.GetClusterType().GetName() != AggregateName || len(cfg.GetClusters()) != 2 || cfg.GetClusters()[0] != "a" {
		t.Errorf("aggregate = %v", c)
	}
}
