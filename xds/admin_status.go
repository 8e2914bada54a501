package xds

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
)

// AdminStatus is what /status returns and / renders. It names backends, never their
// credentials; every free text (errors, NACK details) passes through the redactor of the
// served model's secret values first.
type AdminStatus struct {
	Ready     bool   `json:"ready"`
	ModelPath string `json:"modelPath,omitempty"`
	// ModelVersion is the version being served ("" before the first good model).
	ModelVersion string    `json:"modelVersion"`
	AppliedAt    time.Time `json:"appliedAt,omitzero"`
	// LastReload is the latest reload attempt; LastGoodReload the latest applied one.
	LastReload     *ReloadResult `json:"lastReload,omitempty"`
	LastGoodReload *ReloadResult `json:"lastGoodReload,omitempty"`
	// LastApplyError is the server's last apply failure after its last success.
	LastApplyError string       `json:"lastApplyError,omitempty"`
	Pools          []PoolStatus `json:"pools"`
	Groups         []GroupView  `json:"groups"`
	Nodes          []NodeView   `json:"nodes"`
	GeneratedAt    time.Time    `json:"generatedAt"`
}

// PoolStatus is one pool's priority order in every region, as the translated load
// assignments say.
type PoolStatus struct {
	Name              string        `json:"name"`
	PreferLocalRegion bool          `json:"preferLocalRegion"`
	Regions           []RegionOrder `json:"regions"`
}

// RegionOrder is the order Envoy nodes of one region use for a pool.
type RegionOrder struct {
	// Region is the nodes' region; "" is nodes that report none.
	Region string `json:"region"`
	// Priorities[i] are the backends at Envoy priority i (0 is tried first).
	Priorities [][]string `json:"priorities"`
	// Note explains a missing order (no snapshot, pool not translated).
	Note string `json:"note,omitempty"`
}

// GroupView is one node group's snapshot.
type GroupView struct {
	Key string `json:"key"`
	// Versions maps a short type name (clusters, endpoints, routes, listeners) to the
	// snapshot's version.
	Versions  map[string]string `json:"versions"`
	Clusters  int               `json:"clusters"`
	Endpoints int               `json:"endpoints"`
	Routes    int               `json:"routes"`
	Listeners int               `json:"listeners"`
	Warnings  []string          `json:"warnings,omitempty"`
}

// NodeView is one connected stream of one node.
type NodeView struct {
	NodeID         string              `json:"nodeId"`
	Group          string              `json:"group"`
	Stream         string              `json:"stream"`
	StreamID       int64               `json:"streamId"`
	ConnectedSince time.Time           `json:"connectedSince"`
	Types          map[string]TypeView `json:"types"`
}

// TypeView is one resource type on one stream.
type TypeView struct {
	SentVersion  string    `json:"sentVersion,omitempty"`
	AckedVersion string    `json:"ackedVersion,omitempty"`
	Responses    uint64    `json:"responses"`
	Acks         uint64    `json:"acks"`
	Nacks        uint64    `json:"nacks"`
	LastNack     *NackView `json:"lastNack,omitempty"`
}

// NackView is a node's last rejection of a type.
type NackView struct {
	Version string    `json:"version"`
	Error   string    `json:"error"`
	At      time.Time `json:"at"`
}

// Status gathers the admin view now.
func (a *Admin) Status() AdminStatus {
	st := a.opts.Server.Status()
	out := AdminStatus{
		ModelVersion:   st.ModelVersion,
		AppliedAt:      st.AppliedAt,
		LastApplyError: st.LastApplyError,
		GeneratedAt:    time.Now(),
		Pools:          []PoolStatus{},
		Groups:         []GroupView{},
		Nodes:          []NodeView{},
	}
	out.Ready, _ = a.ready()
	var m *model.Model
	if r := a.opts.Reloader; r != nil {
		out.ModelPath = r.Path()
		last, good := r.Last()
		if !last.Time.IsZero() {
			out.LastReload = &last
		}
		if !good.Time.IsZero() {
			out.LastGoodReload = &good
		}
		m = r.Current()
	}
	if m == nil {
		m = a.opts.Server.currentModel()
	}
	red := newRedactor(m)

	for _, g := range st.Groups {
		v := GroupView{Key: g.Key, Versions: map[string]string{}, Clusters: g.Clusters, Endpoints: g.Endpoints,
			Routes: g.Routes, Listeners: g.Listeners, Warnings: red.lines(g.Warnings)}
		for url, ver := range g.Versions {
			v.Versions[TypeName(url)] = ver
		}
		out.Groups = append(out.Groups, v)
	}
	for _, s := range st.Streams {
		n := NodeView{NodeID: s.NodeID, Group: s.Group, Stream: string(s.Kind), StreamID: s.StreamID,
			ConnectedSince: s.ConnectedSince, Types: map[string]TypeView{}}
		for url, t := range s.Types {
			tv := TypeView{SentVersion: t.LastSentVersion, AckedVersion: t.AckedVersion,
				Responses: t.Responses, Acks: t.Acks, Nacks: t.Nacks}
			if t.LastNack != nil {
				tv.LastNack = &NackView{Version: t.LastNack.Version, Error: red.text(t.LastNack.Message), At: t.LastNack.At}
			}
			n.Types[TypeName(url)] = tv
		}
		out.Nodes = append(out.Nodes, n)
	}
	if m != nil {
		out.Pools = a.poolOrders(m, st.Groups)
	}
	out.LastApplyError = red.text(out.LastApplyError)
	for _, r := range []*ReloadResult{out.LastReload, out.LastGoodReload} {
		if r != nil {
			r.Errors = red.lines(r.Errors)
		}
	}
	return out
}

// poolOrders reads every pool's per-region priority order back from the load
// assignments in the Envoy group snapshot of each region (the model's regions, "" and
// those of connected nodes): the table shows what the proxies were sent, not a second
// computation of it. gRPC groups get the same order.
func (a *Admin) poolOrders(m *model.Model, groups []GroupStatus) []PoolStatus {
	regions := append([]string{""}, m.Regions()...)
	for _, g := range groups {
		if g.Group.Client == translator.Envoy && !g.Group.LegacyEnvoy && !slices.Contains(regions, g.Group.Region) {
			regions = append(regions, g.Group.Region)
		}
	}
	sort.Strings(regions)
	byAddr := backendsByAddress(m)
	cla := make(map[string]map[string]*endpoint.ClusterLoadAssignment, len(regions))
	notes := map[string]string{}
	for _, r := range regions {
		key := translator.Group{Region: r, Client: translator.Envoy}.String()
		assignments, err := a.opts.Server.loadAssignments(key)
		if err != nil {
			notes[r] = err.Error()
		}
		cla[r] = assignments
	}
	var out []PoolStatus
	for _, p := range m.Pools {
		if p == nil {
			continue
		}
		ps := PoolStatus{Name: p.Name, PreferLocalRegion: p.PreferLocalRegion}
		for _, r := range regions {
			ro := RegionOrder{Region: r, Priorities: [][]string{}}
			if n, ok := notes[r]; ok {
				ro.Note = n
			} else if la := poolAssignment(cla[r], p, byAddr); la == nil {
				ro.Note = "not in this group's snapshot (no API routes to this pool)"
			} else {
				ro.Priorities = priorityOrder(la, byAddr)
			}
			ps.Regions = append(ps.Regions, ro)
		}
		out = append(out, ps)
	}
	return out
}

// backendsByAddress maps "host:port" to backend name.
func backendsByAddress(m *model.Model) map[string]string {
	out := map[string]string{}
	for _, b := range m.Backends {
		if b != nil {
			out[fmt.Sprintf("%s:%d", b.Endpoint.Host, b.Endpoint.Port)] = b.Name
		}
	}
	return out
}

// poolAssignment finds a pool's load assignment: the cluster named after the pool (the
// translator's naming), or else the one whose endpoints are exactly the pool's members.
func poolAssignment(las map[string]*endpoint.ClusterLoadAssignment, p *model.Pool, byAddr map[string]string) *endpoint.ClusterLoadAssignment {
	if la, ok := las[p.Name]; ok {
		return la
	}
	var want []string
	for _, s := range p.Services {
		if s != nil {
			want = append(want, s.Backend)
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	for _, n := range sortedKeys(las) {
		var got []string
		for _, level := range priorityOrder(las[n], byAddr) {
			got = append(got, level...)
		}
		slices.Sort(got)
		if slices.Equal(slices.Compact(got), want) {
			return las[n]
		}
	}
	return nil
}

// priorityOrder lists the backends of each priority level of la, sorted within a level.
// A backend is known by its address (the address itself when no backend has it); the
// translator also names it in the locality's sub_zone, which wins when it is a backend.
func priorityOrder(la *endpoint.ClusterLoadAssignment, byAddr map[string]string) [][]string {
	names := map[string]bool{}
	for _, n := range byAddr {
		names[n] = true
	}
	levels := map[uint32][]string{}
	var top uint32
	for _, lle := range la.GetEndpoints() {
		p := lle.GetPriority()
		top = max(top, p)
		for _, lbe := range lle.GetLbEndpoints() {
			sa := lbe.GetEndpoint().GetAddress().GetSocketAddress()
			addr := fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue())
			name, ok := byAddr[addr]
			if sz := lle.GetLocality().GetSubZone(); names[sz] {
				name, ok = sz, true
			}
			if !ok {
				name = addr
			}
			if !slices.Contains(levels[p], name) {
				levels[p] = append(levels[p], name)
			}
		}
	}
	if len(levels) == 0 {
		return [][]string{}
	}
	out := make([][]string, top+1)
	for p := range out {
		out[p] = levels[uint32(p)]
		sort.Strings(out[p])
		if out[p] == nil {
			out[p] = []string{}
		}
	}
	return out
}

// loadAssignments returns the load assignments of a group's snapshot by cluster name:
// the EDS ones, and the inline ones of clusters that carry their own (DNS-resolved).
func (s *Server) loadAssignments(groupKey string) (map[string]*endpoint.ClusterLoadAssignment, error) {
	snap, err := s.cache.GetSnapshot(groupKey)
	if err != nil {
		return nil, fmt.Errorf("no snapshot for node group %s", groupKey)
	}
	out := map[string]*endpoint.ClusterLoadAssignment{}
	for name, r := range snap.GetResources(resourcev3.EndpointType) {
		if la, ok := expanded(r).(*endpoint.ClusterLoadAssignment); ok {
			out[name] = la
		}
	}
	for name, r := range snap.GetResources(resourcev3.ClusterType) {
		if c, ok := expanded(r).(*cluster.Cluster); ok && c.GetLoadAssignment() != nil {
			if _, dup := out[name]; !dup {
				out[name] = c.GetLoadAssignment()
			}
		}
	}
	return out, nil
}

// currentModel is the last applied model, nil before the first Apply.
func (s *Server) currentModel() *model.Model {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	return s.model
}

// redactor replaces the served model's secret values in free text (an Envoy NACK can
// quote the resource it rejected, endpoint metadata included).
type redactor struct{ values []string }

// minRedactLen skips values so short that replacing them would shred ordinary text;
// such a value is no real credential.
const minRedactLen = 4

func newRedactor(m *model.Model) redactor {
	var r redactor
	if m == nil {
		return r
	}
	for _, b := range m.Backends {
		if b == nil || b.Credentials == nil {
			continue
		}
		for _, s := range b.Credentials.Header {
			if v := s.Reveal(); len(v) >= minRedactLen {
				r.values = append(r.values, v)
			}
		}
	}
	// Longest first, so a value containing another is replaced whole.
	sort.Slice(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
	return r
}

func (r redactor) text(s string) string {
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}

func (r redactor) lines(in []string) []string {
	if len(in) == 0 {
		return in
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = r.text(s)
	}
	return out
}
