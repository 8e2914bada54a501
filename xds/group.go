package xds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/poolpilot/poolpilot/translator"
)

// nodeHash makes the snapshot cache keep one snapshot per node group, not per node: the
// group the node claims, resolved against what the served model names, so the cache's
// keys are a bounded set whatever regions clients make up.
type nodeHash struct{ s *Server }

func (h nodeHash) ID(node *corev3.Node) string {
	g := translator.ClaimedGroup(node).Resolve(h.s.known())
	k := g.Key()
	if _, ok := h.s.keyGroups.Load(k); !ok {
		h.s.keyGroups.Store(k, g)
	}
	return k
}
