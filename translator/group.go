// Package translator turns a validated model into the Envoy resources one node group
// receives. Every APIM→Envoy semantic decision lives here; envoy/ only builds protos.
package translator

import "github.com/envoyproxy/go-control-plane/pkg/cache/types"

// ClientKind is the kind of xDS client in a node group.
type ClientKind string

const (
	// Envoy proxies get socket listeners.
	Envoy ClientKind = "envoy"
	// GRPC is a proxyless gRPC client: it gets API listeners named after the APIs.
	GRPC ClientKind = "grpc"
)

// Group is a set of nodes that receive the same snapshot: one region, one client kind.
type Group struct {
	// Region is the nodes' node.locality.region; "" for nodes that report none, which
	// get the model's own priority order.
	Region string
	Client ClientKind
	// LegacyEnvoy is set for Envoy builds older than 1.36, which lack
	// outlier_detection.error_matcher.
	LegacyEnvoy bool
}

// String is the group's key, e.g. "swedencentral/envoy"; also the snapshot cache's node hash.
func (g Group) String() string {
	r := g.Region
	if r == "" {
		r = "-"
	}
	s := r + "/" + string(g.Client)
	if g.LegacyEnvoy {
		s += "-legacy"
	}
	return s
}

// Resources are everything one node group receives, sorted by name within each type.
type Resources struct {
	Clusters  []types.Resource
	Endpoints []types.Resource
	Routes    []types.Resource
	Listeners []types.Resource
	// Warnings are non-fatal translation notes (e.g. a node without a region).
	Warnings []string
	// Members maps each emitted cluster that has endpoints to the backends whose
	// endpoints it holds: the fleet breaker reads load reports by it (a locality's
	// sub_zone is the backend's name).
	Members map[string][]string
}

// Tripped is the set of backends the fleet breaker has taken out of rotation for one
// node group's nodes. Their endpoints are sent with health_status UNHEALTHY.
type Tripped map[string]bool
