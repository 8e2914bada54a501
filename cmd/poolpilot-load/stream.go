package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
)

// child maps a parent type to the type whose names it carries: clusters name their EDS
// load assignments, listeners name their RDS route configurations. Envoy subscribes in
// this order, and so do the simulated nodes.
var child = map[string]string{
	resourcev3.ClusterType:  resourcev3.EndpointType,
	resourcev3.ListenerType: resourcev3.RouteType,
}

// shortType names a type URL in reports.
func shortType(t string) string {
	switch t {
	case resourcev3.ClusterType:
		return "CDS"
	case resourcev3.EndpointType:
		return "EDS"
	case resourcev3.ListenerType:
		return "LDS"
	case resourcev3.RouteType:
		return "RDS"
	}
	return t
}

// stream is one simulated Envoy node on one ADS stream. Its goroutine owns the protocol
// state; the counters under mu are read and reset by the coordinator.
type stream struct {
	id     int
	node   *corev3.Node
	region string
	names  *nameCache
	start  time.Time

	// onSettle runs once, when the stream first settles or ends.
	onSettle func()

	mu sync.Mutex
	st stats
}

// stats are a stream's counters; snapshot copies them.
type stats struct {
	settled   bool
	settledAt time.Time
	err       error
	acks      int
	// Counters since the last mark (the connect phase, then each change).
	updates     int       // responses that carried new content
	firstUpdate time.Time // when the first of them was ACKed
	lastUpdate  time.Time // when the last of them was ACKed
	bytes       int64     // proto size of every response received
	resources   map[string]int
}

func newStream(id int, region string, names *nameCache) *stream {
	return &stream{
		id:     id,
		region: region,
		names:  names,
		node: &corev3.Node{
			Id:            fmt.Sprintf("load-%06d", id),
			Cluster:       "poolpilot-load",
			UserAgentName: "envoy",
			Locality:      &corev3.Locality{Region: region},
		},
		st: stats{resources: map[string]int{}},
	}
}

// mark resets the counters at the start of a phase.
func (s *stream) mark() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.updates, s.st.bytes = 0, 0
	s.st.firstUpdate, s.st.lastUpdate = time.Time{}, time.Time{}
	s.st.resources = map[string]int{}
}

// progress is the part of stats the coordinator polls, without copying maps.
func (s *stream) progress() (settled bool, updates int, last time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.settled, s.st.updates, s.st.lastUpdate, s.st.err
}

func (s *stream) snapshot() stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.st
	c.resources = maps.Clone(s.st.resources)
	return c
}

// record accounts one response, after its ACK went out.
func (s *stream) record(size int, typeURL string, n int, changed bool, settled bool) {
	now := time.Now()
	first := false
	defer func() {
		if first && s.onSettle != nil {
			s.onSettle()
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st
	st.acks++
	st.bytes += int64(size)
	st.resources[shortType(typeURL)] += n
	if changed {
		st.updates++
		if st.firstUpdate.IsZero() {
			st.firstUpdate = now
		}
		st.lastUpdate = now
	}
	if settled && !st.settled {
		st.settled, st.settledAt, first = true, now, true
	}
}

func (s *stream) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.err == nil {
		s.st.err = err
	}
}

// subState is what a state-of-the-world stream tracks per type.
type subState struct {
	names   []string // subscribed names; nil = wildcard (CDS, LDS)
	version string
	nonce   string
	got     bool // a response arrived
	pending bool // names changed and no response covering them arrived yet
	// need is how many names the last change of names added: a server that sends only
	// what a stream lacks (EDS, RDS) answers a new subscription with at least these.
	need int
}

// adsStream is a bidirectional ADS stream (either variant) that decodes responses with
// liteCodec.
var adsStream = &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}

// openADS opens an ADS stream (method: either variant) that decodes responses with
// liteCodec, and sends the first requests.
func openADS(ctx context.Context, conn *grpc.ClientConn, what, method string, first ...any) (grpc.ClientStream, error) {
	st, err := conn.NewStream(ctx, adsStream, method, grpc.ForceCodecV2(liteCodec{}))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", what, err)
	}
	for _, req := range first {
		if err := st.SendMsg(req); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// receive reads the next response into resp; ended is true when the stream ended
// because ctx did, which is no error.
func receive(ctx context.Context, st grpc.ClientStream, resp any) (ended bool, err error) {
	if err := st.RecvMsg(resp); err != nil {
		if ctx.Err() != nil {
			return true, nil
		}
		return false, fmt.Errorf("receive: %w", err)
	}
	return false, nil
}

// runSotw speaks state-of-the-world ADS until ctx ends.
func (s *stream) runSotw(ctx context.Context, conn *grpc.ClientConn) error {
	// Only the first request carries the node, as Envoy does by default.
	st, err := openADS(ctx, conn, "ADS stream", discovery.AggregatedDiscoveryService_StreamAggregatedResources_FullMethodName,
		&discovery.DiscoveryRequest{Node: s.node, TypeUrl: resourcev3.ClusterType},
		&discovery.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	if err != nil {
		return err
	}
	subs := map[string]*subState{
		resourcev3.ClusterType:  {},
		resourcev3.ListenerType: {},
		resourcev3.EndpointType: {names: []string{}},
		resourcev3.RouteType:    {names: []string{}},
	}
	resp := sotwResponse{lookup: func(typeURL, version string) ([]string, bool) {
		return s.names.peek(sotwKey(s.region, typeURL, version))
	}}
	for {
		if ended, err := receive(ctx, st, &resp); ended || err != nil {
			return err
		}
		t := resp.TypeURL
		sub, ok := subs[t]
		if !ok {
			return fmt.Errorf("unexpected type %s", t)
		}
		changed := resp.Version != sub.version
		sub.version, sub.nonce, sub.got = resp.Version, resp.Nonce, true
		if sub.pending && resp.Count >= sub.need {
			sub.pending = false
		}
		if err := st.SendMsg(&discovery.DiscoveryRequest{
			TypeUrl: t, VersionInfo: sub.version, ResponseNonce: sub.nonce, ResourceNames: sub.names,
		}); err != nil {
			return err
		}
		if ct, ok := child[t]; ok {
			names := resp.Children
			if !resp.Known {
				if names, err = s.names.sotw(s.region, t, resp.Version, resp.Resources); err != nil {
					return err
				}
			}
			cs := subs[ct]
			if !slices.Equal(names, cs.names) {
				cs.need = 0
				for _, n := range names {
					if _, had := slices.BinarySearch(cs.names, n); !had {
						cs.need++
					}
				}
				cs.names, cs.pending = names, cs.need > 0
				if err := st.SendMsg(&discovery.DiscoveryRequest{
					TypeUrl: ct, VersionInfo: cs.version, ResponseNonce: cs.nonce, ResourceNames: names,
				}); err != nil {
					return err
				}
			}
		}
		s.record(resp.Size, t, resp.Count, changed, sotwSettled(subs))
	}
}

func sotwSettled(subs map[string]*subState) bool {
	for t, sub := range subs {
		if _, parent := child[t]; parent {
			if !sub.got {
				return false
			}
			continue
		}
		if sub.pending || (len(sub.names) > 0 && !sub.got) {
			return false
		}
	}
	return true
}

// deltaState is what a delta stream tracks per type.
type deltaState struct {
	have       map[string]string // resource name → version
	subscribed map[string]bool   // explicit subscriptions (EDS, RDS)
	got        bool
	// children: for a parent type, resource name → the child names it references.
	children map[string][]string
}

// runDelta speaks incremental (delta) ADS until ctx ends.
func (s *stream) runDelta(ctx context.Context, conn *grpc.ClientConn) error {
	// An explicit "*" is a wildcard subscription whether or not the server keeps the
	// legacy meaning of an empty first request.
	st, err := openADS(ctx, conn, "delta ADS stream", discovery.AggregatedDiscoveryService_DeltaAggregatedResources_FullMethodName,
		&discovery.DeltaDiscoveryRequest{Node: s.node, TypeUrl: resourcev3.ClusterType, ResourceNamesSubscribe: []string{"*"}},
		&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResourceNamesSubscribe: []string{"*"}})
	if err != nil {
		return err
	}
	states := map[string]*deltaState{}
	for _, t := range []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.EndpointType, resourcev3.RouteType} {
		states[t] = &deltaState{have: map[string]string{}, subscribed: map[string]bool{}, children: map[string][]string{}}
	}
	resp := deltaResponse{lookup: func(typeURL, name, version string) ([]string, bool) {
		return s.names.peek(deltaKey(typeURL, name, version))
	}}
	for {
		if ended, err := receive(ctx, st, &resp); ended || err != nil {
			return err
		}
		t := resp.TypeURL
		ds, ok := states[t]
		if !ok {
			return fmt.Errorf("unexpected type %s", t)
		}
		ds.got = true
		for _, r := range resp.Resources {
			ds.have[r.Name] = r.Version
		}
		for _, n := range resp.Removed {
			delete(ds.have, n)
			delete(ds.children, n)
		}
		if err := st.SendMsg(&discovery.DeltaDiscoveryRequest{TypeUrl: t, ResponseNonce: resp.Nonce}); err != nil {
			return err
		}
		if ct, ok := child[t]; ok {
			for _, r := range resp.Resources {
				names := r.Children
				if !r.Known {
					if names, err = s.names.delta(t, r); err != nil {
						return err
					}
				}
				ds.children[r.Name] = names
			}
			if err := s.resubscribe(st, ct, ds, states[ct]); err != nil {
				return err
			}
		}
		changed := len(resp.Resources) > 0 || len(resp.Removed) > 0
		s.record(resp.Size, t, len(resp.Resources), changed, deltaSettled(states))
	}
}

// resubscribe brings the child type's subscriptions in line with what the parents name.
func (s *stream) resubscribe(st grpc.ClientStream, ct string, parent, cs *deltaState) error {
	want := map[string]bool{}
	for _, names := range parent.children {
		for _, n := range names {
			want[n] = true
		}
	}
	var sub, unsub []string
	for n := range want {
		if !cs.subscribed[n] {
			sub = append(sub, n)
			cs.subscribed[n] = true
		}
	}
	for n := range cs.subscribed {
		if !want[n] {
			unsub = append(unsub, n)
			delete(cs.subscribed, n)
			delete(cs.have, n)
		}
	}
	if len(sub) == 0 && len(unsub) == 0 {
		return nil
	}
	slices.Sort(sub)
	slices.Sort(unsub)
	return st.SendMsg(&discovery.DeltaDiscoveryRequest{TypeUrl: ct,
		ResourceNamesSubscribe: sub, ResourceNamesUnsubscribe: unsub})
}

func deltaSettled(states map[string]*deltaState) bool {
	for t, ds := range states {
		if _, parent := child[t]; parent {
			if !ds.got {
				return false
			}
			continue
		}
		for n := range ds.subscribed {
			if _, ok := ds.have[n]; !ok {
				return false
			}
		}
	}
	return true
}

// nameCache remembers the child names a parent resource references, so that of
// thousands of nodes in a region only the first decodes a given response: the load
// tool shares the machine with the server and must stay cheap.
type nameCache struct {
	mu sync.RWMutex
	m  map[string][]string
}

func newNameCache() *nameCache { return &nameCache{m: map[string][]string{}} }

// peek returns the names cached under key, if any.
func (c *nameCache) peek(key string) ([]string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[key]
	return v, ok
}

func (c *nameCache) get(key string, compute func() ([]string, error)) ([]string, error) {
	if v, ok := c.peek(key); ok {
		return v, nil
	}
	v, err := compute()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.m[key] = v
	c.mu.Unlock()
	return v, nil
}

// sotw returns the sorted child names of a whole state-of-the-world response. The key
// includes the region: a version is only known to identify content within one group.
func (c *nameCache) sotw(region, typeURL, version string, resources []*anypb.Any) ([]string, error) {
	return c.get(sotwKey(region, typeURL, version), func() ([]string, error) {
		set := map[string]bool{}
		for _, a := range resources {
			names, err := childNames(typeURL, a)
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				set[n] = true
			}
		}
		out := make([]string, 0, len(set))
		for n := range set {
			out = append(out, n)
		}
		slices.Sort(out)
		return out, nil
	})
}

// delta returns the child names of one delta resource, keyed by its name and version.
func (c *nameCache) delta(typeURL string, r deltaResource) ([]string, error) {
	return c.get(deltaKey(typeURL, r.Name, r.Version), func() ([]string, error) { return childNames(typeURL, r.Resource) })
}

func sotwKey(region, typeURL, version string) string {
	return region + "\x00" + typeURL + "\x00" + version
}

func deltaKey(typeURL, name, version string) string {
	return typeURL + "\x00" + name + "\x00" + version
}

// childNames decodes one cluster or listener and returns the names it subscribes to.
func childNames(typeURL string, a *anypb.Any) ([]string, error) {
	switch typeURL {
	case resourcev3.ClusterType:
		var c clusterv3.Cluster
		if err := a.UnmarshalTo(&c); err != nil {
			return nil, fmt.Errorf("decode cluster: %w", err)
		}
		if c.GetType() != clusterv3.Cluster_EDS {
			return nil, nil
		}
		if n := c.GetEdsClusterConfig().GetServiceName(); n != "" {
			return []string{n}, nil
		}
		return []string{c.GetName()}, nil
	case resourcev3.ListenerType:
		var l listenerv3.Listener
		if err := a.UnmarshalTo(&l); err != nil {
			return nil, fmt.Errorf("decode listener: %w", err)
		}
		var out []string
		chains := append(slices.Clone(l.GetFilterChains()), l.GetDefaultFilterChain())
		for _, fc := range chains {
			for _, f := range fc.GetFilters() {
				if n := rdsName(f.GetTypedConfig()); n != "" {
					out = append(out, n)
				}
			}
		}
		if api := l.GetApiListener().GetApiListener(); api != nil {
			if n := rdsName(api); n != "" {
				out = append(out, n)
			}
		}
		return out, nil
	}
	return nil, nil
}

// rdsName returns the route configuration an HTTP connection manager loads over RDS.
func rdsName(a *anypb.Any) string {
	if a == nil {
		return ""
	}
	var m hcmv3.HttpConnectionManager
	if a.MessageIs(&m) && a.UnmarshalTo(&m) == nil {
		return m.GetRds().GetRouteConfigName()
	}
	return ""
}
