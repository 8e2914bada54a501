package xds

import (
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

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

func TestResourceVersionIgnoresOrder(t *testing.T) {
	m := fixtureModel(8080)
	res, err := fixtureTranslate(m, translator.Group{Region: "swedencentral", Client: translator.Envoy})
	if err != nil {
		t.Fatal(err)
	}
	a, err := resourceVersion(res.Clusters)
	if err != nil {
		t.Fatal(err)
	}
	reversed := append(res.Clusters[:0:0], res.Clusters...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	b, err := resourceVersion(reversed)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || len(a) != versionLen {
		t.Errorf("versions %q and %q for the same clusters in another order", a, b)
	}
	empty, _ := resourceVersion(nil)
	if empty == a {
		t.Errorf("no clusters and some clusters share version %q", a)
	}
}
