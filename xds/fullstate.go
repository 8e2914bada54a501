package xds

import (
	"maps"
	"slices"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// fullTable is one full-state type (CDS, LDS) of a node group's snapshot, encoded once
// for every stream that asks for all of it: the stock cache builds and marshals a
// response per stream, which made rebuilding the same CDS and LDS answer a third of the
// server's CPU when thousands of proxies connect at once.
//
// The resources and returned are shared read-only between streams (a subscription never
// writes its maps); each response is its own message (the stream writes its nonce into it).
type fullTable struct {
	version   string
	resources []*anypb.Any
	returned  map[string]string
}

// newFullTable encodes typ of snap, or returns nil when the stock cache must answer: a
// resource with a TTL (the stock cache wraps it per response) or one that does not marshal.
func newFullTable(snap cache.ResourceSnapshot, typeURL string) *fullTable {
	res := snap.GetResourcesAndTTL(typeURL)
	version := snap.GetVersion(typeURL)
	t := &fullTable{version: version, resources: make([]*anypb.Any, 0, len(res)),
		returned: make(map[string]string, len(res))}
	opts := proto.MarshalOptions{Deterministic: true}
	for _, name := range slices.Sorted(maps.Keys(res)) {
		r := res[name]
		if r.TTL != nil {
			return nil
		}
		// Resources are premarshalled (see encode): this is a copy.
		b, err := opts.Marshal(r.Resource)
		if err != nil {
			return nil
		}
		t.resources = append(t.resources, &anypb.Any{TypeUrl: typeURL, Value: b})
		t.returned[name] = version
	}
	return t
}

// fullResponse answers a wildcard state-of-the-world request of a full-state type at
// once from the shared encoding, when the stock cache would answer it at once too (its
// version is not the snapshot's, or it lacks a resource); otherwise it returns nil and
// the stock cache opens the watch. Callers hold c.mu.
func (c *nackCache) fullResponse(key string, req *discovery.DiscoveryRequest, sub cache.Subscription) cache.Response {
	if len(req.GetResourceNames()) != 0 || !sub.IsWildcard() || !cache.ResourceRequiresFullStateInSotw(req.GetTypeUrl()) {
		return nil
	}
	t, ok := c.full[key][req.GetTypeUrl()]
	if !ok {
		snap, err := c.SnapshotCache.GetSnapshot(key)
		if err != nil {
			return nil
		}
		t = newFullTable(snap, req.GetTypeUrl())
		if c.full == nil {
			c.full = map[string]map[string]*fullTable{}
		}
		if c.full[key] == nil {
			c.full[key] = map[string]*fullTable{}
		}
		c.full[key][req.GetTypeUrl()] = t
	}
	if t == nil {
		return nil
	}
	if req.GetVersionInfo() == t.version {
		known := sub.ReturnedResources()
		lacks := false
		for name := range t.returned {
			if _, ok := known[name]; !ok {
				lacks = true
				break
			}
		}
		if !lacks {
			return nil
		}
	}
	out := &discovery.DiscoveryResponse{VersionInfo: t.version, TypeUrl: req.GetTypeUrl(), Resources: t.resources}
	return &cache.PassthroughResponse{Request: req, DiscoveryResponse: out, ReturnedResources: t.returned}
}
