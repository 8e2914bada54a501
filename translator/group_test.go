package translator

import (
	"fmt"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/poolpilot/poolpilot/model"
)

func TestGroupOf(t *testing.T) {
	build := func(major, minor uint32) *corev3.BuildVersion {
		return &corev3.BuildVersion{Version: &typev3.SemanticVersion{MajorNumber: major, MinorNumber: minor}}
	}
	cases := []struct {
		name string
		node *corev3.Node
		want string
	}{
		{"envoy with region", &corev3.Node{UserAgentName: "envoy", Locality: &corev3.Locality{Region: "swedencentral"}}, "swedencentral/envoy"},
		{"envoy 1.36 is current", &corev3.Node{UserAgentName: "envoy", UserAgentVersionType: &corev3.Node_UserAgentBuildVersion{UserAgentBuildVersion: build(1, 36)}, Locality: &corev3.Locality{Region: "norwayeast"}}, "norwayeast/envoy"},
		{"envoy 1.35 is legacy", &corev3.Node{UserAgentName: "envoy", UserAgentVersionType: &corev3.Node_UserAgentBuildVersion{UserAgentBuildVersion: build(1, 35)}, Locality: &corev3.Locality{Region: "norwayeast"}}, "norwayeast/envoy-legacy"},
		{"envoy without region", &corev3.Node{UserAgentName: "envoy"}, "-/envoy"},
		{"grpc-go", &corev3.Node{UserAgentName: "gRPC Go", Locality: &corev3.Locality{Region: "swedencentral"}}, "swedencentral/grpc"},
		{"grpc-node", &corev3.Node{UserAgentName: "grpc-node-js", UserAgentVersionType: &corev3.Node_UserAgentBuildVersion{UserAgentBuildVersion: build(1, 2)}}, "-/grpc"},
		{"grpc-java", &corev3.Node{UserAgentName: "grpc-java", Locality: &corev3.Locality{Region: "r"}}, "r/grpc"},
		{"nil node", nil, "-/grpc"},
	}
	for _, c := range cases {
		if got := GroupOf(c.node).Key(); got != c.want {
			t.Errorf("%s: group %q, want %q", c.name, got, c.want)
		}
	}
	if g := GroupOf(&corev3.Node{UserAgentName: "envoy", UserAgentVersionType: &corev3.Node_UserAgentBuildVersion{UserAgentBuildVersion: build(1, 30)}}); g != (Group{Client: Envoy, LegacyEnvoy: true}) {
		t.Errorf("legacy envoy without region: %+v", g)
	}
}

// TestClientNamesRoundTrip: every client name selects a group whose key ends in it, and
// the names are the client parts of every group GroupOf can return.
func TestClientNamesRoundTrip(t *testing.T) {
	names := ClientNames()
	if len(names) != len(ClientKinds)+1 {
		t.Fatalf("client names %v", names)
	}
	for _, n := range names {
		g, ok := Group{Region: "r"}.WithClient(n)
		if !ok || g.Key() != "r/"+n || !g.Client.Valid() {
			t.Errorf("%s: group %+v (ok %v), key %q", n, g, ok, g.Key())
		}
	}
	if g, ok := (Group{}).WithClient("grpc-legacy"); ok {
		t.Errorf("grpc-legacy selected %+v", g)
	}
}

// TestValidRegionIsTheModelRule: ValidRegion accepts exactly the regions model.Load
// accepts on a backend, so a node can name every model region and nothing else.
func TestValidRegionIsTheModelRule(t *testing.T) {
	for _, r := range []string{
		"swedencentral", "eu-north_1.a", strings.Repeat("r", model.MaxNameLen),
		strings.Repeat("r", model.MaxNameLen+1), "sweden central", "r/1", "région", "r\n",
	} {
		y := fmt.Sprintf("backends:\n  - name: a\n    url: http://10.0.0.1:80\n    region: %q\n", r)
		_, err := model.LoadBytes("model.yaml", []byte(y), model.WithLookupEnv(func(string) (string, bool) { return "", false }))
		if got, want := ValidRegion(r), err == nil; got != want {
			t.Errorf("region %q: ValidRegion = %v, model.Load error = %v", r, got, err)
		}
	}
}
