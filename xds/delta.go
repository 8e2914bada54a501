package xds

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"weak"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// Delta watches are answered here rather than by the stock snapshot cache, with the same
// responses (createDeltaResponse, pkg/cache/v3/delta.go): the same resources, resource
// versions (the snapshot's version map), removals and next version map, and the same rule
// for when to answer (respondDelta, pkg/cache/v3/simple.go). What changes is the cost.
// The stock cache walks every resource of the type for each watch on each snapshot and
// again when each ACK reopens the watch, copies the type's resource map for every walk,
// and marshals every resource it sends per stream: with thousands of streams that was
// most of a delta change's CPU, and most of a delta fleet's connect. Here
//
//   - each type of a snapshot key's snapshot is encoded once (deltaTable), and every
//     stream's response shares those resources;
//   - an ACK that changed no subscription, from a stream that adopted a next version map
//     built here at the current version, waits without a walk: that map is exactly what
//     a walk would compare with (deltaTable.answered);
//   - a watch waiting on a stream that holds exactly the previous version is answered
//     from the names that changed between the two versions, not a walk (deltaTable.since);
//   - a stream that holds every resource of the type (a wildcard, or one subscribing to
//     every name) is handed the snapshot's own version map as its next version map, so
//     such streams share one map rather than each holding a copy.
//
// Anything else (a first request, a subscription change, a stream that fell more than
// one version behind) is answered by a walk over the type, as the stock cache does.

// deltaWatch is an open delta watch, answered when its type's version moves.
type deltaWatch struct {
	req *cache.DeltaRequest
	sub cache.Subscription
	ch  chan cache.DeltaResponse
	// version is its type's version in the snapshot it was last compared with.
	version string
	// exact is set when the stream's returned resources are exactly the next version map
	// a response at version would carry (no other names), so since may answer it.
	exact bool
}

// noSnapshot is a deltaWatch's version before any snapshot: no real version equals it.
const noSnapshot = "\x00none"

// deltaTable is one type of a snapshot key's snapshot as delta streams get it.
type deltaTable struct {
	typeURL, version string
	// versions are the type's resource versions (contentVersion: the first 16 hex digits
	// of the stock cache's, which are 64), and the next version map of every stream that
	// holds all of them; read only once made.
	versions map[string]string
	// names is the state-of-the-world table's set of the same names (nil for a type that
	// has none): a stream whose subscription is this set subscribes to every name.
	names map[string]struct{}
	// resources are the type's resources encoded once, shared by every response.
	resources map[string]*discovery.Resource
	// prev is the version of the table this one replaced (hasPrev), changed are the
	// names it changed or added and removed the names it dropped since then.
	prev             string
	hasPrev          bool
	changed, removed []string
	// answered holds, by identity, the next version maps of the responses built at this
	// version. A stream makes a response's map its returned resources (deltaStream.send),
	// and never writes it: a request that subscribes or unsubscribes makes a new map when
	// it changes what was returned (subscription.updateDelta). The keys are weak: the
	// map of a stream that ended is not kept, and no later map ever equals its key.
	// pruneAt bounds the keys of maps gone (streams that came and went while the version
	// stayed).
	answered map[mapKey]struct{}
	pruneAt  int
	// everything is every resource sorted by name, made on first use: the resources of
	// the first response to each stream that subscribes to all of them, shared (only read).
	everything []*discovery.Resource
}

// mapKey is the identity of a map value, as a weak pointer to the map's header: it does
// not keep the map alive, and a map allocated where a dead one was has another key.
type mapKey = weak.Pointer[byte]

func mapID(m map[string]string) mapKey {
	return weak.Make((*byte)(reflect.ValueOf(m).UnsafePointer()))
}

// minPrune is the least number of keys answered holds before it drops those of maps gone.
const minPrune = 4096

// remember adds next to answered, first dropping the keys of maps gone once there are
// twice as many keys as after the last time.
func (t *deltaTable) remember(next map[string]string) {
	if len(t.answered) >= t.pruneAt {
		for k := range t.answered {
			if k.Value() == nil {
				delete(t.answered, k)
			}
		}
		t.pruneAt = max(minPrune, 2*len(t.answered))
	}
	t.answered[mapID(next)] = struct{}{}
}

// newDeltaTable encodes typeURL of snap. It returns nil when the type cannot be served
// here (unknown to the cache, a resource with a TTL, which the stock cache wraps per
// response, or one that does not marshal); the stock cache answers those watches. shared,
// when not nil, is the same type's state-of-the-world table of the same snapshot: its
// encodings and versions are used rather than made again.
func newDeltaTable(snap cache.ResourceSnapshot, typeURL string, shared *partialTable) *deltaTable {
	if cache.GetResponseType(typeURL) == types.UnknownType {
		return nil
	}
	items := snap.GetResourcesAndTTL(typeURL)
	t := &deltaTable{typeURL: typeURL, version: snap.GetVersion(typeURL), versions: make(map[string]string, len(items)),
		resources: make(map[string]*discovery.Resource, len(items)), answered: map[mapKey]struct{}{},
		pruneAt: minPrune}
	if shared != nil {
		t.names = shared.names
	}
	for name, r := range items {
		if r.TTL != nil {
			return nil
		}
		it, ok := shared.item(name)
		if !ok {
			// Resources are premarshalled (see encode): this is a copy.
			b, err := cache.MarshalResource(r.Resource)
			if err != nil {
				return nil
			}
			it = partialItem{hash: contentVersion(b), any: &anypb.Any{TypeUrl: typeURL, Value: b}}
		}
		t.versions[name] = it.hash
		t.resources[name] = &discovery.Resource{Name: name, Version: it.hash, Resource: it.any}
	}
	return t
}

// diff records what changed since old (nil: none known).
func (t *deltaTable) diff(old *deltaTable) {
	if old == nil {
		return
	}
	t.prev, t.hasPrev = old.version, true
	for name, v := range t.versions {
		if ov, ok := old.versions[name]; !ok || ov != v {
			t.changed = append(t.changed, name)
		}
	}
	for name := range old.versions {
		if _, ok := t.versions[name]; !ok {
			t.removed = append(t.removed, name)
		}
	}
}

// respond is w's response against t, walking the type as the stock cache does, or nil
// when there is nothing to send; then it notes whether w's stream holds exactly t.
func (t *deltaTable) respond(w *deltaWatch) cache.DeltaResponse {
	known := w.sub.ReturnedResources()
	if len(known) == 0 && len(t.versions) > 0 && t.complete(w.sub) {
		// A stream that holds nothing and subscribes to everything (a proxy connecting)
		// is sent every resource: the same sorted list for each, made once.
		return t.first(w)
	}
	var send, removed []string
	var next map[string]string
	if w.sub.IsWildcard() {
		next = t.versions
		for name, v := range t.versions {
			if pv, ok := known[name]; !ok || pv != v {
				send = append(send, name)
			}
		}
		for name := range known {
			if _, ok := t.versions[name]; !ok {
				removed = append(removed, name)
			}
		}
	} else {
		subscribed := w.sub.SubscribedResources()
		all := t.complete(w.sub)
		if all {
			next = t.versions
		} else {
			next = make(map[string]string, len(subscribed))
		}
		for name := range subscribed {
			pv, found := known[name]
			if v, ok := t.versions[name]; ok {
				if pv != v {
					send = append(send, name)
				}
				if !all {
					next[name] = v
				}
			} else if found {
				removed = append(removed, name)
			}
		}
	}
	if resp := t.build(w, send, removed, next); resp != nil {
		return resp
	}
	// Nothing to send: known holds next's names at next's versions, and is next exactly
	// when it holds nothing more.
	w.version, w.exact = t.version, len(known) == len(next)
	return nil
}

// since is the response to w, a watch waiting here, against t when w's stream holds
// exactly t.prev (w.exact): only the names that changed between the two can differ. It
// returns nil when none concerns w; the stream then holds exactly t.
func (t *deltaTable) since(w *deltaWatch) cache.DeltaResponse {
	known := w.sub.ReturnedResources()
	wildcard := w.sub.IsWildcard()
	subscribed := w.sub.SubscribedResources()
	wants := func(name string) bool {
		_, ok := subscribed[name]
		return wildcard || ok
	}
	var send, removed []string
	for _, name := range t.changed {
		if wants(name) {
			send = append(send, name)
		}
	}
	for _, name := range t.removed {
		if _, ok := known[name]; ok && wants(name) {
			removed = append(removed, name)
		}
	}
	if len(send) == 0 && len(removed) == 0 {
		w.version = t.version
		return nil
	}
	// What the stream holds once this is sent: exactly t when it holds everything (the
	// common case, and no copy), otherwise its map with the changes, a copy (its map may
	// be shared).
	if t.complete(w.sub) {
		return t.build(w, send, removed, t.versions)
	}
	next := maps.Clone(known)
	if next == nil {
		next = make(map[string]string, len(send))
	}
	for _, name := range send {
		next[name] = t.versions[name]
	}
	for _, name := range removed {
		delete(next, name)
	}
	return t.build(w, send, removed, next)
}

// build is the response to w carrying send and removing removed, after which the stream
// holds next, or nil when the stock cache would not answer (nothing to send, and not a
// wildcard stream's first request, which is always answered so that Envoy completes its
// initialization).
func (t *deltaTable) build(w *deltaWatch, send, removed []string, next map[string]string) cache.DeltaResponse {
	if len(send) == 0 && len(removed) == 0 && (!w.sub.IsWildcard() || w.req.GetResponseNonce() != "") {
		return nil
	}
	slices.Sort(send)
	slices.Sort(removed)
	out := &discovery.DeltaDiscoveryResponse{SystemVersionInfo: t.version, TypeUrl: t.typeURL,
		Resources: make([]*discovery.Resource, 0, len(send)), RemovedResources: removed}
	for _, name := range send {
		out.Resources = append(out.Resources, t.resources[name])
	}
	t.remember(next)
	return &deltaResponse{req: w.req, resp: out, next: next}
}

// first is the response to w, a stream that holds nothing and subscribes to every
// resource of t: all of them, as a walk would send them (sorted by name), after which it
// holds exactly t.
func (t *deltaTable) first(w *deltaWatch) cache.DeltaResponse {
	if t.everything == nil {
		t.everything = make([]*discovery.Resource, 0, len(t.resources))
		for _, name := range slices.Sorted(maps.Keys(t.resources)) {
			t.everything = append(t.everything, t.resources[name])
		}
	}
	t.remember(t.versions)
	out := &discovery.DeltaDiscoveryResponse{SystemVersionInfo: t.version, TypeUrl: t.typeURL, Resources: t.everything}
	return &deltaResponse{req: w.req, resp: out, next: t.versions}
}

// holdsCurrent reports whether w's stream holds exactly t without a walk: its request
// changed no subscription and acknowledges a response, and its returned resources are a
// next version map built at t's version.
func (t *deltaTable) holdsCurrent(w *deltaWatch) bool {
	if _, ok := t.answered[mapID(w.sub.ReturnedResources())]; !ok {
		return false
	}
	// A request that subscribes may ask for what the map lacks; one that unsubscribes
	// left the map as it was only if it named nothing the stream held.
	if len(w.req.GetResourceNamesSubscribe()) > 0 || len(w.req.GetResourceNamesUnsubscribe()) > 0 {
		return false
	}
	return w.req.GetResponseNonce() != ""
}

// complete reports whether a stream with subscription sub holds every resource of t once
// answered: it is a wildcard, or subscribes to every name (the shared set).
func (t *deltaTable) complete(sub cache.Subscription) bool {
	return sub.IsWildcard() || (t.names != nil && sameMap(sub.SubscribedResources(), t.names))
}

// deltaResponse is a delta response built here. The message is the stream's own (the
// server writes its nonce into it); the resources in it are shared and only read.
type deltaResponse struct {
	req  *discovery.DeltaDiscoveryRequest
	resp *discovery.DeltaDiscoveryResponse
	next map[string]string
}

var _ cache.DeltaResponse = (*deltaResponse)(nil)

func (r *deltaResponse) GetDeltaDiscoveryResponse() (*discovery.DeltaDiscoveryResponse, error) {
	return r.resp, nil
}
func (r *deltaResponse) GetDeltaRequest() *discovery.DeltaDiscoveryRequest { return r.req }
func (r *deltaResponse) GetSystemVersion() (string, error)                 { return r.resp.GetSystemVersionInfo(), nil }
func (r *deltaResponse) GetResponseVersion() string                        { return r.resp.GetSystemVersionInfo() }
func (r *deltaResponse) GetNextVersionMap() map[string]string              { return r.next }
func (r *deltaResponse) GetReturnedResources() map[string]string           { return r.next }
func (r *deltaResponse) GetContext() context.Context                       { return context.Background() }

// CreateDeltaWatch implements cache.ConfigWatcher: it answers at once when the stream
// lacks something of the current snapshot, and otherwise keeps the watch here until its
// type's version moves.
func (c *nackCache) CreateDeltaWatch(req *cache.DeltaRequest, sub cache.Subscription, ch chan cache.DeltaResponse) (func(), error) {
	key := c.hash.ID(req.GetNode())
	w := &deltaWatch{req: req, sub: sub, ch: ch}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.deltaTable(key, req.GetTypeUrl()); t != nil && t.holdsCurrent(w) {
		w.version, w.exact = t.version, true
	} else if c.answerDelta(key, w, t) {
		return func() {}, nil
	}
	return addWatch(&c.mu, &c.deltaWatches, key, w), nil
}

// deltaTable is the table of typeURL in key's current snapshot, made on first use; nil
// without a snapshot, or when the stock cache must answer the type. Callers hold c.mu.
func (c *nackCache) deltaTable(key, typeURL string) *deltaTable {
	snap, err := c.SnapshotCache.GetSnapshot(key)
	if err != nil {
		return nil
	}
	if t, ok := c.deltaTables[key][typeURL]; ok {
		return t
	}
	shared := c.tables[key][typeURL]
	if shared != nil && shared.version != snap.GetVersion(typeURL) {
		shared = nil
	}
	t := newDeltaTable(snap, typeURL, shared)
	if c.deltaTables == nil {
		c.deltaTables = map[string]map[string]*deltaTable{}
	}
	if c.deltaTables[key] == nil {
		c.deltaTables[key] = map[string]*deltaTable{}
	}
	c.deltaTables[key][typeURL] = t
	return t
}

// setDeltaSnapshot replaces key's tables with snap's and answers the watches whose type
// moved. The tables of the types watched are made at once, each diffed against the one it
// replaces; the others are dropped and made again on first use, so a key no delta stream
// uses keeps nothing. Callers hold c.mu and have set snap in the stock cache.
func (c *nackCache) setDeltaSnapshot(key string, snap cache.ResourceSnapshot) {
	old, watches := c.deltaTables[key], c.deltaWatches[key]
	delete(c.deltaTables, key)
	if len(watches) == 0 {
		return
	}
	for w := range watches {
		typeURL := w.req.GetTypeUrl()
		if _, made := c.deltaTables[key][typeURL]; made {
			continue
		}
		if t := c.deltaTable(key, typeURL); t != nil {
			t.diff(old[typeURL])
		}
	}
	for w := range watches {
		if snap.GetVersion(w.req.GetTypeUrl()) == w.version {
			continue
		}
		t := c.deltaTable(key, w.req.GetTypeUrl())
		if t != nil && w.exact && t.hasPrev && w.version == t.prev {
			if resp := t.since(w); resp != nil {
				w.ch <- resp // the server's channel holds a response per type
				delete(watches, w)
			}
			continue
		}
		if c.answerDelta(key, w, t) {
			delete(watches, w)
		}
	}
}

// answerDelta sends w its response against key's current snapshot (t, its table, or nil)
// and reports whether there was one; otherwise it notes what w was compared with.
// Callers hold c.mu.
func (c *nackCache) answerDelta(key string, w *deltaWatch, t *deltaTable) bool {
	if t != nil {
		c.deltaWalks++
		resp := t.respond(w)
		if resp == nil {
			return false
		}
		// The server's channel holds a response per type, and a watch is answered once.
		w.ch <- resp
		return true
	}
	w.version, w.exact = noSnapshot, false
	snap, err := c.SnapshotCache.GetSnapshot(key)
	if err != nil {
		return false
	}
	w.version = snap.GetVersion(w.req.GetTypeUrl())
	// A type this cache cannot encode: the stock cache answers at once into a free slot,
	// or opens a watch of its own, which is closed again: the watch waits here instead.
	tmp := make(chan cache.DeltaResponse, 1)
	cancel, err := c.SnapshotCache.CreateDeltaWatch(w.req, w.sub, tmp)
	if cancel != nil {
		cancel()
	}
	if err != nil {
		return false
	}
	select {
	case resp := <-tmp:
		w.ch <- resp
		return true
	default:
		return false
	}
}
