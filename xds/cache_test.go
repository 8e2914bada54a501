package xds

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"

	"github.com/poolpilot/poolpilot/internal/modelgen"
	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
)

// onePoolModel is a generated model of four pools; bump moves one backend of the first
// pool to another port, which changes that pool's load assignment and nothing else.
func onePoolModel(t *testing.T, bump uint32) *model.Model {
	t.Helper()
	m, err := modelgen.Load(modelgen.Spec{Pools: 4, BackendsPerPool: 2, Regions: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range m.Backends {
		if b.Name == modelgen.BackendName(0, 0) {
			b.Endpoint.Port += bump
		}
	}
	return m
}

// TestSotwPartialEDSAndRDS: state-of-the-world EDS and RDS responses carry only what the
// stream does not hold yet; a NACK is not answered with the
// same resources; a resource is sent again when resubscribed or on a new stream.
func TestSotwPartialEDSAndRDS(t *testing.T) {
	s, addr := startServer(t, Options{})
	mustApply(t, s, onePoolModel(t, 0))
	region := modelgen.RegionNames(2)[0]
	key := region + "/envoy"

	c := newSotwClient(t, addr, envoyNode("envoy-partial", region))
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	cds := c.next(resourcev3.ClusterType)
	clusters := resourceNames(t, cds)
	if len(clusters) != 4 {
		t.Fatalf("CDS clusters %v, want 4", clusters)
	}
	c.ack(cds)
	c.subscribeExactly(resourcev3.EndpointType, clusters)
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	lds := c.next(resourcev3.ListenerType)
	routes := rdsNames(t, lds)
	c.ack(lds)
	c.subscribeExactly(resourcev3.RouteType, routes)

	// One pool changes: EDS carries its load assignment only, at the group's new version.
	mustApply(t, s, onePoolModel(t, 1))
	want := groupVersions(t, s, key)
	eds := c.next(resourcev3.EndpointType)
	changed := modelgen.PoolName(0)
	if got := resourceNames(t, eds); !slices.Equal(got, []string{changed}) {
		t.Fatalf("EDS after a one-pool change carries %v, want only [%s]", got, changed)
	}
	if eds.GetVersionInfo() != want[resourcev3.EndpointType] {
		t.Errorf("EDS version %q, want the group's %q", eds.GetVersionInfo(), want[resourcev3.EndpointType])
	}
	// Nothing else moved: no CDS, LDS or RDS response.
	if n := c.count(resourcev3.RouteType, 300*time.Millisecond); n != 0 {
		t.Errorf("%d RDS responses after an endpoint-only change, want 0", n)
	}

	// A NACK of it is not answered with the same resources.
	const detail = "load assignment rejected"
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, VersionInfo: "old", ResponseNonce: eds.GetNonce(),
		ResourceNames: clusters, ErrorDetail: &rpcstatus.Status{Code: 3, Message: detail}})
	if n := c.count(resourcev3.EndpointType, time.Second); n != 0 {
		t.Fatalf("%d EDS responses in the 1s after a NACK, want 0", n)
	}

	// Unsubscribe one, then subscribe again: it is sent again, alone.
	drop := modelgen.PoolName(2)
	rest := slices.DeleteFunc(slices.Clone(clusters), func(n string) bool { return n == drop })
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, VersionInfo: eds.GetVersionInfo(),
		ResponseNonce: eds.GetNonce(), ResourceNames: rest})
	if n := c.count(resourcev3.EndpointType, 300*time.Millisecond); n != 0 {
		t.Errorf("%d EDS responses to an unsubscription, want 0", n)
	}
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, VersionInfo: eds.GetVersionInfo(),
		ResponseNonce: eds.GetNonce(), ResourceNames: clusters})
	again := c.next(resourcev3.EndpointType)
	if got := resourceNames(t, again); !slices.Equal(got, []string{drop}) {
		t.Errorf("EDS after resubscribing %s carries %v, want only it", drop, got)
	}

	// A reconnecting client (same version, new stream) gets everything it asks for.
	r := newSotwClient(t, addr, envoyNode("envoy-partial-2", region))
	r.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, VersionInfo: want[resourcev3.EndpointType],
		ResourceNames: clusters})
	if got := resourceNames(t, r.next(resourcev3.EndpointType)); !sameSet(got, clusters) {
		t.Errorf("EDS on a new stream carries %v, want %v", got, clusters)
	}
	r.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.RouteType, VersionInfo: want[resourcev3.RouteType],
		ResourceNames: routes})
	if got := resourceNames(t, r.next(resourcev3.RouteType)); !sameSet(got, routes) {
		t.Errorf("RDS on a new stream carries %v, want %v", got, routes)
	}

}

// TestPartialTableFollowsSnapshots drives the partial responses through a series of
// snapshots with go-control-plane's own subscription, as the server keeps it: a stream in
// step gets only what changed, a removed resource is not sent and is sent again when it
// comes back, and a stream two snapshots behind gets what changed over both.
func TestPartialTableFollowsSnapshots(t *testing.T) {
	cla := func(name string, port uint32) types.Resource {
		return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: "10.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}}}}}}}}
	}
	var prev *partialTable
	table := func(version string, res ...types.Resource) *partialTable {
		m := map[string]types.Resource{}
		for _, r := range res {
			m[cache.GetResourceName(r)] = r
		}
		tb := newPartialTable(resourcev3.EndpointType, version, m)
		tb.follow(prev)
		prev = tb
		return tb
	}
	sub := newSotwSubscription([]string{"a", "b", "c"}, false, noSharing)
	// get answers a request at version, records what the server would, and returns the
	// names sent (nil: no response).
	get := func(tb *partialTable, version string) []string {
		t.Helper()
		resp := tb.response(&discovery.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, VersionInfo: version,
			ResourceNames: []string{"a", "b", "c"}}, sub)
		if resp == nil {
			return nil
		}
		sub.SetReturnedResources(resp.GetReturnedResources())
		out, err := resp.GetDiscoveryResponse()
		if err != nil {
			t.Fatal(err)
		}
		if out.GetVersionInfo() != tb.version {
			t.Errorf("response version %q, want the table's %q", out.GetVersionInfo(), tb.version)
		}
		names := []string{}
		for _, a := range out.GetResources() {
			m, err := a.UnmarshalNew()
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, nameOf(m))
		}
		return names
	}
	check := func(step string, got []string, want ...string) {
		t.Helper()
		if want == nil && got != nil || !slices.Equal(got, want) {
			t.Errorf("%s: sent %v, want %v", step, got, want)
		}
	}

	v1 := table("v1", cla("a", 1), cla("b", 1), cla("c", 1))
	check("first request", get(v1, ""), "a", "b", "c")
	check("ACK", get(v1, "v1"))
	v2 := table("v2", cla("a", 2), cla("b", 1))
	check("a changed, c removed", get(v2, "v1"), "a")
	check("ACK of v2", get(v2, "v2"))
	v3 := table("v3", cla("a", 2), cla("b", 1), cla("c", 1))
	check("c back, unchanged", get(v3, "v2"), "c")
	table("v4", cla("a", 2), cla("b", 4), cla("c", 1))
	v5 := table("v5", cla("a", 5), cla("b", 4), cla("c", 1))
	check("two snapshots behind", get(v5, "v3"), "a", "b")
	v6 := table("v6", cla("a", 5), cla("b", 4), cla("c", 1))
	check("a new version changing nothing subscribed", get(v6, "v5"), []string{}...)
}

// stockDeltaWatches counts the delta watches open in the stock cache under key (none when
// it has never seen the key: delta watches are answered in nackCache). Callers hold
// s.cache.mu.
func stockDeltaWatches(s *Server, key string) int {
	if info := s.cache.SnapshotCache.GetStatusInfo(key); info != nil {
		return info.GetNumDeltaWatches()
	}
	return 0
}

// TestDeltaWatchesWaitForTheirType: open delta watches wait in nackCache, not in the stock
// cache (which compares every open watch with every snapshot), and a change still reaches
// exactly the watch of the type that changed, with only what changed.
func TestDeltaWatchesWaitForTheirType(t *testing.T) {
	s, addr := startServer(t, Options{})
	mustApply(t, s, onePoolModel(t, 0))
	region := modelgen.RegionNames(2)[0]
	key := region + "/envoy"

	c := newDeltaClient(t, addr, envoyNode("envoy-delta-wait", region))
	ackCDSAndEDS(c)

	// Both ACKs open a watch; wait until both are open, wherever they wait.
	counts := func() (held, stock int) {
		s.cache.mu.Lock()
		defer s.cache.mu.Unlock()
		return len(s.cache.deltaWatches[key]), stockDeltaWatches(s, key)
	}
	adstest.WaitFor(t, "two open delta watches", func() bool { h, st := counts(); return h+st == 2 })
	if held, stock := counts(); held != 2 || stock != 0 {
		t.Fatalf("open delta watches: %d held by nackCache, %d by the stock cache; want 2 and 0", held, stock)
	}

	// One pool changes: EDS carries its load assignment only; CDS does not move.
	mustApply(t, s, onePoolModel(t, 1))
	want := groupVersions(t, s, key)
	next := c.next(resourcev3.EndpointType)
	if got := deltaNames(next); !slices.Equal(got, []string{modelgen.PoolName(0)}) {
		t.Fatalf("delta EDS after a one-pool change carries %v, want only [%s]", got, modelgen.PoolName(0))
	}
	if next.GetSystemVersionInfo() != want[resourcev3.EndpointType] {
		t.Errorf("delta EDS system version %q, want the group's %q", next.GetSystemVersionInfo(), want[resourcev3.EndpointType])
	}
	if n := c.each(resourcev3.ClusterType, 300*time.Millisecond, nil); n != 0 {
		t.Errorf("%d delta CDS responses after an endpoint-only change, want 0", n)
	}
}

// TestDeltaChangeNeedsNoWalk: once delta streams hold a version, a one-pool change reaches
// each with only that pool and their ACKs reopen the watches without comparing a single
// stream with the snapshot resource by resource (deltaTable.since, holdsCurrent).
func TestDeltaChangeNeedsNoWalk(t *testing.T) {
	s, addr := startServer(t, Options{})
	mustApply(t, s, onePoolModel(t, 0))
	region := modelgen.RegionNames(2)[0]
	key := region + "/envoy"
	const n = 8
	clients := make([]*deltaClient, n)
	for i := range clients {
		clients[i] = newDeltaClient(t, addr, envoyNode(fmt.Sprintf("envoy-no-walk-%d", i), region))
		ackCDSAndEDS(clients[i])
	}
	held := func() int {
		s.cache.mu.Lock()
		defer s.cache.mu.Unlock()
		return len(s.cache.deltaWatches[key])
	}
	adstest.WaitFor(t, "every stream's CDS and EDS watch open", func() bool { return held() == 2*n })
	s.cache.mu.Lock()
	walks := s.cache.deltaWalks
	s.cache.mu.Unlock()

	mustApply(t, s, onePoolModel(t, 1))
	for i, c := range clients {
		eds := c.next(resourcev3.EndpointType)
		if got := deltaNames(eds); !slices.Equal(got, []string{modelgen.PoolName(0)}) {
			t.Fatalf("stream %d: EDS after a one-pool change carries %v, want only [%s]", i, got, modelgen.PoolName(0))
		}
		c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: eds.GetNonce()})
	}
	adstest.WaitFor(t, "every stream's watches open again", func() bool { return held() == 2*n })
	s.cache.mu.Lock()
	extra := s.cache.deltaWalks - walks
	s.cache.mu.Unlock()
	if extra != 0 {
		t.Errorf("a one-pool change to %d delta streams and their ACKs took %d walks, want 0", n, extra)
	}
	// Delta and state-of-the-world share one encoding of each load assignment.
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	dt, pt := s.cache.deltaTables[key][resourcev3.EndpointType], s.cache.tables[key][resourcev3.EndpointType]
	if dt == nil || pt == nil || len(dt.resources) == 0 {
		t.Fatalf("no delta (%v) or sotw (%v) EDS table for %s", dt != nil, pt != nil, key)
	}
	for name, r := range dt.resources {
		if it, _ := pt.item(name); r.GetResource() != it.any || r.GetVersion() != it.hash {
			t.Errorf("load assignment %s is encoded or hashed once for delta and again for state of the world", name)
		}
	}
}

// TestDeltaStreamFollowsItsRegionOut: a delta stream whose region leaves the model is
// moved to the group its node now resolves to, although its watches wait in nackCache
// rather than in the stock cache (Apply keeps a key only while it has open watches).
func TestDeltaStreamFollowsItsRegionOut(t *testing.T) {
	s, addr := startServer(t, Options{})
	m, err := modelgen.Load(modelgen.Spec{Pools: 4, BackendsPerPool: 2, Regions: 2})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, m)
	region := modelgen.RegionNames(2)[1]
	key := region + "/envoy"

	c := newDeltaClient(t, addr, envoyNode("envoy-region-out", region))
	eds := ackCDSAndEDS(c)
	adstest.WaitFor(t, "two open delta watches", func() bool {
		s.cache.mu.Lock()
		defer s.cache.mu.Unlock()
		return len(s.cache.deltaWatches[key])+stockDeltaWatches(s, key) == 2
	})

	// The next model has one region: this node's region is gone.
	one, err := modelgen.Load(modelgen.Spec{Pools: 4, BackendsPerPool: 2, Regions: 1})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, one)
	if got := c.next(resourcev3.EndpointType).GetSystemVersionInfo(); got == eds.GetSystemVersionInfo() {
		t.Fatalf("delta EDS after its region left the model has the old version %q", got)
	}
}

// TestEndedStreamsLeaveNoWatches: the watches a sotw and a delta stream wait in here (EDS
// after its ACK) are removed when the streams end, and with the last one its node key.
func TestEndedStreamsLeaveNoWatches(t *testing.T) {
	s, addr := startServer(t, Options{})
	mustApply(t, s, onePoolModel(t, 0))
	region := modelgen.RegionNames(2)[0]
	key := region + "/envoy"
	held := func() (sotw, delta, keys int) {
		s.cache.mu.Lock()
		defer s.cache.mu.Unlock()
		return len(s.cache.watches[key]), len(s.cache.deltaWatches[key]), len(s.cache.watches) + len(s.cache.deltaWatches)
	}

	// The streams end with the subtest.
	t.Run("streams", func(t *testing.T) {
		sc := newSotwClient(t, addr, envoyNode("envoy-sotw-ends", region))
		sc.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
		cds := sc.next(resourcev3.ClusterType)
		sc.ack(cds)
		sc.subscribeExactly(resourcev3.EndpointType, resourceNames(t, cds))

		dc := newDeltaClient(t, addr, envoyNode("envoy-delta-ends", region))
		ackCDSAndEDS(dc)

		adstest.WaitFor(t, "an EDS watch of each stream held here", func() bool { so, de, _ := held(); return so >= 1 && de >= 1 })
	})
	adstest.WaitFor(t, "no watch held once both streams ended", func() bool { _, _, keys := held(); return keys == 0 })
}

// ackCDSAndEDS subscribes c to every cluster and to their load assignments and ACKs
// both, so that each type then waits in a watch; it returns the EDS response.
func ackCDSAndEDS(c *deltaClient) *discovery.DeltaDiscoveryResponse {
	c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	cds := c.next(resourcev3.ClusterType)
	c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: cds.GetNonce()})
	c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: deltaNames(cds)})
	eds := c.next(resourcev3.EndpointType)
	c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: eds.GetNonce()})
	return eds
}
