package xds

import (
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
)

// BaseGroups are the node groups every Apply of m builds, connected nodes or not: each
// region of m's backends and "" (nodes without a region), for Envoy and for gRPC clients,
// region by region in name order.
func BaseGroups(m *model.Model) []translator.Group { return baseGroups(modelRegions(m)) }

// errorMatcherMinor is the first Envoy 1.x minor release with
// outlier_detection.error_matcher; older Envoys form the legacy group.
const errorMatcherMinor = 36

// GroupOf returns the node group a node belongs to: its node.locality.region, and its
// client kind from user_agent_name ("envoy" is an Envoy proxy; any other name, such as
// "gRPC Go", "grpc-java" or "grpc-node-js", is a proxyless gRPC client). An Envoy that
// reports a build version older than 1.36 is in the legacy group; one that reports none is
// assumed current.
func GroupOf(node *core.Node) translator.Group {
	g := translator.Group{Region: node.GetLocality().GetRegion(), Client: translator.GRPC}
	if strings.EqualFold(node.GetUserAgentName(), "envoy") {
		g.Client = translator.Envoy
		g.LegacyEnvoy = isLegacyEnvoy(node.GetUserAgentBuildVersion().GetVersion())
	}
	return g
}

func isLegacyEnvoy(v *typev3.SemanticVersion) bool {
	if v == nil || (v.GetMajorNumber() == 0 && v.GetMinorNumber() == 0) {
		return false
	}
	return v.GetMajorNumber() < 1 || (v.GetMajorNumber() == 1 && v.GetMinorNumber() < errorMatcherMinor)
}

// nodeHash makes the snapshot cache keep one snapshot per node group, not per node: the
// group the node claims, resolved against the served model's regions, so the cache's
// keys are a bounded set whatever regions clients make up.
type nodeHash struct{ s *Server }

func (h nodeHash) ID(node *core.Node) string {
	g := resolveGroup(claimedGroup(node), h.s.regions())
	k := g.String()
	if _, ok := h.s.keyGroups.Load(k); !ok {
		h.s.keyGroups.Store(k, g)
	}
	return k
}
