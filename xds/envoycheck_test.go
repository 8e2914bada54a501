package xds

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/poolpilot/poolpilot/translator"
)

// The server validates each distinct encoding once; a resource a gRPC group may carry
// (lrs_server, which Envoy does not implement) must still be refused for an Envoy group,
// even when the gRPC group's equal resource was validated first.
func TestEnvoyGroupsAreCheckedLikeTranslate(t *testing.T) {
	s := New(Options{})
	c := &clusterv3.Cluster{
		Name:                 "pool",
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: &corev3.ConfigSource{
			ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		}},
		LrsServer: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Self{Self: &corev3.SelfConfigSource{}}},
	}
	grpcGroup := translator.Group{Region: "swedencentral", Client: translator.GRPC}
	envoyGroup := translator.Group{Region: "swedencentral", Client: translator.Envoy}

	validate, seen := s.validatorFor(grpcGroup)
	if _, err := encode([]types.Resource{c}, validate, seen); err != nil {
		t.Fatalf("gRPC group: lrs_server is what gRPC clients need for load reports, got %v", err)
	}
	validate, seen = s.validatorFor(envoyGroup)
	_, err := encode([]types.Resource{c}, validate, seen)
	if err == nil || !strings.Contains(err.Error(), "lrs_server") {
		t.Fatalf("Envoy group: want the not-implemented lrs_server refused, got %v", err)
	}
}
