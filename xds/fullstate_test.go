package xds

import (
	"maps"
	"slices"
	"testing"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/poolpilot/poolpilot/internal/modelgen"
)

// TestFullStateEncodedOnce: wildcard CDS and LDS requests of one node group are answered
// from one encoding of the snapshot (the same resources, each stream its own response
// and returned set), exactly when the stock cache would answer; a stream that holds the
// current version waits in the stock cache and hears of the next snapshot from it, and a
// new snapshot is encoded anew.
func TestFullStateEncodedOnce(t *testing.T) {
	s, _ := startServer(t, Options{})
	mustApply(t, s, onePoolModel(t, 0))
	region := modelgen.RegionNames(2)[0]
	key := region + "/envoy"
	node := envoyNode("envoy-full", region)

	// watch opens a watch as the server does and returns the response given at once (nil:
	// the watch waits), and its cancel.
	watch := func(typeURL, version string, sub *subscription) (cache.Response, func()) {
		t.Helper()
		ch := make(chan cache.Response, 1)
		cancel, err := s.cache.CreateWatch(&discovery.DiscoveryRequest{Node: node, TypeUrl: typeURL, VersionInfo: version}, sub, ch)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-ch:
			return r, cancel
		default:
			return nil, cancel
		}
	}
	discoveryResponse := func(r cache.Response) *discovery.DiscoveryResponse {
		t.Helper()
		out, err := r.GetDiscoveryResponse()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	for _, typeURL := range []string{resourcev3.ClusterType, resourcev3.ListenerType} {
		want := groupVersions(t, s, key)[typeURL]
		subA := newSotwSubscription(nil, true, noSharing)
		subB := newSotwSubscription(nil, true, noSharing)
		ra, _ := watch(typeURL, "", &subA)
		rb, _ := watch(typeURL, "", &subB)
		if ra == nil || rb == nil {
			t.Fatalf("%s: a first request was not answered at once", typeURL)
		}
		a, b := discoveryResponse(ra), discoveryResponse(rb)
		if a == b {
			t.Fatalf("%s: two streams share one response message (the server writes its nonce into it)", typeURL)
		}
		if a.GetVersionInfo() != want || b.GetVersionInfo() != want {
			t.Errorf("%s: versions %q, %q, want the group's %q", typeURL, a.GetVersionInfo(), b.GetVersionInfo(), want)
		}
		if len(a.GetResources()) == 0 || len(a.GetResources()) != len(b.GetResources()) || a.GetResources()[0] != b.GetResources()[0] {
			t.Fatalf("%s: the two responses do not carry one shared encoding (%d and %d resources)",
				typeURL, len(a.GetResources()), len(b.GetResources()))
		}
		names := resourceNames(t, a)
		if !slices.IsSorted(names) || len(names) != len(ra.GetReturnedResources()) {
			t.Errorf("%s: resources %v, returned %v", typeURL, names, ra.GetReturnedResources())
		}
		if !sameMap(ra.GetReturnedResources(), rb.GetReturnedResources()) {
			t.Fatalf("%s: two streams holding the same resources each got their own returned map", typeURL)
		}
		// A stream's later request never writes the shared map (copy on write).
		before := maps.Clone(rb.GetReturnedResources())
		edited := subB
		edited.SetReturnedResources(rb.GetReturnedResources())
		edited.SetResourceSubscription([]string{names[0]})
		if !maps.Equal(rb.GetReturnedResources(), before) || len(edited.ReturnedResources()) != 1 {
			t.Fatalf("%s: a subscription change wrote the shared returned map (or kept too much: %v)",
				typeURL, edited.ReturnedResources())
		}

		// The ACK: the stream holds everything at the current version, so it waits, in the
		// stock cache.
		subA.SetReturnedResources(rb.GetReturnedResources())
		if r, cancel := watch(typeURL, want, &subA); r != nil {
			t.Errorf("%s: an ACK of the current version was answered", typeURL)
		} else {
			if n := s.cache.SnapshotCache.GetStatusInfo(key).GetNumWatches(); n != 1 {
				t.Errorf("%s: %d open watches in the stock cache after the ACK, want 1", typeURL, n)
			}
			cancel()
		}
		// A reconnecting stream reports the current version but holds nothing: answered.
		subC := newSotwSubscription(nil, true, noSharing)
		if r, _ := watch(typeURL, want, &subC); r == nil || len(discoveryResponse(r).GetResources()) != len(names) {
			t.Errorf("%s: a new stream at the current version was not sent every resource", typeURL)
		}
	}

	// A new snapshot drops the encoding; the next request gets the new one.
	s.cache.mu.Lock()
	before := s.cache.full[key][resourcev3.ClusterType]
	s.cache.mu.Unlock()
	if before == nil {
		t.Fatal("no shared CDS encoding for the group")
	}
	m, err := modelgen.Load(modelgen.Spec{Pools: 5, BackendsPerPool: 2, Regions: 2})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, m)
	sub := newSotwSubscription(nil, true, noSharing)
	r, _ := watch(resourcev3.ClusterType, before.version, &sub)
	if r == nil {
		t.Fatal("CDS at the old version was not answered after a change")
	}
	out := discoveryResponse(r)
	if out.GetVersionInfo() == before.version || out.GetVersionInfo() != groupVersions(t, s, key)[resourcev3.ClusterType] {
		t.Errorf("CDS version %q after a change, old %q, want the group's new one", out.GetVersionInfo(), before.version)
	}
	if got := len(out.GetResources()); got != len(before.resources)+1 {
		t.Errorf("CDS after adding a pool carries %d clusters, before %d", got, len(before.resources))
	}
}
