package xds

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/poolpilot/poolpilot/internal/modelgen"
	"github.com/poolpilot/poolpilot/model"
)

// The delta responses built here must be the stock cache's: these tests put both on the
// same snapshots, subscriptions and requests, drawn at random over a few names so that
// every case meets (wildcard or not, names held at the current, an older or no version,
// names the snapshot lacks, first requests and ACKs, added, changed and removed names).
// One difference is by design: a resource version here is the stock cache's first 16 hex
// digits (contentVersion). The subscriptions hold versions as streams here hold them; the
// stock cache is asked with them lengthened (stockVersions) and its answer is compared
// shortened.

// stockVersions maps each short version of a snapshot the tests made to the stock one.
var stockVersions sync.Map

func shortVersion(v string) string {
	if len(v) == 64 {
		return v[:16]
	}
	return v
}

func shortVersions(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for n, v := range m {
		out[n] = shortVersion(v)
	}
	return out
}

func stockSubscription(sub subscription) subscription {
	long := make(map[string]string, len(sub.returned))
	for n, v := range sub.returned {
		if l, ok := stockVersions.Load(v); ok {
			v = l.(string)
		}
		long[n] = v
	}
	sub.returned = long
	return sub
}

var deltaNames6 = []string{"a", "b", "c", "d", "e", "f"}

// randomEDS is a snapshot of a random subset of deltaNames6, each in one of three forms.
func randomEDS(t *testing.T, r *rand.Rand, version string) *cache.Snapshot {
	var res []types.Resource
	for _, n := range deltaNames6 {
		if r.IntN(4) == 0 {
			continue
		}
		res = append(res, &endpointv3.ClusterLoadAssignment{ClusterName: n,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{Priority: uint32(r.IntN(3))}}})
	}
	snap, err := cache.NewSnapshot(version, map[resourcev3.Type][]types.Resource{resourcev3.EndpointType: res})
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.ConstructVersionMap(); err != nil {
		t.Fatal(err)
	}
	for _, v := range snap.GetVersionMap(resourcev3.EndpointType) {
		stockVersions.Store(shortVersion(v), v)
	}
	return snap
}

// randomSub is a subscription as a stream may hold it: wildcard or some names, and
// returned resources at the versions of held (a snapshot the stream got earlier), at a
// stale or empty version, or names it was never sent.
func randomSub(r *rand.Rand, held *cache.Snapshot) (subscription, *discovery.DeltaDiscoveryRequest) {
	var subscribe []string
	if r.IntN(3) > 0 {
		for _, n := range deltaNames6 {
			if r.IntN(2) == 0 {
				subscribe = append(subscribe, n)
			}
		}
		if len(subscribe) == 0 {
			subscribe = []string{"a"}
		}
		if r.IntN(4) == 0 {
			subscribe = append(subscribe, "*")
		}
	}
	returned := map[string]string{}
	for _, n := range deltaNames6 {
		switch r.IntN(5) {
		case 0, 1:
			if v, ok := held.GetVersionMap(resourcev3.EndpointType)[n]; ok {
				returned[n] = shortVersion(v)
			}
		case 2:
			returned[n] = "stale"
		case 3:
			if r.IntN(3) == 0 {
				returned[n] = ""
			}
		}
	}
	sub := newDeltaSubscription(subscribe, nil, returned, true, noSharing)
	req := &discovery.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: resourcev3.EndpointType,
		ResourceNamesSubscribe: subscribe}
	if r.IntN(3) > 0 {
		req.ResponseNonce = "1"
	}
	return sub, req
}

// stockDelta is the stock cache's answer to sub and req on snap, or nil.
func stockDelta(t *testing.T, snap *cache.Snapshot, req *discovery.DeltaDiscoveryRequest, sub subscription) cache.DeltaResponse {
	t.Helper()
	sc := cache.NewSnapshotCache(false, cache.IDHash{}, nil)
	if err := sc.SetSnapshot(context.Background(), "n", snap); err != nil {
		t.Fatal(err)
	}
	ch := make(chan cache.DeltaResponse, 1)
	cancel, err := sc.CreateDeltaWatch(req, stockSubscription(sub), ch)
	if err != nil {
		t.Fatal(err)
	}
	if cancel != nil {
		cancel()
	}
	select {
	case resp := <-ch:
		return resp
	default:
		return nil
	}
}

// sameDelta fails unless got and want send the same: nothing from both, or the same
// resources (name, version, bytes), removals, system version and next version map.
func sameDelta(t *testing.T, what string, got, want cache.DeltaResponse) {
	t.Helper()
	if (got == nil) != (want == nil) {
		t.Fatalf("%s: responds %v, the stock cache %v", what, got != nil, want != nil)
	}
	if got == nil {
		return
	}
	g, err := got.GetDeltaDiscoveryResponse()
	if err != nil {
		t.Fatal(err)
	}
	w, err := want.GetDeltaDiscoveryResponse()
	if err != nil {
		t.Fatal(err)
	}
	describe := func(r *discovery.DeltaDiscoveryResponse, version func(string) string) string {
		var res []string
		for _, x := range r.GetResources() {
			res = append(res, fmt.Sprintf("%s@%s/%x/%s", x.GetName(), version(x.GetVersion()), x.GetResource().GetValue(), x.GetResource().GetTypeUrl()))
		}
		slices.Sort(res)
		removed := slices.Sorted(slices.Values(r.GetRemovedResources()))
		return fmt.Sprintf("resources %v removed %v system %q type %q", res, removed, r.GetSystemVersionInfo(), r.GetTypeUrl())
	}
	same := func(v string) string { return v }
	if describe(g, same) != describe(w, shortVersion) {
		t.Fatalf("%s:\n got  %s\n want %s", what, describe(g, same), describe(w, shortVersion))
	}
	if !maps.Equal(got.GetNextVersionMap(), shortVersions(want.GetNextVersionMap())) {
		t.Fatalf("%s: next version map %v, the stock cache's %v", what, got.GetNextVersionMap(), want.GetNextVersionMap())
	}
	if !proto.Equal(got.GetDeltaRequest(), want.GetDeltaRequest()) {
		t.Fatalf("%s: answers another request", what)
	}
}

// TestDeltaRespondIsTheStockCaches: a walk over a table answers as the stock cache does,
// and notes exactness only when the stream holds exactly the next version map.
func TestDeltaRespondIsTheStockCaches(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		held := randomEDS(t, r, fmt.Sprintf("h%d", i))
		snap := held
		if r.IntN(2) == 0 {
			snap = randomEDS(t, r, fmt.Sprintf("s%d", i))
		}
		sub, req := randomSub(r, held)
		want := stockDelta(t, snap, req, sub)
		w := &deltaWatch{req: req, sub: sub}
		got := newDeltaTable(snap, resourcev3.EndpointType, nil).respond(w)
		sameDelta(t, fmt.Sprintf("case %d", i), got, want)
		if got != nil {
			continue
		}
		// Nothing to send: exact means the stream holds what a response would leave.
		next := map[string]string{}
		vm := snap.GetVersionMap(resourcev3.EndpointType)
		for n := range vm {
			if _, ok := sub.SubscribedResources()[n]; ok || sub.IsWildcard() {
				next[n] = shortVersion(vm[n])
			}
		}
		if exact := maps.Equal(sub.ReturnedResources(), next); w.exact != exact {
			t.Fatalf("case %d: exact %v, want %v (returned %v, next %v)", i, w.exact, exact, sub.ReturnedResources(), next)
		}
	}
}

// TestDeltaSinceIsTheStockCaches: a stream that holds exactly one version (it adopted a
// response's next version map) is answered for the next version from what changed
// between the two, as the stock cache answers it by a walk.
func TestDeltaSinceIsTheStockCaches(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	answered := 0
	for i := range 3000 {
		s1 := randomEDS(t, r, fmt.Sprintf("a%d", i))
		s2 := randomEDS(t, r, fmt.Sprintf("b%d", i))
		sub, req := randomSub(r, s1)
		t1 := newDeltaTable(s1, resourcev3.EndpointType, nil)
		w := &deltaWatch{req: req, sub: &sub}
		resp := t1.respond(w)
		if resp != nil {
			sub.SetReturnedResources(resp.GetNextVersionMap()) // the server adopts it
			req = &discovery.DeltaDiscoveryRequest{Node: req.GetNode(), TypeUrl: req.GetTypeUrl(), ResponseNonce: "1"}
			w = &deltaWatch{req: req, sub: &sub}
			if !t1.holdsCurrent(w) {
				t.Fatalf("case %d: the ACK of a response built here is not known to hold its version", i)
			}
			w.exact = true
		}
		if !w.exact {
			continue
		}
		answered++
		t2 := newDeltaTable(s2, resourcev3.EndpointType, nil)
		t2.diff(t1)
		want := stockDelta(t, s2, req, sub)
		sameDelta(t, fmt.Sprintf("case %d", i), t2.since(w), want)
	}
	if answered < 1000 {
		t.Fatalf("only %d of 3000 cases reached since; the generator no longer covers it", answered)
	}
}

// TestDeltaSubscriptionEditForgetsTheMap: a request that unsubscribes something the
// stream held gets a new map (subscriptions copy on write), which is not taken for a
// response's: the stream is walked again, and the map the response built, which other
// streams may share, is left as it was.
func TestDeltaSubscriptionEditForgetsTheMap(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	snap := randomEDS(t, r, "v")
	// An explicit wildcard: a legacy one (no names yet) ignores unsubscriptions.
	sub := newDeltaSubscription([]string{"*"}, nil, nil, true, noSharing)
	req := &discovery.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: resourcev3.EndpointType,
		ResourceNamesSubscribe: []string{"*"}}
	tb := newDeltaTable(snap, resourcev3.EndpointType, nil)
	resp := tb.respond(&deltaWatch{req: req, sub: &sub})
	if resp == nil || len(resp.GetNextVersionMap()) == 0 {
		t.Fatal("a first wildcard request got no resources")
	}
	built := resp.GetNextVersionMap()
	before := maps.Clone(built)
	sub.SetReturnedResources(built)
	ack := &discovery.DeltaDiscoveryRequest{Node: req.GetNode(), TypeUrl: req.GetTypeUrl(), ResponseNonce: "1"}
	if !tb.holdsCurrent(&deltaWatch{req: ack, sub: &sub}) {
		t.Fatal("a plain ACK of the built map is not taken to hold it")
	}
	held := slices.Sorted(maps.Keys(built))[0]
	edit := &discovery.DeltaDiscoveryRequest{Node: req.GetNode(), TypeUrl: req.GetTypeUrl(), ResponseNonce: "1",
		ResourceNamesUnsubscribe: []string{held}}
	sub.UpdateResourceSubscriptions(nil, edit.GetResourceNamesUnsubscribe())
	if tb.holdsCurrent(&deltaWatch{req: edit, sub: &sub}) {
		t.Fatal("a request that unsubscribed is taken to hold the map")
	}
	if !maps.Equal(built, before) {
		t.Fatal("unsubscribing wrote the map a response built")
	}
	if _, ok := sub.ReturnedResources()[held]; ok {
		t.Fatalf("the stream still holds %q after unsubscribing it", held)
	}
	ack2 := &discovery.DeltaDiscoveryRequest{Node: req.GetNode(), TypeUrl: req.GetTypeUrl(), ResponseNonce: "2"}
	if tb.holdsCurrent(&deltaWatch{req: ack2, sub: &sub}) {
		t.Fatal("after an edit, a later plain ACK is still taken to hold the built map")
	}
}

// TestDeltaStreamsConvergeThroughChurn: real delta streams that ACK, subscribe and
// unsubscribe while the model changes under them (pools changed, removed and added back)
// each end holding exactly the last snapshot's load assignments for the names they
// subscribe to, at the snapshot's versions: whatever mix of walks and shortcuts answered
// them on the way.
func TestDeltaStreamsConvergeThroughChurn(t *testing.T) {
	s, addr := startServer(t, Options{})
	modelAt := func(i int) *model.Model {
		pools := 4
		if i%5 == 3 {
			pools = 3 // the last pool leaves, and comes back next time
		}
		m, err := modelgen.Load(modelgen.Spec{Pools: pools, BackendsPerPool: 2, Regions: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range m.Backends {
			if b.Name == modelgen.BackendName(i%pools, 0) || b.Name == modelgen.BackendName((i/2)%pools, 1) {
				b.Endpoint.Port += uint32(i + 1)
			}
		}
		return m
	}
	mustApply(t, s, modelAt(0))
	region := modelgen.RegionNames(2)[0]
	key := region + "/envoy"
	names := []string{modelgen.PoolName(0), modelgen.PoolName(1), modelgen.PoolName(2), modelgen.PoolName(3)}

	type client struct {
		c          *deltaClient
		held       map[string]string // what the client holds: name → version
		subscribed map[string]bool
	}
	r := rand.New(rand.NewPCG(7, 8))
	drain := func(cl *client, d time.Duration) {
		cl.c.each(resourcev3.EndpointType, d, func(resp *discovery.DeltaDiscoveryResponse) {
			for _, res := range resp.GetResources() {
				// A response sent before an unsubscription reached the server may carry
				// the name still: a client ignores it.
				if cl.subscribed[res.GetName()] {
					cl.held[res.GetName()] = res.GetVersion()
				}
			}
			for _, name := range resp.GetRemovedResources() {
				delete(cl.held, name)
			}
			cl.c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: resp.GetNonce()})
		})
	}
	clients := make([]*client, 6)
	for i := range clients {
		cl := &client{c: newDeltaClient(t, addr, envoyNode(fmt.Sprintf("envoy-churn-%d", i), region)),
			held: map[string]string{}, subscribed: map[string]bool{}}
		cl.c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType})
		sub := names[:2+i%3]
		for _, n := range sub {
			cl.subscribed[n] = true
		}
		cl.c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: sub})
		clients[i] = cl
	}
	for i := 1; i <= 30; i++ {
		mustApply(t, s, modelAt(i))
		for _, cl := range clients {
			drain(cl, 20*time.Millisecond)
			name := names[r.IntN(len(names))]
			switch r.IntN(4) {
			case 0:
				if cl.subscribed[name] {
					delete(cl.subscribed, name)
					delete(cl.held, name) // a client forgets what it unsubscribes from
					cl.c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesUnsubscribe: []string{name}})
				}
			case 1:
				if !cl.subscribed[name] {
					cl.subscribed[name] = true
					cl.c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: []string{name}})
				}
			}
		}
	}
	// Every client takes every name; then the last pool leaves and comes back unchanged,
	// which only a server that forgot it with the removal sends again.
	plain := func(pools int) *model.Model {
		m, err := modelgen.Load(modelgen.Spec{Pools: pools, BackendsPerPool: 2, Regions: 2})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, cl := range clients {
		var add []string
		for _, n := range names {
			if !cl.subscribed[n] {
				cl.subscribed[n] = true
				add = append(add, n)
			}
		}
		if len(add) > 0 {
			cl.c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: add})
		}
	}
	for _, m := range []*model.Model{plain(4), plain(3), plain(4)} {
		mustApply(t, s, m)
		for _, cl := range clients {
			drain(cl, 50*time.Millisecond)
		}
	}
	s.cache.mu.Lock()
	snap, err := s.cache.SnapshotCache.GetSnapshot(key)
	if err != nil {
		s.cache.mu.Unlock()
		t.Fatal(err)
	}
	if err := snap.ConstructVersionMap(); err != nil {
		s.cache.mu.Unlock()
		t.Fatal(err)
	}
	latest := shortVersions(snap.GetVersionMap(resourcev3.EndpointType))
	s.cache.mu.Unlock()
	for i, cl := range clients {
		want := map[string]string{}
		for n := range cl.subscribed {
			if v, ok := latest[n]; ok {
				want[n] = v
			}
		}
		for range 20 { // at most 20 × 100 ms
			if maps.Equal(cl.held, want) {
				break
			}
			drain(cl, 100*time.Millisecond)
		}
		if !maps.Equal(cl.held, want) {
			t.Errorf("client %d (subscribed to %v) holds %v, want the last snapshot's %v", i, cl.subscribed, cl.held, want)
		}
	}
}

// TestDeltaAnsweredForgetsEndedStreams: the maps of responses whose streams are gone are
// not kept, and their keys do not pile up while the version stays the same (a client
// reconnecting over and over); a live stream's map is still known.
func TestDeltaAnsweredForgetsEndedStreams(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	tb := newDeltaTable(randomEDS(t, r, "v"), resourcev3.EndpointType, nil)
	req := &discovery.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: resourcev3.EndpointType}
	live := newDeltaSubscription(nil, nil, nil, true, noSharing)
	resp := tb.respond(&deltaWatch{req: req, sub: &live})
	if resp == nil {
		t.Fatal("a first wildcard request got no response")
	}
	live.SetReturnedResources(resp.GetNextVersionMap())
	const streams = 5 * minPrune
	for i := range streams {
		gone := newDeltaSubscription(nil, nil, nil, true, noSharing)
		if tb.respond(&deltaWatch{req: req, sub: &gone}) == nil {
			t.Fatal("a first wildcard request got no response")
		}
		if i%minPrune == 0 {
			runtime.GC() // the ended streams' maps become unreachable
		}
	}
	if n := len(tb.answered); n >= 2*minPrune {
		t.Errorf("%d keys kept after %d short-lived streams, want fewer than %d", n, streams, 2*minPrune)
	}
	ack := &discovery.DeltaDiscoveryRequest{Node: req.GetNode(), TypeUrl: req.GetTypeUrl(), ResponseNonce: "1"}
	if !tb.holdsCurrent(&deltaWatch{req: ack, sub: &live}) {
		t.Error("the live stream's map is no longer known")
	}
	runtime.KeepAlive(live)
}
