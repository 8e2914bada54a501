package admin

import (
	"slices"
	"sort"
	"time"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/reload"
)

// Status is what /status returns and / renders. It names backends, never their
// credentials; every free text (errors, NACK details) passes through the redactor of the
// served model's secret values first.
type Status struct {
	Ready     bool   `json:"ready"`
	ModelPath string `json:"modelPath,omitempty"`
	// ModelVersion is the version being served ("" before the first good model).
	ModelVersion string    `json:"modelVersion"`
	AppliedAt    time.Time `json:"appliedAt,omitzero"`
	// LastReload is the latest reload attempt; LastGoodReload the latest applied one.
	LastReload     *reload.Result `json:"lastReload,omitempty"`
	LastGoodReload *reload.Result `json:"lastGoodReload,omitempty"`
	// Watch is the model watch's health; absent when the model is not watched.
	Watch *reload.WatchHealth `json:"watch,omitempty"`
	// LastApplyError is the server's last apply failure after its last success.
	LastApplyError string       `json:"lastApplyError,omitempty"`
	Pools          []PoolStatus `json:"pools"`
	Groups         []GroupView  `json:"groups"`
	Nodes          []NodeView   `json:"nodes"`
	// Breaker is the fleet breaker's table; absent when the server runs without one.
	Breaker     *BreakerStatus `json:"breaker,omitempty"`
	GeneratedAt time.Time      `json:"generatedAt"`
}

// PoolStatus is one pool's priority order in every region, as the translator orders it.
type PoolStatus struct {
	Name              string        `json:"name"`
	PreferLocalRegion bool          `json:"preferLocalRegion"`
	Regions           []RegionOrder `json:"regions"`
}

// RegionOrder is the order Envoy nodes of one region use for a pool.
type RegionOrder struct {
	// Region is the nodes' region; "" is nodes that report none.
	Region string `json:"region"`
	// Priorities[i] are the backends at Envoy priority i (0 is tried first), in model order.
	Priorities [][]string `json:"priorities"`
	// Note explains a missing order (no API routes to the pool).
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
func (a *Server) Status() Status {
	st := a.opts.Server.Status()
	out := Status{
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
		out.Watch = r.Watching()
	}
	if m == nil {
		m = a.opts.Server.Model()
	}
	red := a.opts.Server.Redactor()

	for _, g := range st.Groups {
		v := GroupView{Key: g.Key, Versions: map[string]string{}, Clusters: g.Clusters, Endpoints: g.Endpoints,
			Routes: g.Routes, Listeners: g.Listeners, Warnings: red.Lines(g.Warnings)}
		for url, ver := range g.Versions {
			v.Versions[xds.TypeName(url)] = ver
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
				// Redacted when it arrived (callbacks.answered), with the model then served.
				tv.LastNack = &NackView{Version: t.LastNack.Version, Error: t.LastNack.Message, At: t.LastNack.At}
			}
			n.Types[xds.TypeName(url)] = tv
		}
		out.Nodes = append(out.Nodes, n)
	}
	if m != nil {
		out.Pools = poolOrders(m, st.Groups)
	}
	if a.opts.Breaker != nil {
		out.Breaker = breakerStatus(a.opts.Breaker, m)
		out.Breaker.LoadReports = a.opts.Server.LoadReports()
	}
	out.LastApplyError = red.Text(out.LastApplyError)
	for _, r := range []*reload.Result{out.LastReload, out.LastGoodReload} {
		if r != nil {
			r.Errors = red.Lines(r.Errors)
		}
	}
	return out
}

// poolOrders is every pool's priority order in each region the table shows: the model's
// regions, "" (nodes that report none) and those of connected nodes' groups. The order is
// the translator's own (translator.PoolOrder), the one it puts in the load assignments,
// so the table cannot drift from what the nodes are sent.
func poolOrders(m *model.Model, groups []xds.GroupStatus) []PoolStatus {
	regions := append([]string{""}, m.Regions()...)
	for _, g := range groups {
		if !slices.Contains(regions, g.Group.Region) {
			regions = append(regions, g.Group.Region)
		}
	}
	sort.Strings(regions)
	routed := map[string]bool{}
	for _, api := range m.APIs {
		if api != nil {
			routed[api.Backend] = true
		}
	}
	ix := model.NewIndex(m)
	out := []PoolStatus{}
	for _, p := range m.Pools {
		if p == nil {
			continue
		}
		ps := PoolStatus{Name: p.Name, PreferLocalRegion: p.PreferLocalRegion}
		for _, r := range regions {
			ro := RegionOrder{Region: r, Priorities: [][]string{}}
			if routed[p.Name] {
				ro.Priorities = translator.PoolOrder(ix, p, translator.Group{Region: r, Client: translator.Envoy})
			} else {
				ro.Note = "no API routes to this pool: no node is sent it"
			}
			ps.Regions = append(ps.Regions, ro)
		}
		out = append(out, ps)
	}
	return out
}
