package xds

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/poolpilot/poolpilot/internal/modelgen"
	"github.com/poolpilot/poolpilot/model"
)

// TestStreamsShareSubscriptions: real streams, state-of-the-world and delta, that
// subscribe to every load assignment of their group hold one shared name set and one
// shared returned (or next version) map, the cache's own, rather than a copy each; this is
// what keeps an idle proxy's memory from growing with the model. It stays so after a
// model change, and a stream subscribing to fewer names keeps its own maps.
func TestStreamsShareSubscriptions(t *testing.T) {
	s, addr := startServer(t, Options{})
	modelAt := func(port uint32) *model.Model {
		m, err := modelgen.Load(modelgen.Spec{Pools: 6, BackendsPerPool: 2, Regions: 2})
		if err != nil {
			t.Fatal(err)
		}
		m.Backends[0].Endpoint.Port += port
		return m
	}
	mustApply(t, s, modelAt(0))
	region := modelgen.RegionNames(2)[0]
	key := region + "/envoy"
	s.cache.mu.Lock()
	all := slices.Sorted(maps.Keys(s.cache.tables[key][resourcev3.EndpointType].names))
	s.cache.mu.Unlock()
	if len(all) < 6 {
		t.Fatalf("the group has %d load assignments, want 6 or more", len(all))
	}

	const full = 4
	var sotw []*sotwClient
	var delta []*deltaClient
	for i := range full + 1 {
		names := all
		if i == full {
			names = all[:2] // the one stream that subscribes to fewer
		}
		c := newSotwClient(t, addr, envoyNode(fmt.Sprintf("envoy-share-%d", i), region))
		c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: names})
		sotw = append(sotw, c)
		d := newDeltaClient(t, addr, envoyNode(fmt.Sprintf("envoy-share-delta-%d", i), region))
		d.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType})
		d.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: names})
		delta = append(delta, d)
	}
	ackAll := func() {
		for i, c := range sotw {
			names := all
			if i == full {
				names = all[:2]
			}
			c.ack(c.next(resourcev3.EndpointType), names...)
		}
		for _, d := range delta {
			for _, typeURL := range []string{resourcev3.ClusterType, resourcev3.EndpointType} {
				d.send(&discovery.DeltaDiscoveryRequest{TypeUrl: typeURL, ResponseNonce: d.next(typeURL).GetNonce()})
			}
		}
	}
	// check waits (at most 10 s) until every stream's ACK opened its watch, those of
	// every name at the current version, then checks what each watch's subscription holds.
	check := func(stage string) {
		t.Helper()
		var sotwSubs, deltaEDS, deltaCDS []cache.Subscription
		var tb *partialTable
		var dt, ct *deltaTable
		settled := false
		for range 1000 {
			s.cache.mu.Lock()
			tb = s.cache.tables[key][resourcev3.EndpointType]
			dt, ct = s.cache.deltaTables[key][resourcev3.EndpointType], s.cache.deltaTables[key][resourcev3.ClusterType]
			sotwSubs, deltaEDS, deltaCDS = nil, nil, nil
			current := 0
			for w := range s.cache.watches[key] {
				if w.req.GetResponseNonce() != "" {
					sotwSubs = append(sotwSubs, w.sub)
					if w.req.GetVersionInfo() == tb.version {
						current++
					}
				}
			}
			for w := range s.cache.deltaWatches[key] {
				if w.req.GetResponseNonce() == "" || dt == nil || ct == nil {
					continue
				}
				switch w.req.GetTypeUrl() {
				case resourcev3.EndpointType:
					deltaEDS = append(deltaEDS, w.sub)
					if w.version == dt.version {
						current++
					}
				case resourcev3.ClusterType:
					deltaCDS = append(deltaCDS, w.sub)
				}
			}
			s.cache.mu.Unlock()
			if settled = len(sotwSubs) == full+1 && len(deltaEDS) == full+1 && len(deltaCDS) == full+1 && current >= 2*full; settled {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !settled {
			t.Fatalf("%s: %d state-of-the-world and %d+%d delta watches after ACKs, want %d each",
				stage, len(sotwSubs), len(deltaEDS), len(deltaCDS), full+1)
		}
		shared := func(kind string, subs []cache.Subscription, names map[string]struct{}, returned map[string]string) {
			t.Helper()
			own := 0
			for _, sub := range subs {
				if sameMap(sub.SubscribedResources(), names) != sameMap(sub.ReturnedResources(), returned) {
					t.Errorf("%s %s: a stream shares one of its maps but not the other", stage, kind)
				}
				if !sameMap(sub.ReturnedResources(), returned) {
					own++
					if len(sub.ReturnedResources()) != 2 {
						t.Errorf("%s %s: the stream of two names holds %v", stage, kind, sub.ReturnedResources())
					}
				}
			}
			if own != 1 {
				t.Errorf("%s %s: %d streams hold maps of their own, want only the one subscribing to fewer names", stage, kind, own)
			}
		}
		shared("sotw EDS", sotwSubs, tb.names, tb.all)
		shared("delta EDS", deltaEDS, dt.names, dt.versions)
		// Wildcard streams share one map: the table's, or after a change that left the
		// clusters alone (nothing sent), the one before, equal to it.
		for _, sub := range deltaCDS {
			if !sameMap(sub.ReturnedResources(), deltaCDS[0].ReturnedResources()) || !maps.Equal(sub.ReturnedResources(), ct.versions) {
				t.Errorf("%s delta CDS: a wildcard stream holds a map of its own", stage)
			}
		}
	}
	ackAll()
	check("connected")
	mustApply(t, s, modelAt(1))
	s.cache.mu.Lock()
	changed := s.cache.tables[key][resourcev3.EndpointType].changed
	s.cache.mu.Unlock()
	if len(changed) == 0 {
		t.Fatal("the change changed no load assignment of the group")
	}
	// Every state-of-the-world stream is sent the new version; a delta stream only what
	// changed of its names.
	for i, c := range sotw {
		names := all
		if i == full {
			names = all[:2]
		}
		c.ack(c.next(resourcev3.EndpointType), names...)
	}
	for i, d := range delta {
		if i != full || slices.ContainsFunc(changed, func(n string) bool { return slices.Contains(all[:2], n) }) {
			d.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: d.next(resourcev3.EndpointType).GetNonce()})
		}
	}
	check("after a change")
}

// TestSharedNameListNamesEachOnce: a state-of-the-world request's names share the group's
// set only when they name each of its names exactly once, in any order; a name twice, one
// missing or extra, or the explicit wildcard keeps a set of the stream's own.
func TestSharedNameListNamesEachOnce(t *testing.T) {
	s, _ := startServer(t, Options{})
	m, err := modelgen.Load(modelgen.Spec{Pools: 70, BackendsPerPool: 1, Regions: 2})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, m)
	region := modelgen.RegionNames(2)[0]
	node := envoyNode("envoy-list", region)
	s.cache.mu.Lock()
	shared, tbAll := s.cache.tables[region+"/envoy"][resourcev3.EndpointType].names, s.cache.tables[region+"/envoy"][resourcev3.EndpointType].all
	s.cache.mu.Unlock()
	all := slices.Sorted(maps.Keys(shared))
	if len(all) < 65 {
		t.Fatalf("%d names, want more than 64 (two words of the seen bitmap)", len(all))
	}
	reversed := slices.Clone(all)
	slices.Reverse(reversed)
	twice := slices.Clone(all)
	twice[len(twice)-1] = twice[0]
	for _, c := range []struct {
		what  string
		names []string
		want  bool
	}{
		{"every name", all, true},
		{"every name, reversed", reversed, true},
		{"one name twice, one missing", twice, false},
		{"one missing", all[1:], false},
		{"one extra", append(slices.Clone(all), "other"), false},
		{"the explicit wildcard in place of one", append(slices.Clone(all[1:]), "*"), false},
		{"none", nil, false},
	} {
		got, within := s.cache.sharedNameList(node, resourcev3.EndpointType, c.names, tbAll)
		if (got != nil) != c.want || (got != nil && !sameMap(got, shared)) || within != c.want {
			t.Errorf("%s: shared %v (returned within: %v), want %v", c.what, got != nil, within, c.want)
		}
	}
	// Returned resources of the stream's own are not known to be within the set.
	if _, within := s.cache.sharedNameList(node, resourcev3.EndpointType, all, maps.Clone(tbAll)); within {
		t.Error("a returned map of the stream's own was taken to be within the shared set")
	}
	if set, _ := s.cache.sharedNameList(node, resourcev3.ClusterType, all, nil); set != nil {
		t.Error("a full-state type's names were shared")
	}
}
