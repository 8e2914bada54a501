package xds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// nackCache is the snapshot cache, except that
//
//   - a state-of-the-world NACK does not make it resend the rejected version,
//   - state-of-the-world EDS and RDS responses carry only the resources the stream does
//     not hold yet in their current form (partial responses, below), and
//   - wildcard state-of-the-world CDS and LDS requests answered at once share one
//     encoding per snapshot key and version (fullResponse), and
//   - delta watches are answered here, from one encoding per snapshot key, type and
//     version, comparing a stream with the snapshot only when it must (delta.go).
//
// A NACK carries the version the client last *accepted*, which is never the snapshot's
// version, so the stock cache answers it at once with the same rejected resources, and the
// client rejects them again, forever (go-control-plane#962). The callbacks know from the
// NACK's nonce which version was rejected and note it here, keyed by the request, before the
// server calls CreateWatch with that same request (OnStreamRequest runs first). The watch
// is then opened as if the client held the rejected version: it waits for the next
// snapshot of that type, or answers at once if the snapshot has already moved on, or if the
// client subscribed to a resource it was never sent.
//
// Delta needs no NACK handling: the delta subscription records what was sent before the
// client answers, so a NACK finds nothing new to send and the watch waits.
type nackCache struct {
	cache.SnapshotCache
	// hash is the node hash the snapshot cache was built with: the partial watches key
	// their tables the same way.
	hash     cache.NodeHash
	rejected sync.Map // *discovery.DiscoveryRequest → rejected version (string)

	// mu guards tables, watches and full, and orders SetSnapshot against the watches
	// answered here.
	mu sync.Mutex
	// tables is, per snapshot key, the partial types of its current snapshot.
	tables map[string]map[string]*partialTable
	// watches are the open state-of-the-world watches of partial types, per snapshot key.
	watches map[string]map[*partialWatch]struct{}
	// deltaWatches are the open delta watches, per snapshot key (see CreateDeltaWatch).
	deltaWatches map[string]map[*deltaWatch]struct{}
	// deltaTables is, per snapshot key, each type of its current snapshot that delta
	// streams asked for, encoded once (deltaTable).
	deltaTables map[string]map[string]*deltaTable
	// deltaWalks counts delta watches compared with a table by a walk over its type
	// (deltaTable.respond), which the shortcuts spare; tests read it.
	deltaWalks int
	// full is, per snapshot key, the full-state types of its current snapshot encoded
	// once (see fullResponse); a type is added when a stream first asks for it (nil: the
	// stock cache answers that type).
	full map[string]map[string]*fullTable
}

var _ cache.Cache = (*nackCache)(nil)

// partialTypes are the types whose state-of-the-world responses may carry only some
// resources: the xDS protocol makes only LDS and CDS responses full state, and Envoy,
// grpc-go and grpc-js keep the EDS and RDS resources a response leaves out.
var partialTypes = []string{resourcev3.EndpointType, resourcev3.RouteType}

func isPartial(typeURL string) bool { return slices.Contains(partialTypes, typeURL) }

func (c *nackCache) noteRejected(req *discovery.DiscoveryRequest, version string) {
	c.rejected.Store(req, version)
}

func (c *nackCache) forget(req *discovery.DiscoveryRequest) { c.rejected.Delete(req) }

// CreateWatch implements cache.ConfigWatcher.
func (c *nackCache) CreateWatch(req *cache.Request, sub cache.Subscription, ch chan cache.Response) (func(), error) {
	if v, ok := c.rejected.LoadAndDelete(req); ok {
		// A copy: the server keeps the original request as the stream's state.
		held := proto.Clone(req).(*discovery.DiscoveryRequest)
		held.VersionInfo = v.(string)
		req = held
	}
	if isPartial(req.GetTypeUrl()) {
		return c.createPartialWatch(req, sub, ch), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if resp := c.fullResponse(c.hash.ID(req.GetNode()), req, sub); resp != nil {
		// The server's channel holds one response per type: this never blocks.
		ch <- resp
		return func() {}, nil
	}
	return c.SnapshotCache.CreateWatch(req, sub, ch)
}

// SetSnapshot implements cache.SnapshotCache: it also answers the partial watches of node.
func (c *nackCache) SetSnapshot(ctx context.Context, node string, snap cache.ResourceSnapshot) error {
	tables := make(map[string]*partialTable, len(partialTypes))
	for _, t := range partialTypes {
		tables[t] = newPartialTable(t, snap.GetVersion(t), snap.GetResources(t))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.SnapshotCache.SetSnapshot(ctx, node, snap)
	if c.tables == nil {
		c.tables = map[string]map[string]*partialTable{}
	}
	for t, tb := range tables {
		tb.follow(c.tables[node][t])
	}
	c.tables[node] = tables
	delete(c.full, node)
	c.setDeltaSnapshot(node, snap)
	for w := range c.watches[node] {
		if resp := tables[w.req.GetTypeUrl()].response(w.req, w.sub); resp != nil {
			// The server's channel holds one response per type, and a watch is answered
			// once: this never blocks.
			w.ch <- resp
			delete(c.watches[node], w)
		}
	}
	return err
}

// ClearSnapshot implements cache.SnapshotCache. Open partial watches stay: the next
// snapshot of their key answers them.
func (c *nackCache) ClearSnapshot(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.SnapshotCache.ClearSnapshot(node)
	delete(c.tables, node)
	delete(c.full, node)
	delete(c.deltaTables, node)
	for w := range c.deltaWatches[node] {
		w.version, w.exact = noSnapshot, false
	}
}

// GetStatusInfo implements cache.SnapshotCache: the watches waiting here count as open,
// as they would in the stock cache (Apply keeps a key that has open watches).
func (c *nackCache) GetStatusInfo(key string) cache.StatusInfo {
	info := c.SnapshotCache.GetStatusInfo(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	sotw, delta := len(c.watches[key]), len(c.deltaWatches[key])
	if sotw+delta == 0 {
		return info
	}
	return heldStatus{stock: info, sotw: sotw, delta: delta}
}

// GetStatusKeys implements cache.SnapshotCache: also the keys with watches waiting here.
func (c *nackCache) GetStatusKeys() []string {
	keys := c.SnapshotCache.GetStatusKeys()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, held := range []map[string]int{countWatches(c.watches), countWatches(c.deltaWatches)} {
		for k := range held {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

func countWatches[W comparable](m map[string]map[W]struct{}) map[string]int {
	out := make(map[string]int, len(m))
	for k, ws := range m {
		if len(ws) > 0 {
			out[k] = len(ws)
		}
	}
	return out
}

// heldStatus adds the watches waiting in nackCache to the stock cache's status (nil
// when the stock cache has none for the key).
type heldStatus struct {
	stock       cache.StatusInfo
	sotw, delta int
}

func (h heldStatus) GetNode() *corev3.Node {
	if h.stock == nil {
		return nil
	}
	return h.stock.GetNode()
}

func (h heldStatus) GetNumWatches() int {
	if h.stock == nil {
		return h.sotw
	}
	return h.stock.GetNumWatches() + h.sotw
}

func (h heldStatus) GetNumDeltaWatches() int {
	if h.stock == nil {
		return h.delta
	}
	return h.stock.GetNumDeltaWatches() + h.delta
}

func (h heldStatus) GetLastWatchRequestTime() time.Time {
	if h.stock == nil {
		return time.Time{}
	}
	return h.stock.GetLastWatchRequestTime()
}

func (h heldStatus) GetLastDeltaWatchRequestTime() time.Time {
	if h.stock == nil {
		return time.Time{}
	}
	return h.stock.GetLastDeltaWatchRequestTime()
}

// partialWatch is an open state-of-the-world watch of a partial type.
type partialWatch struct {
	req *discovery.DiscoveryRequest
	sub cache.Subscription
	ch  chan cache.Response
}

func (c *nackCache) createPartialWatch(req *discovery.DiscoveryRequest, sub cache.Subscription, ch chan cache.Response) func() {
	key := c.hash.ID(req.GetNode())
	c.mu.Lock()
	defer c.mu.Unlock()
	if resp := c.tables[key][req.GetTypeUrl()].response(req, sub); resp != nil {
		ch <- resp
		return func() {}
	}
	// The watch keeps the request without its names (the subscription has them, shared
	// when they are the snapshot's): an idle EDS stream would otherwise hold a copy of
	// every cluster name.
	held := &discovery.DiscoveryRequest{VersionInfo: req.GetVersionInfo(), Node: req.GetNode(),
		TypeUrl: req.GetTypeUrl(), ResponseNonce: req.GetResponseNonce()}
	w := &partialWatch{req: held, sub: sub, ch: ch}
	return addWatch(&c.mu, &c.watches, key, w)
}

// tableOf is node's current table of typeURL, or nil (not a partial type, or no
// snapshot yet). A table is not changed once published: it is read without the lock.
func (c *nackCache) tableOf(node *corev3.Node, typeURL string) *partialTable {
	if !isPartial(typeURL) {
		return nil
	}
	key := c.hash.ID(node)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tables[key][typeURL]
}

// sharedNames is the set of typeURL's resource names in node's snapshot when set is
// equal to it, so every stream subscribing to all of them holds one set; nil otherwise.
// Only partial types (EDS, RDS) are shared: their streams name every resource, while
// full-state types are mostly wildcards.
func (c *nackCache) sharedNames(node *corev3.Node, typeURL string, set map[string]struct{}) map[string]struct{} {
	t := c.tableOf(node, typeURL)
	if t == nil || len(t.names) != len(set) {
		return nil
	}
	for name := range set {
		if _, ok := t.names[name]; !ok {
			return nil
		}
	}
	return t.names
}

// sharedNameList is sharedNames for a request's list of names: the shared set when the
// list names each of its names exactly once (a name twice means another, smaller set),
// without building a set from the list. within reports that returned is the table's all,
// whose names are the set's.
func (c *nackCache) sharedNameList(node *corev3.Node, typeURL string, names []string, returned map[string]string) (_ map[string]struct{}, within bool) {
	t := c.tableOf(node, typeURL)
	if t == nil || len(t.index) != len(names) {
		return nil, false
	}
	seen := make([]uint64, (len(names)+63)/64)
	for _, name := range names {
		i, ok := t.index[name]
		if !ok || seen[i/64]&(1<<(i%64)) != 0 {
			return nil, false
		}
		seen[i/64] |= 1 << (i % 64)
	}
	return t.names, sameMap(returned, t.all)
}

// addWatch records w under key in *watches (the caller holds mu) and returns the cancel:
// it takes mu and removes w, and key with its last watch.
func addWatch[W comparable](mu *sync.Mutex, watches *map[string]map[W]struct{}, key string, w W) func() {
	if *watches == nil {
		*watches = map[string]map[W]struct{}{}
	}
	if (*watches)[key] == nil {
		(*watches)[key] = map[W]struct{}{}
	}
	(*watches)[key][w] = struct{}{}
	return func() {
		mu.Lock()
		defer mu.Unlock()
		delete((*watches)[key], w)
		if len((*watches)[key]) == 0 {
			delete(*watches, key)
		}
	}
}

// partialTable is one partial type of a snapshot: its version, and each resource
// marshalled once with a hash of its encoding, which tells whether a stream holds it.
type partialTable struct {
	typeURL string
	version string
	items   map[string]partialItem
	// names are the items' names and all each item's name and hash: what a stream
	// subscribing to every item holds once answered. Streams share them (sharedNames;
	// response returns all), which only works because nothing writes them once made.
	// names is the previous table's when the names did not change, so a stream's
	// shared subscription stays recognisable (sameMap) across versions.
	names map[string]struct{}
	all   map[string]string
	// index numbers the names (0 to len-1), to tell a request's list that names each
	// once (sharedNameList); it changes with names. follow makes both.
	index map[string]int
	// prev is the version of the table this one replaced, changed the names it
	// changed or added and removed those it dropped: a stream that holds all it
	// subscribes to at prev needs exactly changed ∩ subscribed.
	prev             string
	changed, removed []string
}

// follow completes t, which replaces old (nil: none known): it records what changed
// since old, and takes old's name set and index when the names are the same (so streams
// subscribed to them keep sharing one set), else makes its own.
func (t *partialTable) follow(old *partialTable) {
	if old != nil {
		t.prev = old.version
		for name, it := range t.items {
			if o, ok := old.items[name]; !ok || o.hash != it.hash {
				t.changed = append(t.changed, name)
			}
		}
		for name := range old.items {
			if _, ok := t.items[name]; !ok {
				t.removed = append(t.removed, name)
			}
		}
		if len(t.removed) == 0 && len(old.items) == len(t.items) {
			t.names, t.index = old.names, old.index
			return
		}
	}
	t.names, t.index = make(map[string]struct{}, len(t.items)), make(map[string]int, len(t.items))
	for name := range t.items {
		t.names[name], t.index[name] = struct{}{}, len(t.index)
	}
}

// item is name's resource encoded with its hash (false: a nil table, or no such resource).
func (t *partialTable) item(name string) (partialItem, bool) {
	if t == nil {
		return partialItem{}, false
	}
	it, ok := t.items[name]
	return it, ok
}

// contentVersion is the version of a resource encoded as b: the first 8 bytes of its
// SHA-256 in hex. Equal content has equal versions on every replica and after a restart;
// the stock cache's delta versions are the whole hash, 64 hex digits, which made up 6 %
// of the bytes a delta proxy receives when it connects.
func contentVersion(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

type partialItem struct {
	hash string
	any  *anypb.Any
}

func newPartialTable(typeURL, version string, resources map[string]types.Resource) *partialTable {
	t := &partialTable{typeURL: typeURL, version: version, items: make(map[string]partialItem, len(resources)),
		all: make(map[string]string, len(resources))}
	opts := proto.MarshalOptions{Deterministic: true}
	for name, r := range resources {
		// Resources are premarshalled (see encode): this is a copy.
		b, err := opts.Marshal(r)
		if err != nil {
			// encode marshalled the same message already; keep the resource out rather
			// than send something else.
			continue
		}
		hash := contentVersion(b)
		t.items[name] = partialItem{hash: hash, any: &anypb.Any{TypeUrl: typeURL, Value: b}}
		t.all[name] = hash
	}
	return t
}

// response is what a stream with subscription sub that sent req gets now, or nil when
// it has nothing to get (a nil table: no snapshot yet).
//
// It carries the subscribed resources the stream was never sent, or was sent in another
// form; sub.ReturnedResources (what the server recorded as sent on this stream, name →
// hash) tells. The server drops a name from it when the client unsubscribes, so a
// resubscribed resource is sent again; a new stream starts empty, so a reconnecting
// client gets every resource it asks for. A request whose version is not the snapshot's
// is answered even with nothing to carry, so every stream ends on the latest version.
// A resource that left the snapshot is not announced (the protocol has no way to in
// state-of-the-world EDS and RDS: the cluster or listener that used it leaves CDS or LDS,
// which are full state); it is forgotten, so it is sent again if it comes back.
func (t *partialTable) response(req *discovery.DiscoveryRequest, sub cache.Subscription) cache.Response {
	if t == nil {
		return nil
	}
	known := sub.ReturnedResources()
	if !sub.IsWildcard() && len(known) == len(sub.SubscribedResources()) {
		// The stream holds every name it subscribes to (the server keeps only subscribed
		// names in known), as of the version it reports: the same version means the same
		// content, so nothing to send, and the previous one means exactly what changed
		// since. These spare a walk over every name on each ACK and each change.
		switch req.GetVersionInfo() {
		case t.version:
			return nil
		case t.prev:
			return t.since(req, sub, known)
		}
	}
	var send []string
	consider := func(name string) {
		if it, ok := t.items[name]; ok && known[name] != it.hash {
			send = append(send, name)
		}
	}
	if sub.IsWildcard() {
		for name := range t.items {
			consider(name)
		}
	} else {
		for name := range sub.SubscribedResources() {
			consider(name)
		}
	}
	if len(send) == 0 && req.GetVersionInfo() == t.version {
		return nil
	}
	slices.Sort(send)
	if t.complete(sub) {
		return t.build(req, send, t.all)
	}
	// What the stream holds once this is sent: what it held, less what left the
	// snapshot, plus what is sent. A copy: the stream's map is shared, and may be
	// dropped with this response unsent.
	returned := maps.Clone(known)
	if returned == nil {
		returned = make(map[string]string, len(send))
	}
	for name := range returned {
		if _, ok := t.items[name]; !ok {
			delete(returned, name)
		}
	}
	return t.build(req, send, t.adding(returned, send))
}

// complete reports whether a stream with subscription sub holds every item of t once
// answered (t.all): it subscribes to every name, or is a wildcard. What it held of other
// names is dropped either way: the subscription keeps only subscribed names, and a
// response forgets those that left the snapshot.
func (t *partialTable) complete(sub cache.Subscription) bool {
	return sub.IsWildcard() || sameMap(sub.SubscribedResources(), t.names)
}

// adding records in returned, a map of the caller's, that send are sent at their hashes.
func (t *partialTable) adding(returned map[string]string, send []string) map[string]string {
	if returned == nil {
		returned = make(map[string]string, len(send))
	}
	for _, name := range send {
		returned[name] = t.items[name].hash
	}
	return returned
}

// since answers a stream that holds, at t.prev, every name it subscribes to.
func (t *partialTable) since(req *discovery.DiscoveryRequest, sub cache.Subscription, known map[string]string) cache.Response {
	subscribed := sub.SubscribedResources()
	var send []string
	for _, name := range t.changed {
		if _, ok := subscribed[name]; ok {
			send = append(send, name)
		}
	}
	slices.Sort(send)
	if t.complete(sub) {
		return t.build(req, send, t.all)
	}
	returned := maps.Clone(known)
	for _, name := range t.removed {
		delete(returned, name)
	}
	return t.build(req, send, t.adding(returned, send))
}

// build is the response carrying send; returned is what the stream holds once it is
// sent (never written again: it may be shared).
func (t *partialTable) build(req *discovery.DiscoveryRequest, send []string, returned map[string]string) cache.Response {
	out := &discovery.DiscoveryResponse{VersionInfo: t.version, TypeUrl: t.typeURL,
		Resources: make([]*anypb.Any, 0, len(send))}
	for _, name := range send {
		out.Resources = append(out.Resources, t.items[name].any)
	}
	return &cache.PassthroughResponse{Request: req, DiscoveryResponse: out, ReturnedResources: returned}
}
