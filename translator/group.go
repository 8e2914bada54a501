// Package translator turns a validated model into the Envoy resources one node group
// receives. Every APIM→Envoy semantic decision lives here; envoy/ only builds protos.
package translator

import (
	"slices"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/poolpilot/poolpilot/model"
)

// ClientKind is the kind of xDS client in a node group.
type ClientKind string

const (
	// Envoy proxies get socket listeners.
	Envoy ClientKind = "envoy"
	// GRPC is a proxyless gRPC client: it gets API listeners named after the APIs.
	GRPC ClientKind = "grpc"
)

// ClientKinds is every ClientKind, in the order a region's groups are built.
var ClientKinds = []ClientKind{Envoy, GRPC}

// Valid reports whether k is one of ClientKinds.
func (k ClientKind) Valid() bool { return slices.Contains(ClientKinds, k) }

// Group is a set of nodes that receive the same snapshot: one region, one client kind.
type Group struct {
	// Region is the nodes' node.locality.region; "" for nodes that report none, which
	// get the model's own priority order; OtherRegion for every region the model does
	// not name.
	Region string
	Client ClientKind
	// LegacyEnvoy is set for Envoy builds older than 1.36, which lack
	// outlier_detection.error_matcher.
	LegacyEnvoy bool
}

// Key is the group's one name, e.g. "swedencentral/envoy", "-/grpc" (no region) or
// "*/envoy-legacy" (OtherRegion): the snapshot cache's node hash, the metric label, the
// status and admin table entry, and (with "/" as ".") the golden file name.
func (g Group) Key() string {
	r := g.Region
	if r == "" {
		r = "-"
	}
	return r + "/" + g.ClientName()
}

// legacySuffix marks the legacy-Envoy group in its client name.
const legacySuffix = "-legacy"

// ClientName is the client part of the key: the kind, "envoy-legacy" for the legacy group.
func (g Group) ClientName() string {
	if g.LegacyEnvoy {
		return string(g.Client) + legacySuffix
	}
	return string(g.Client)
}

// clients are the client parts a group can have: each of ClientKinds, then the legacy
// Envoy group's.
func clients() []Group {
	out := make([]Group, 0, len(ClientKinds)+1)
	for _, k := range ClientKinds {
		out = append(out, Group{Client: k})
	}
	return append(out, Group{Client: Envoy, LegacyEnvoy: true})
}

// ClientNames are every client part a key can have: each of ClientKinds, then the
// legacy Envoy group's.
func ClientNames() []string {
	cs := clients()
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ClientName()
	}
	return out
}

// WithClient returns g with the client of a ClientName; false for any other name.
func (g Group) WithClient(name string) (Group, bool) {
	for _, c := range clients() {
		if c.ClientName() == name {
			g.Client, g.LegacyEnvoy = c.Client, c.LegacyEnvoy
			return g, true
		}
	}
	return g, false
}

// String is Key, so a Group prints as its key in logs and errors.
func (g Group) String() string { return g.Key() }

// OtherRegion is the region of the node group of every node whose region the served
// model does not name. Such nodes all get the same priority order (no member is local
// to them), so they share one snapshot, and a client inventing regions cannot create
// groups, snapshots, status entries or metric series. "*" is not a valid model region.
const OtherRegion = "*"

// ValidRegion reports whether r can be a model region: the model's own rule for a region
// name (at most model.MaxNameLen of A-Z a-z 0-9 . _ -). A region outside it can never be
// one the model names, so it only ever joins OtherRegion.
func ValidRegion(r string) bool {
	if r == "" || len(r) > model.MaxNameLen {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// errorMatcherMinor is the first Envoy 1.x minor release with
// outlier_detection.error_matcher; older Envoys form the legacy group.
const errorMatcherMinor = 36

// GroupOf returns the node group a node says it belongs to: its node.locality.region, and
// its client kind from user_agent_name ("envoy" is an Envoy proxy; any other name, such as
// "gRPC Go", "grpc-java" or "grpc-node-js", is a proxyless gRPC client). An Envoy that
// reports a build version older than 1.36 is in the legacy group; one that reports none is
// assumed current. The region is the node's own text: see ClaimedGroup.
func GroupOf(node *corev3.Node) Group {
	g := Group{Region: node.GetLocality().GetRegion(), Client: GRPC}
	if strings.EqualFold(node.GetUserAgentName(), "envoy") {
		g.Client = Envoy
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

// ClaimedGroup is the group a node asks for, with its region reduced to what can matter:
// "" (none), a valid region name, or OtherRegion for anything else, so it is safe to keep.
func ClaimedGroup(node *corev3.Node) Group {
	g := GroupOf(node)
	if g.Region != "" && !ValidRegion(g.Region) {
		g.Region = OtherRegion
	}
	return g
}

// Known is what a served model names of each node-group dimension (its regions):
// claimed groups resolve against it, and it lists the groups every apply builds. The xDS
// server keeps one per applied model and never looks inside, so a new dimension changes
// this file, not the server. The zero Known names nothing.
type Known struct{ regions map[string]bool }

// KnownOf is what m names: the regions of its backends.
func KnownOf(m *model.Model) Known { return Known{regions: modelRegions(m)} }

// KnownRegions is the Known of a model whose backends are in regions.
func KnownRegions(regions ...string) Known {
	k := Known{regions: map[string]bool{}}
	for _, r := range regions {
		k.regions[r] = true
	}
	return k
}

// Groups are the node groups every apply of a model with k builds, connected nodes or
// not: "" (nodes without a region) and each region in name order, × ClientKinds.
func (k Known) Groups() []Group { return regionGroups(k.regions) }

// Resolve maps g onto the groups a model with k has: a region the model does not name
// becomes OtherRegion.
func (g Group) Resolve(k Known) Group {
	if g.Region != "" && !k.regions[g.Region] {
		g.Region = OtherRegion
	}
	return g
}

// modelRegions are the regions the model's backends are in.
func modelRegions(m *model.Model) map[string]bool {
	out := map[string]bool{}
	for _, b := range m.Backends {
		if b != nil && b.Region != "" {
			out[b.Region] = true
		}
	}
	return out
}

// BaseGroups are the node groups every apply of m builds, connected nodes or not: each
// region of m's backends and "" (nodes without a region), for every client kind, region
// by region in name order.
func BaseGroups(m *model.Model) []Group { return KnownOf(m).Groups() }

// regionGroups are "" and each of regions in name order, × ClientKinds.
func regionGroups(regions map[string]bool) []Group {
	names := make([]string, 0, len(regions)+1)
	for r := range regions {
		names = append(names, r)
	}
	sort.Strings(names)
	names = append([]string{""}, names...)
	out := make([]Group, 0, len(ClientKinds)*len(names))
	for _, r := range names {
		for _, k := range ClientKinds {
			out = append(out, Group{Region: r, Client: k})
		}
	}
	return out
}

// OtherGroups are the groups of nodes whose region the model does not name, one per
// client kind; they get the same resources as "", without its warning.
func OtherGroups() []Group {
	out := make([]Group, 0, len(ClientKinds))
	for _, k := range ClientKinds {
		out = append(out, Group{Region: OtherRegion, Client: k})
	}
	return out
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
