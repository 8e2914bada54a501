package translator

import (
	"fmt"
	"sort"

	"github.com/poolpilot/poolpilot/model"
)

// member is a pool member as one node group sees it.
type member struct {
	backend *model.Backend
	// rank is the Envoy priority: 0..N-1 without gaps (Envoy and gRPC reject a gap).
	rank   uint32
	weight uint32
}

// rankMembers orders a pool's members for group g. Lower APIM priority is preferred. With
// preferLocalRegion, members in g's region all join rank 0 and the others keep their model
// order below; a group without a region gets the model's order and a warning.
func rankMembers(m *model.Index, p *model.Pool, g Group) ([]member, []string) {
	var warnings []string
	preferLocal := p.PreferLocalRegion && g.Region != ""
	if p.PreferLocalRegion && g.Region == "" {
		warnings = append(warnings, fmt.Sprintf(
			"pool %q prefers the local region, but this node group reports no region (node.locality.region): it gets the model's priority order", p.Name))
	}
	type keyed struct {
		member
		local    int // 0 local, 1 remote: local members sort first
		priority int
	}
	var ks []keyed
	for _, s := range p.Services {
		b := m.Backend(s.Backend)
		if b == nil {
			continue // Load rejects a dangling reference; nothing to route to
		}
		k := keyed{member: member{backend: b, weight: uint32(max(s.Weight, 1))}, local: 1, priority: s.Priority}
		if preferLocal && b.Region == g.Region {
			k.local, k.priority = 0, 0
		}
		ks = append(ks, k)
	}
	// Stable: members that tie keep their model order.
	sort.SliceStable(ks, func(i, j int) bool {
		if ks[i].local != ks[j].local {
			return ks[i].local < ks[j].local
		}
		return ks[i].priority < ks[j].priority
	})
	out := make([]member, len(ks))
	rank := uint32(0)
	for i, k := range ks {
		if i > 0 && (k.local != ks[i-1].local || k.priority != ks[i-1].priority) {
			rank++
		}
		k.member.rank = rank
		out[i] = k.member
	}
	return out, warnings
}

// PoolOrder is pool p's priority order for node group g: the backend names at each Envoy
// priority, level 0 (tried first) first, each level in model order. It is the order the
// translation sends Envoy nodes; gRPC nodes get the same, except that a pool with
// DNS-named members splits a shared level into consecutive ones (addGRPCTarget).
func PoolOrder(ix *model.Index, p *model.Pool, g Group) [][]string {
	members, _ := rankMembers(ix, p, g)
	out := [][]string{}
	for _, m := range members {
		if int(m.rank) == len(out) {
			out = append(out, nil)
		}
		out[m.rank] = append(out[m.rank], m.backend.Name)
	}
	return out
}
