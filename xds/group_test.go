package xds

import (
	"slices"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/poolpilot/poolpilot/internal/modelgen"
	"github.com/poolpilot/poolpilot/translator"
)

func TestGroupOf(t *testing.T) {
	build := func(major, minor uint32) *core.BuildVersion {
		return &core.BuildVersion{Version: &typev3.SemanticVersion{MajorNumber: major, MinorNumber: minor}}
	}
	cases := []struct {
		name string
		node *core.Node
		want string
	}{
		{"envoy with region", &core.Node{UserAgentName: "envoy", Locality: &core.Locality{Region: "swedencentral"}}, "swedencentral/envoy"},
		{"envoy 1.36 is current", &core.Node{UserAgentName: "envoy", UserAgentVersionType: &core.Node_UserAgentBuildVersion{UserAgentBuildVersion: build(1, 36)}, Locality: &core.Locality{Region: "norwayeast"}}, "norwayeast/envoy"},
		{"envoy 1.35 is legacy", &core.Node{UserAgentName: "envoy", UserAgentVersionType: &core.Node_UserAgentBuildVersion{UserAgentBuildVersion: build(1, 35)}, Locality: &core.Locality{Region: "norwayeast"}}, "norwayeast/envoy-legacy"},
		{"envoy without region", &core.Node{UserAgentName: "envoy"}, "-/envoy"},
		{"grpc-go", &core.Node{UserAgentName: "gRPC Go", Locality: &core.Locality{Region: "swedencentral"}}, "swedencentral/grpc"},
		{"grpc-node", &core.Node{UserAgentName: "grpc-node-js", UserAgentVersionType: &core.Node_UserAgentBuildVersion{UserAgentBuildVersion: build(1, 2)}}, "-/grpc"},
		{"grpc-java", &core.Node{UserAgentName: "grpc-java", Locality: &core.Locality{Region: "r"}}, "r/grpc"},
		{"nil node", nil, "-/grpc"},
	}
	for _, c := range cases {
		if got := GroupOf(c.node).String(); got != c.want {
			t.Errorf("%s: group %q, want %q", c.name, got, c.want)
		}
	}
	if g := GroupOf(&core.Node{UserAgentName: "envoy", UserAgentVersionType: &core.Node_UserAgentBuildVersion{UserAgentBuildVersion: build(1, 30)}}); g != (translator.Group{Client: translator.Envoy, LegacyEnvoy: true}) {
		t.Errorf("legacy envoy without region: %+v", g)
	}
}

func TestVersionIgnoresOrder(t *testing.T) {
	m, err := modelgen.Load(modelgen.Spec{Pools: 3, BackendsPerPool: 2, Regions: 2})
	if err != nil {
		t.Fatal(err)
	}
	res, err := translator.Translate(m, translator.Group{Region: "swedencentral", Client: translator.Envoy})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Clusters) < 2 {
		t.Fatalf("%d clusters; the order cannot matter with fewer than 2", len(res.Clusters))
	}
	version := func(items []types.Resource) string {
		t.Helper()
		enc, err := encode(items, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return enc.version
	}
	a := version(res.Clusters)
	reversed := append(res.Clusters[:0:0], res.Clusters...)
	slices.Reverse(reversed)
	if b := version(reversed); a != b || len(a) != versionLen {
		t.Errorf("versions %q and %q for the same clusters in another order", a, b)
	}
	if empty := version(nil); empty == a {
		t.Errorf("no clusters and some clusters share version %q", a)
	}
}
