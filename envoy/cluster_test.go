package envoy

import (
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
)

func TestClusterEDS(t *testing.T) {
	c := Cluster(ClusterSpec{
		Name: "pool", Discovery: EDS, LocalityWeighted: true,
		RetryBudgetPercent: 100, RetryBudgetMinimum: 10,
		Outlier: OutlierDetection(OutlierSpec{Interval: time.Second, EjectionTime: 30 * time.Second, ConsecutiveGateway: 3}),
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
}

func TestClusterStrictDNSInlinesAssignment(t *testing.T) {
	la := LoadAssignment("pool", []LocalityGroup{{Region: "r", Weight: 1, Hosts: []Host{{Address: "example.com", Port: 443}}}}, 100000)
	c := Cluster(ClusterSpec{Name: "pool", Discovery: StrictDNS, LoadAssignment: la})
	if err := Validate(c); err != nil {
		t.Fatal(err)
	}
	if c.GetType() != clusterv3.Cluster_STRICT_DNS || c.GetLoadAssignment() != la {
		t.Errorf("want STRICT_DNS with the inline assignment, got %v", c)
	}
	if c.GetTypedExtensionProtocolOptions() != nil {
		t.Error("no protocol options were asked for")
	}
}

func TestAggregateCluster(t *testing.T) {
	c := AggregateCluster("pool", []string{"a", "b"})
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
