package xds

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
)

// TestCheckReferences: what the translator emits for every group is consistent, and each
// kind of dangling name is caught.
func TestCheckReferences(t *testing.T) {
	groups := []translator.Group{
		{Region: "swedencentral", Client: translator.Envoy},
		{Region: "norwayeast", Client: translator.GRPC},
		{Client: translator.Envoy},
	}
	for _, path := range []string{"testdata/two-region.yaml", "../examples/failover/model.yaml", "../translator/testdata/in/dns.yaml"} {
		m, err := model.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range groups {
			res, err := translator.Translate(m, g)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkSnapshot(res); err != nil {
				t.Errorf("%s %s: %v", path, g, err)
			}
		}
	}

	m, err := model.Load("testdata/two-region.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fresh := func(g translator.Group) *translator.Resources {
		t.Helper()
		res, err := translator.Translate(m, g)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Endpoints) == 0 || len(res.Routes) == 0 || len(res.Clusters) == 0 {
			t.Fatalf("%s: want EDS clusters, load assignments and routes, got %d/%d/%d", g, len(res.Clusters), len(res.Endpoints), len(res.Routes))
		}
		return res
	}
	envoyGroup := translator.Group{Region: "swedencentral", Client: translator.Envoy}
	grpcGroup := translator.Group{Region: "swedencentral", Client: translator.GRPC}

	cases := []struct {
		name   string
		group  translator.Group
		break_ func(*translator.Resources)
		want   string
	}{
		{"load assignment missing", envoyGroup, func(r *translator.Resources) { r.Endpoints = nil }, "has no load assignment"},
		{"route config missing (socket listener)", envoyGroup, func(r *translator.Resources) { r.Routes = nil }, "names missing route config"},
		{"route config missing (API listener)", grpcGroup, func(r *translator.Resources) { r.Routes = nil }, "names missing route config"},
		{"route to a missing cluster", envoyGroup, func(r *translator.Resources) {
			rc := proto.Clone(r.Routes[0].(*routev3.RouteConfiguration)).(*routev3.RouteConfiguration)
			rc.VirtualHosts[0].Routes[0].GetRoute().ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: "nope"}
			r.Routes = []types.Resource{rc}
		}, `names missing cluster "nope"`},
		{"aggregate child missing", envoyGroup, func(r *translator.Resources) {
			cfg, _ := anypb.New(&aggregatev3.ClusterConfig{Clusters: []string{"ghost"}})
			r.Clusters = append(r.Clusters, &clusterv3.Cluster{Name: "agg", ClusterDiscoveryType: &clusterv3.Cluster_ClusterType{
				ClusterType: &clusterv3.Cluster_CustomClusterType{Name: "envoy.clusters.aggregate", TypedConfig: cfg}}})
		}, `names missing cluster "ghost"`},
		{"nil resource", envoyGroup, func(r *translator.Resources) { r.Listeners = append(r.Listeners, nil) }, "Listener: resource 1 is nil"},
		{"resource without a name", envoyGroup, func(r *translator.Resources) {
			r.Routes = append(r.Routes, &routev3.RouteConfiguration{})
		}, "RouteConfiguration: resource 1 has no name"},
		{"duplicate name", envoyGroup, func(r *translator.Resources) {
			r.Clusters = append(r.Clusters, proto.Clone(r.Clusters[0]))
		}, "Cluster: duplicate resource name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := fresh(c.group)
			c.break_(res)
			err := checkSnapshot(res)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("checkSnapshot = %v; want an error containing %q", err, c.want)
			}
		})
	}
}
