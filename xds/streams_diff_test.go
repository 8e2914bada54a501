package xds

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The stream loop (streams) must answer request for request as go-control-plane's sotw
// and delta servers do. These tests run both side by side over real gRPC streams on
// 127.0.0.1: server "gcp" is serverv3.NewServer, server "own" is newStreams, each on its
// own stock snapshot cache fed the same snapshots, each with a client that performs the
// same seeded random script: ACKs, NACKs, stale, empty, unknown and other types' nonces,
// sotw name lists with "*" or empty, delta subscribe and unsubscribe lists with "*",
// initial_resource_versions, new snapshots that keep or move each type's version, and
// streams that end (closed, refused by a callback, a request without a type, the servers
// stopping) and open again (sometimes refused). After every step the two clients'
// responses are compared (type, version, nonce, resource names and contents, removed
// names), and so are the callbacks each server made (kind, stream, type, nonce, versions,
// names, node) and how each stream ended (gRPC status). streams runs with a share
// function that interns sets of names, and its cache checks that no map it was handed in
// a subscription is written afterwards: streams share them, so they must never change.
//
// Design: no step waits for a response with a sleep, since on a loaded machine "nothing
// came within 50 ms" proves nothing. A step ends at a sync point at which each server
// must be idle, known exactly, never guessed:
//   - every response the cache emitted that the stream must send has reached the client.
//     The cache each server reads is the stock cache with counts (diffCache): a response
//     put in the channel during CreateWatch/CreateDeltaWatch (the stream's own goroutine
//     is in the call, so nothing else takes from the channel meanwhile), or the open
//     watches SetSnapshot answered (the cache drops a watch when, and only when, it
//     answers it).
//   - every request the client sent has been handled. A delta request always makes a new
//     watch, so the number of CreateDeltaWatch calls says it. A sotw request may be
//     ignored (the stale-nonce rule), which leaves no trace, so each sotw step ends with a
//     probe on a type no step uses (secrets), always answered (its version_info is never
//     the snapshot's) and never stale (it carries the probe type's last nonce): the stream
//     handles requests in order, so once the probe's CreateWatch has run, so has every
//     request before it.
// The test sets snapshots only at sync points, or while it holds a request in its
// callback (diffGate): then the watch the request replaces may have a response waiting,
// which a sotw stream must drop unsent (the test knows which types the snapshot answered,
// so how many responses must arrive) and a delta stream must still send.
// Time bounds (diffWait) only turn a hang into a failure. Within a step the order of
// responses to different types is not defined (the cache answers watches in map order,
// and go-control-plane selects among channels at random), so a step's responses are
// compared as sets, and nonces by what they answered: "CDS#3" is the nonce of the third
// CDS response on that stream; the step's raw nonces must be the same set on both sides.

const (
	// diffSeeds scripts of diffSteps steps run per ADS service, half as many per EDS one;
	// POOLPILOT_DIFF_SEEDS=n runs n (a longer hunt).
	diffSeeds = 8
	diffSteps = 500
	diffWait  = 10 * time.Second
	// diffProbe is the type sotw steps probe with; no step subscribes to it.
	diffProbe = resourcev3.SecretType
	// diffAbsent is a resource name no snapshot has.
	diffAbsent = "absent"
)

func diffSeedCount(t *testing.T) int {
	v := os.Getenv("POOLPILOT_DIFF_SEEDS")
	if v == "" {
		return diffSeeds
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 2 {
		t.Fatalf("POOLPILOT_DIFF_SEEDS=%q: want a number of seeds, at least 2", v)
	}
	return n
}

var diffTypes = []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType}

var diffNames = map[string][]string{
	resourcev3.ClusterType:  {"c0", "c1", "c2", "c3"},
	resourcev3.EndpointType: {"c0", "c1", "c2", "c3"},
	resourcev3.ListenerType: {"l0", "l1", "l2"},
	resourcev3.RouteType:    {"r0", "r1", "r2"},
}

func shortType(typeURL string) string {
	switch typeURL {
	case resourcev3.ClusterType:
		return "CDS"
	case resourcev3.EndpointType:
		return "EDS"
	case resourcev3.ListenerType:
		return "LDS"
	case resourcev3.RouteType:
		return "RDS"
	case diffProbe:
		return "SDS"
	}
	return typeURL
}

// diffSpec is one snapshot, as data: per type its version and the variant of each
// resource present. Each cache gets its own Snapshot built from it (a Snapshot computes
// its version map in place, unlocked).
type diffSpec struct {
	versions map[string]string
	items    map[string]map[string]int
}

func diffResource(typeURL, name string, variant int) types.Resource {
	switch typeURL {
	case resourcev3.ClusterType:
		return &clusterv3.Cluster{Name: name, ConnectTimeout: durationpb.New(time.Duration(variant+1) * time.Second)}
	case resourcev3.EndpointType:
		return &endpointv3.ClusterLoadAssignment{ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{Priority: uint32(variant)}}}
	case resourcev3.ListenerType:
		return &listenerv3.Listener{Name: name, StatPrefix: "v" + strconv.Itoa(variant)}
	case resourcev3.RouteType:
		return &routev3.RouteConfiguration{Name: name, MaxDirectResponseBodySizeBytes: wrapperspb.UInt32(uint32(variant))}
	}
	panic("no resource of type " + typeURL)
}

func (sp *diffSpec) build(t *testing.T) *cache.Snapshot {
	t.Helper()
	snap := &cache.Snapshot{}
	for _, typeURL := range diffTypes {
		var res []types.Resource
		for _, name := range slices.Sorted(maps.Keys(sp.items[typeURL])) {
			res = append(res, diffResource(typeURL, name, sp.items[typeURL][name]))
		}
		snap.Resources[cache.GetResponseType(typeURL)] = cache.NewResources(sp.versions[typeURL], res)
	}
	snap.Resources[cache.GetResponseType(diffProbe)] = cache.NewResources("s1", []types.Resource{&tlsv3.Secret{Name: "probe"}})
	if err := snap.ConstructVersionMap(); err != nil {
		t.Fatal(err)
	}
	return snap
}

// nextSpec changes each type's resources and version, or keeps both (a third of the
// time), so some steps leave a type's version as it was.
func nextSpec(r *rand.Rand, prev *diffSpec, seq int) *diffSpec {
	sp := &diffSpec{versions: map[string]string{}, items: map[string]map[string]int{}}
	for _, typeURL := range diffTypes {
		if prev != nil && r.IntN(3) == 0 {
			sp.versions[typeURL], sp.items[typeURL] = prev.versions[typeURL], prev.items[typeURL]
			continue
		}
		sp.versions[typeURL] = "v" + strconv.Itoa(seq)
		items := map[string]int{}
		for _, name := range diffNames[typeURL] {
			if r.IntN(4) > 0 {
				items[name] = r.IntN(3)
			}
		}
		sp.items[typeURL] = items
	}
	return sp
}

// diffCache is the stock snapshot cache with a count of the responses it emitted and of
// the watches it was asked for (see the design above).
type diffCache struct {
	cache.SnapshotCache
	emitted      atomic.Int64
	probeWatches atomic.Int64
	deltaWatches atomic.Int64
	changed      chan struct{}
	// frozen, unless nil, has a check of each map the cache was handed in a subscription:
	// that it still holds what it held then. streams never write such a map (it may be
	// shared); go-control-plane's servers do, so theirs are not checked.
	frozenMu sync.Mutex
	frozen   map[uintptr]func() bool
	// dropped counts the responses emitted that the stream must drop, unsent: those to
	// a watch replaced before its response could be sent.
	dropped atomic.Int64
	// openMu guards open: per type, the sotw watch the cache holds (did not answer at
	// once), and the version its request holds.
	openMu sync.Mutex
	open   map[string]openWatch
	nextID int64
}

type openWatch struct {
	id      int64
	version string
}

func newDiffCache(freeze bool) *diffCache {
	c := &diffCache{SnapshotCache: cache.NewSnapshotCache(false, cache.IDHash{}, nil), changed: make(chan struct{}, 1),
		open: map[string]openWatch{}}
	if freeze {
		c.frozen = map[uintptr]func() bool{}
	}
	return c
}

func (c *diffCache) freeze(sub cache.Subscription) {
	if c.frozen == nil {
		return
	}
	c.frozenMu.Lock()
	defer c.frozenMu.Unlock()
	freezeMap(c.frozen, sub.SubscribedResources())
	freezeMap(c.frozen, sub.ReturnedResources())
}

func freezeMap[V comparable](frozen map[uintptr]func() bool, m map[string]V) {
	if m == nil {
		return
	}
	p := reflect.ValueOf(m).Pointer()
	if _, ok := frozen[p]; ok {
		return
	}
	held := maps.Clone(m)
	frozen[p] = func() bool { return maps.Equal(m, held) }
}

// written counts the maps handed to the cache that have changed since.
func (c *diffCache) written() int {
	c.frozenMu.Lock()
	defer c.frozenMu.Unlock()
	n := 0
	for _, same := range c.frozen {
		if !same() {
			n++
		}
	}
	return n
}

func (c *diffCache) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *diffCache) CreateWatch(req *cache.Request, sub cache.Subscription, ch chan cache.Response) (func(), error) {
	c.freeze(sub)
	before := len(ch)
	cancel, err := c.SnapshotCache.CreateWatch(req, sub, ch)
	answered := len(ch) - before
	c.emitted.Add(int64(answered))
	if err == nil && answered == 0 {
		typeURL := req.GetTypeUrl()
		c.openMu.Lock()
		c.nextID++
		id := c.nextID
		c.open[typeURL] = openWatch{id: id, version: req.GetVersionInfo()}
		c.openMu.Unlock()
		inner := cancel
		cancel = func() {
			inner()
			c.openMu.Lock()
			defer c.openMu.Unlock()
			if c.open[typeURL].id == id {
				delete(c.open, typeURL)
			}
		}
	}
	if req.GetTypeUrl() == diffProbe {
		c.probeWatches.Add(1)
	}
	c.notify()
	return cancel, err
}

func (c *diffCache) CreateDeltaWatch(req *cache.DeltaRequest, sub cache.Subscription, ch chan cache.DeltaResponse) (func(), error) {
	c.freeze(sub)
	before := len(ch)
	cancel, err := c.SnapshotCache.CreateDeltaWatch(req, sub, ch)
	c.emitted.Add(int64(len(ch) - before))
	c.deltaWatches.Add(1)
	c.notify()
	return cancel, err
}

// setSnapshot sets snap for node and counts the watches it answered. Only while node's
// stream is idle (a sync point) or held in a callback: nothing else opens or answers
// node's watches meanwhile.
//
// It returns the types of the sotw watches it answered: the stock cache answers a sotw
// watch when the snapshot's version of its type is not the request's, which the count of
// answered watches confirms.
func (c *diffCache) setSnapshot(t *testing.T, node string, snap *cache.Snapshot) []string {
	t.Helper()
	open := func() (int64, int64) {
		info := c.GetStatusInfo(node)
		if info == nil {
			return 0, 0
		}
		return int64(info.GetNumWatches()), int64(info.GetNumDeltaWatches())
	}
	sotwBefore, deltaBefore := open()
	if err := c.SetSnapshot(context.Background(), node, snap); err != nil {
		t.Fatal(err)
	}
	sotwAfter, deltaAfter := open()
	c.emitted.Add(sotwBefore - sotwAfter + deltaBefore - deltaAfter)
	c.openMu.Lock()
	defer c.openMu.Unlock()
	var answered []string
	for typeURL, w := range c.open {
		if snap.GetVersion(typeURL) != w.version {
			answered = append(answered, typeURL)
			delete(c.open, typeURL)
		}
	}
	if int64(len(answered)) != sotwBefore-sotwAfter {
		t.Fatalf("setting a snapshot answered %d sotw watches, of types %v", sotwBefore-sotwAfter, answered)
	}
	return answered
}

// diffRecorder records the callbacks a server makes, one line each, nonces raw (the
// comparison names them).
type diffRecorder struct {
	mu    sync.Mutex
	calls []diffCall
	// opened has a token for each stream opened.
	opened chan struct{}
	// refuseOpen, when set, has the next stream's open callback refuse it.
	refuseOpen atomic.Bool
	// gate, when armed, holds the next request in its callback (diffGate).
	gateMu sync.Mutex
	gate   *diffGate
}

// diffGate holds a request in its callback (OnStreamRequest, OnStreamDeltaRequest), so
// the test can set a snapshot while the stream is busy with the request: entered is closed once the request is held; closing
// release lets it go on (diffWait at the latest).
type diffGate struct {
	entered, release chan struct{}
}

func (r *diffRecorder) arm() *diffGate {
	g := &diffGate{entered: make(chan struct{}), release: make(chan struct{})}
	r.gateMu.Lock()
	defer r.gateMu.Unlock()
	r.gate = g
	return g
}

func (r *diffRecorder) hold() {
	r.gateMu.Lock()
	g := r.gate
	r.gate = nil
	r.gateMu.Unlock()
	if g == nil {
		return
	}
	close(g.entered)
	select {
	case <-g.release:
	case <-time.After(diffWait):
	}
}

type diffCall struct {
	request bool   // a request (kept in order) rather than a response or open/close
	line    string // with {nonce} where the nonce goes
	nonce   string
}

var _ serverv3.Callbacks = (*diffRecorder)(nil)

func (r *diffRecorder) add(c diffCall) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
}

// take returns the calls recorded since the last take.
func (r *diffRecorder) take() []diffCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

func (r *diffRecorder) OnStreamOpen(_ context.Context, id int64, typeURL string) error {
	r.add(diffCall{request: true, line: fmt.Sprintf("open stream=%d type=%q", id, typeURL)})
	r.opened <- struct{}{}
	if r.refuseOpen.Swap(false) {
		return errDiffRefusedOpen
	}
	return nil
}

func (r *diffRecorder) OnStreamClosed(id int64, node *corev3.Node) {
	r.add(diffCall{request: true, line: fmt.Sprintf("closed stream=%d node=%q", id, node.GetId())})
}

func (r *diffRecorder) OnDeltaStreamOpen(_ context.Context, id int64, typeURL string) error {
	r.add(diffCall{request: true, line: fmt.Sprintf("delta open stream=%d type=%q", id, typeURL)})
	r.opened <- struct{}{}
	if r.refuseOpen.Swap(false) {
		return errDiffRefusedOpen
	}
	return nil
}

func (r *diffRecorder) OnDeltaStreamClosed(id int64, node *corev3.Node) {
	r.add(diffCall{request: true, line: fmt.Sprintf("delta closed stream=%d node=%q", id, node.GetId())})
}

func (r *diffRecorder) OnStreamRequest(id int64, req *discovery.DiscoveryRequest) error {
	r.add(diffCall{request: true, nonce: req.GetResponseNonce(), line: fmt.Sprintf(
		"request stream=%d node=%q %s version=%q nonce={nonce} names=%q nack=%t",
		id, req.GetNode().GetId(), shortType(req.GetTypeUrl()), req.GetVersionInfo(),
		req.GetResourceNames(), req.GetErrorDetail() != nil)})
	r.hold()
	if slices.Contains(req.GetResourceNames(), diffRefuse) {
		return errDiffRefused
	}
	return nil
}

func (r *diffRecorder) OnStreamResponse(_ context.Context, id int64, req *discovery.DiscoveryRequest, resp *discovery.DiscoveryResponse) {
	r.add(diffCall{nonce: resp.GetNonce(), line: fmt.Sprintf(
		"response stream=%d %s (request version=%q names=%q) version=%q nonce={nonce} resources=%d",
		id, shortType(resp.GetTypeUrl()), req.GetVersionInfo(), req.GetResourceNames(),
		resp.GetVersionInfo(), len(resp.GetResources()))})
}

func (r *diffRecorder) OnStreamDeltaRequest(id int64, req *discovery.DeltaDiscoveryRequest) error {
	initial := make([]string, 0, len(req.GetInitialResourceVersions()))
	for name, v := range req.GetInitialResourceVersions() {
		initial = append(initial, name+"@"+v)
	}
	slices.Sort(initial)
	r.add(diffCall{request: true, nonce: req.GetResponseNonce(), line: fmt.Sprintf(
		"delta request stream=%d node=%q %s nonce={nonce} subscribe=%q unsubscribe=%q initial=%q nack=%t",
		id, req.GetNode().GetId(), shortType(req.GetTypeUrl()), req.GetResourceNamesSubscribe(),
		req.GetResourceNamesUnsubscribe(), initial, req.GetErrorDetail() != nil)})
	r.hold()
	if slices.Contains(req.GetResourceNamesSubscribe(), diffRefuse) {
		return errDiffRefused
	}
	return nil
}

func (r *diffRecorder) OnStreamDeltaResponse(id int64, _ *discovery.DeltaDiscoveryRequest, resp *discovery.DeltaDiscoveryResponse) {
	r.add(diffCall{nonce: resp.GetNonce(), line: fmt.Sprintf(
		"delta response stream=%d %s version=%q nonce={nonce} %s",
		id, shortType(resp.GetTypeUrl()), resp.GetSystemVersionInfo(), deltaContent(resp))})
}

func (r *diffRecorder) OnFetchRequest(context.Context, *discovery.DiscoveryRequest) error { return nil }
func (r *diffRecorder) OnFetchResponse(*discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {
}

// diffService is what both servers register: ADS and the per-type EDS service.
type diffService interface {
	discovery.AggregatedDiscoveryServiceServer
	endpointservice.EndpointDiscoveryServiceServer
}

// diffServer is one of the two servers, with its cache, callbacks and a connection to it.
type diffServer struct {
	stop  context.CancelFunc // ends the context the xDS server was made with
	name  string
	cache *diffCache
	rec   *diffRecorder
	conn  *grpc.ClientConn
}

func startDiffServer(t *testing.T, name string, freeze bool, newServer func(context.Context, cache.Cache, serverv3.Callbacks) diffService) *diffServer {
	t.Helper()
	ds := &diffServer{name: name, cache: newDiffCache(freeze), rec: &diffRecorder{opened: make(chan struct{}, 8)}}
	ctx, cancel := context.WithCancel(context.Background())
	ds.stop = cancel
	gs := grpc.NewServer()
	srv := newServer(ctx, ds.cache, ds.rec)
	discovery.RegisterAggregatedDiscoveryServiceServer(gs, srv)
	endpointservice.RegisterEndpointDiscoveryServiceServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(lis)
	}()
	t.Cleanup(func() {
		cancel()
		gs.Stop()
		select {
		case <-served:
		case <-time.After(diffWait):
			t.Errorf("%s: gRPC server did not stop within %s", name, diffWait)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ds.conn = conn
	return ds
}

func startDiffPair(t *testing.T) (gcp, own *diffServer) {
	gcp = startDiffServer(t, "gcp", false, func(ctx context.Context, c cache.Cache, cb serverv3.Callbacks) diffService {
		return serverv3.NewServer(ctx, c, cb)
	})
	own = startDiffServer(t, "own", true, func(ctx context.Context, c cache.Cache, cb serverv3.Callbacks) diffService {
		s := newStreams(ctx, c, cb)
		s.share = (&diffInterner{sets: map[string]map[string]struct{}{}}).share
		return s
	})
	return gcp, own
}

// diffInterner is a share function for streams: one map per set of names of a type, so
// subscriptions share maps as, in serving, those naming all of a snapshot's names do.
type diffInterner struct {
	mu   sync.Mutex
	sets map[string]map[string]struct{}
}

func (in *diffInterner) share(_ *corev3.Node, typeURL string, set map[string]struct{}) map[string]struct{} {
	key := typeURL + "\x00" + strings.Join(slices.Sorted(maps.Keys(set)), "\x00")
	in.mu.Lock()
	defer in.mu.Unlock()
	if shared, ok := in.sets[key]; ok {
		return shared
	}
	in.sets[key] = set
	return set
}

// diffClient is the client half of one stream: a goroutine moves its responses into a
// channel, and it names the nonces it received ("CDS#3").
// diffResp is a discovery response of either protocol.
type diffResp interface {
	GetTypeUrl() string
	GetNonce() string
}

// diffStream is the client end of a stream, and diffOpen opens one.
type diffStream[Req, Resp any] interface {
	Send(Req) error
	Recv() (Resp, error)
	CloseSend() error
}

type diffOpen[Req, Resp any] func(context.Context, *grpc.ClientConn) (diffStream[Req, Resp], error)

type diffClient[Req any, Resp diffResp] struct {
	t       *testing.T
	srv     *diffServer
	send    func(Req) error
	closeTx func() error
	resps   chan Resp
	recvErr error // set before resps is closed
	// received counts the responses received on this server's streams, this and earlier
	// ones, as the cache counts those it emitted.
	received int64
	// watchBase is the number of delta watches made before this stream.
	watchBase int64
	// nonces are the nonces received per type, in order; labels name each.
	nonces map[string][]string
	labels map[string]string
	sent   int64 // requests sent
}

func newDiffClient[Req any, Resp diffResp](t *testing.T, srv *diffServer, open diffOpen[Req, Resp]) *diffClient[Req, Resp] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	str, err := open(ctx, srv.conn)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	// Earlier streams received every response emitted and had every request handled.
	c := &diffClient[Req, Resp]{t: t, srv: srv, send: str.Send, closeTx: str.CloseSend,
		resps: make(chan Resp, 64), nonces: map[string][]string{}, labels: map[string]string{},
		received: srv.cache.emitted.Load() - srv.cache.dropped.Load(), watchBase: srv.cache.deltaWatches.Load()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.resps)
		for {
			resp, err := str.Recv()
			if err != nil {
				c.recvErr = err
				return
			}
			select {
			case c.resps <- resp:
			case <-ctx.Done():
				c.recvErr = ctx.Err()
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(diffWait):
			t.Errorf("%s: stream reader did not end within %s", srv.name, diffWait)
		}
	})
	// The server opens its end when the stream's headers arrive: wait for it, so that
	// its open callback falls in the first step on both sides.
	select {
	case <-srv.rec.opened:
	case <-time.After(diffWait):
		t.Fatalf("%s: the server did not open the stream within %s", srv.name, diffWait)
	}
	return c
}

// note names a received response's nonce.
func (c *diffClient[Req, Resp]) note(typeURL, nonce string) {
	c.received++
	c.nonces[typeURL] = append(c.nonces[typeURL], nonce)
	c.labels[nonce] = fmt.Sprintf("%s#%d", shortType(typeURL), len(c.nonces[typeURL]))
}

// label is what a nonce answered, or the raw nonce when it answered nothing.
func (c *diffClient[Req, Resp]) label(nonce string) string {
	if l, ok := c.labels[nonce]; ok {
		return l
	}
	return "raw:" + strconv.Quote(nonce)
}

// last is the last nonce received for typeURL ("" before one).
func (c *diffClient[Req, Resp]) last(typeURL string) string {
	n := c.nonces[typeURL]
	if len(n) == 0 {
		return ""
	}
	return n[len(n)-1]
}

func (c *diffClient[Req, Resp]) request(req Req) {
	c.t.Helper()
	if err := c.send(req); err != nil {
		c.t.Fatalf("%s: send: %v", c.srv.name, err)
	}
	c.sent++
}

// sync receives until handled reports true and every response the cache emitted has
// arrived, and returns what arrived, at most diffWait later.
func (c *diffClient[Req, Resp]) sync(step int, handled func() bool) []Resp {
	c.t.Helper()
	deadline := time.NewTimer(diffWait)
	defer deadline.Stop()
	var got []Resp
	for {
		// handled first: the cache counts a watch's emitted response before the watch,
		// so once handled() holds, emitted counts all the requests handled emitted.
		done := handled()
		emitted := c.srv.cache.emitted.Load() - c.srv.cache.dropped.Load()
		if c.received > emitted {
			c.t.Fatalf("step %d: %s: received %d responses, the cache emitted %d that the stream must send", step, c.srv.name, c.received, emitted)
		}
		if done && c.received == emitted {
			if n := c.srv.cache.written(); n > 0 {
				c.t.Fatalf("step %d: %s: %d subscription map(s) changed after the cache was handed them", step, c.srv.name, n)
			}
			return got
		}
		select {
		case resp, ok := <-c.resps:
			if !ok {
				c.t.Fatalf("step %d: %s: stream ended: %v", step, c.srv.name, c.recvErr)
			}
			c.note(resp.GetTypeUrl(), resp.GetNonce())
			got = append(got, resp)
		case <-c.srv.cache.changed:
		case <-deadline.C:
			// Fewer received than emitted: a response was lost, or a watch of an ended
			// stream was answered (its stream did not cancel it).
			c.t.Fatalf("step %d: %s: not in sync after %s: received %d of the %d responses the cache emitted; %d requests sent on this stream, %d sotw probes and %d delta watches handled",
				step, c.srv.name, diffWait, c.received, emitted, c.sent, c.srv.cache.probeWatches.Load(), c.srv.cache.deltaWatches.Load())
		}
	}
}

// calls are the callbacks since the last step, nonces named: requests in order, then
// responses sorted (their order within a step is not defined).
func (c *diffClient[Req, Resp]) calls() []string {
	var reqs, resps []string
	for _, call := range c.srv.rec.take() {
		line := strings.ReplaceAll(call.line, "{nonce}", c.label(call.nonce))
		if call.request {
			reqs = append(reqs, line)
		} else {
			resps = append(resps, line)
		}
	}
	slices.Sort(resps)
	return append(reqs, resps...)
}

// finish waits for the stream to end, and returns the responses that came before and
// how it ended.
func (c *diffClient[Req, Resp]) finish(step int) ([]Resp, string) {
	c.t.Helper()
	deadline := time.NewTimer(diffWait)
	defer deadline.Stop()
	var got []Resp
	for {
		select {
		case resp, ok := <-c.resps:
			if !ok {
				if c.recvErr == io.EOF {
					return got, "EOF"
				}
				st := grpcstatus.Convert(c.recvErr)
				return got, fmt.Sprintf("%s: %s", st.Code(), st.Message())
			}
			c.note(resp.GetTypeUrl(), resp.GetNonce())
			got = append(got, resp)
		case <-deadline.C:
			c.t.Fatalf("step %d: %s: stream did not end within %s", step, c.srv.name, diffWait)
		}
	}
}

// diffEndings are the ways a script ends a stream: the client closes it, a callback
// refuses a request, or (ADS only) a request names no type.
var diffEndings = []string{"close", "refused", "no type"}

// diffEnding picks a way to end a stream.
func diffEnding(r *rand.Rand, perType bool) string {
	if perType {
		// A per-type stream fills in a missing type.
		return diffEndings[r.IntN(2)]
	}
	return diffEndings[r.IntN(len(diffEndings))]
}

// diffRefuse is the resource name whose request the callbacks refuse.
const diffRefuse = "refuse"

var (
	errDiffRefused     = grpcstatus.Error(codes.PermissionDenied, "refused by the test")
	errDiffRefusedOpen = grpcstatus.Error(codes.Unauthenticated, "stream refused by the test")
)

// diffStop is the ending of a script's last stream that stops the servers: their
// context ends.
const diffStop = "server stops"

func anyDigest(b []byte) string {
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 16)
}

// compareStep fails the test when the two sides' responses or callbacks differ.
func compareStep(t *testing.T, step int, what string, gcpResps, ownResps, gcpCalls, ownCalls []string, gcpNonces, ownNonces []string) {
	t.Helper()
	compareEnd(t, step, what, gcpResps, ownResps, gcpCalls, ownCalls, gcpNonces, ownNonces, "", "")
}

// compareEnd is compareStep for a step that ended the streams, as gcpEnd and ownEnd say.
func compareEnd(t *testing.T, step int, what string, gcpResps, ownResps, gcpCalls, ownCalls []string, gcpNonces, ownNonces []string, gcpEnd, ownEnd string) {
	t.Helper()
	sortNonces := func(n []string) []string {
		n = slices.Clone(n)
		slices.SortFunc(n, func(a, b string) int {
			x, _ := strconv.Atoi(a)
			y, _ := strconv.Atoi(b)
			return x - y
		})
		return n
	}
	slices.Sort(gcpResps)
	slices.Sort(ownResps)
	if !slices.Equal(gcpResps, ownResps) || !slices.Equal(sortNonces(gcpNonces), sortNonces(ownNonces)) {
		t.Fatalf("step %d (%s): responses differ\ngo-control-plane (nonces %v):\n  %s\nstreams (nonces %v):\n  %s",
			step, what, sortNonces(gcpNonces), strings.Join(gcpResps, "\n  "), sortNonces(ownNonces), strings.Join(ownResps, "\n  "))
	}
	if gcpEnd != ownEnd {
		t.Fatalf("step %d (%s): streams ended differently\ngo-control-plane: %s\nstreams: %s", step, what, gcpEnd, ownEnd)
	}
	if !slices.Equal(gcpCalls, ownCalls) {
		t.Fatalf("step %d (%s): callbacks differ\ngo-control-plane:\n  %s\nstreams:\n  %s",
			step, what, strings.Join(gcpCalls, "\n  "), strings.Join(ownCalls, "\n  "))
	}
}

// randomNames is a sotw resource_names list, or a delta subscribe list: empty a quarter
// of the time, else some of typeURL's names, maybe a name no snapshot has, maybe "*".
func randomNames(r *rand.Rand, typeURL string, emptyOdds int) []string {
	if r.IntN(emptyOdds) == 0 {
		return nil
	}
	var names []string
	for _, name := range append(slices.Clone(diffNames[typeURL]), diffAbsent) {
		if r.IntN(2) == 0 {
			names = append(names, name)
		}
	}
	if r.IntN(5) == 0 {
		names = append(names, explicitWildcard)
		r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	}
	return names
}

// diffStats counts a script's steps by kind, and those answered.
type diffStats map[string][2]int

func (s diffStats) add(what string, responses int) {
	if strings.HasPrefix(what, "snapshot") {
		what = "snapshot"
	}
	c := s[what]
	c[1]++
	if responses > 0 {
		c[0]++
	}
	s[what] = c
}

func (s diffStats) String() string {
	var out []string
	for _, what := range slices.Sorted(maps.Keys(s)) {
		out = append(out, fmt.Sprintf("%s %d/%d", what, s[what][0], s[what][1]))
	}
	return strings.Join(out, ", ")
}

var diffNack = &rpcstatus.Status{Code: 3, Message: "rejected by the test"}

// ---- state of the world ----

type sotwDiffClient = diffClient[*discovery.DiscoveryRequest, *discovery.DiscoveryResponse]

func openSotwADS(ctx context.Context, conn *grpc.ClientConn) (diffStream[*discovery.DiscoveryRequest, *discovery.DiscoveryResponse], error) {
	return discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
}

func sotwLines(c *sotwDiffClient, resps []*discovery.DiscoveryResponse) (lines, nonces []string) {
	for _, resp := range resps {
		var res []string
		for _, a := range resp.GetResources() {
			m, err := a.UnmarshalNew()
			if err != nil {
				c.t.Fatalf("%s: %s resource: %v", c.srv.name, shortType(resp.GetTypeUrl()), err)
			}
			res = append(res, cache.GetResourceName(m)+"="+anyDigest(a.GetValue()))
		}
		slices.Sort(res)
		lines = append(lines, fmt.Sprintf("%s version=%q nonce=%s resources=%v",
			shortType(resp.GetTypeUrl()), resp.GetVersionInfo(), c.label(resp.GetNonce()), res))
		nonces = append(nonces, resp.GetNonce())
	}
	return lines, nonces
}

// nonceRef says which nonce a request carries, the same on both sides though the raw
// nonces may differ: the i-th received for a type (-1: the last), none, or one never sent.
type nonceRef struct {
	typeURL string
	index   int
	raw     string
	useRaw  bool
}

func (n nonceRef) resolve(nonces map[string][]string) string {
	if n.useRaw {
		return n.raw
	}
	got := nonces[n.typeURL]
	switch {
	case len(got) == 0:
		return ""
	case n.index < 0 || n.index >= len(got):
		return got[len(got)-1]
	}
	return got[n.index]
}

// versionRef says which version_info a request carries: that of the i-th response
// received for its type (-1: the last, -2: the one before), or raw.
type versionRef struct {
	index int
	raw   string
}

// sotwStep is one step of a state-of-the-world script: a request, or a new snapshot.
type sotwStep struct {
	what     string
	snapshot *diffSpec
	typeURL  string // "" on a per-type stream: the server fills it in
	respType string // the type the request is about
	names    []string
	version  versionRef
	nonce    nonceRef
	nack     bool
	end      string // one of diffEndings: the step ends the stream, and the next opens one
	// during, when set, is a snapshot set while the stream is held in the request's
	// callback, so that the watch the request replaces may have an unsent response.
	during *diffSpec
}

type sotwScript struct {
	r       *rand.Rand
	types   []string
	perType bool
	spec    *diffSpec
	seq     int
	opened  map[string]bool
	names   map[string][]string // the names each type's last accepted-looking request named
	// received counts the responses received per type (equal on both sides, or the
	// test has failed).
	received map[string]int
}

// newStream forgets what the script knew of the stream that ended.
func (s *sotwScript) newStream() {
	s.opened, s.names, s.received = map[string]bool{}, map[string][]string{}, map[string]int{}
}

func (s *sotwScript) next() sotwStep {
	r := s.r
	if r.IntN(60) == 0 {
		return sotwStep{what: "end", end: diffEnding(r, s.perType)}
	}
	if r.IntN(7) == 0 || (s.spec == nil && r.IntN(3) == 0) {
		s.seq++
		s.spec = nextSpec(r, s.spec, s.seq)
		return sotwStep{what: "snapshot " + strconv.Itoa(s.seq), snapshot: s.spec}
	}
	typeURL := s.types[r.IntN(len(s.types))]
	// Only once there is a snapshot may a request be held while another is set: the
	// probe's watches are then answered at once, so none is open for it to answer.
	held := s.opened[typeURL] && s.spec != nil && r.IntN(10) == 0
	step := s.request(typeURL)
	step.respType = typeURL
	if held {
		// Whatever its nonce, the request replaces its type's watch if the snapshot
		// answers that watch: the watch is open only while no response was sent on it,
		// and then the stream takes any request of the type.
		s.seq++
		s.spec = nextSpec(r, s.spec, s.seq)
		step.what, step.during = step.what+", held while a snapshot is set", s.spec
	}
	if s.perType && r.IntN(2) == 0 {
		step.typeURL = ""
	}
	return step
}

func (s *sotwScript) request(typeURL string) sotwStep {
	r := s.r
	last := nonceRef{typeURL: typeURL, index: -1}
	if !s.opened[typeURL] {
		s.opened[typeURL] = true
		s.names[typeURL] = randomNames(r, typeURL, 4)
		step := sotwStep{what: "first request", typeURL: typeURL, names: s.names[typeURL], version: versionRef{raw: ""},
			nonce: nonceRef{useRaw: true}}
		if r.IntN(4) == 0 {
			step.what, step.version = "first request with a version", versionRef{raw: "v" + strconv.Itoa(r.IntN(s.seq+1))}
		}
		return step
	}
	switch k := r.IntN(20); {
	case k < 6:
		return sotwStep{what: "ACK", typeURL: typeURL, names: s.names[typeURL], version: versionRef{index: -1}, nonce: last}
	case k < 9:
		return sotwStep{what: "NACK", typeURL: typeURL, names: s.names[typeURL], version: versionRef{index: -2}, nonce: last, nack: true}
	case k < 13:
		step := sotwStep{what: "stale nonce", typeURL: typeURL, names: randomNames(r, typeURL, 4), version: versionRef{index: -1}}
		switch n := s.received[typeURL]; {
		case n >= 2 && r.IntN(2) == 0:
			step.what, step.nonce = "older nonce", nonceRef{typeURL: typeURL, index: r.IntN(n - 1)}
		case r.IntN(3) == 0:
			step.what, step.nonce = "empty nonce", nonceRef{useRaw: true}
		case r.IntN(2) == 0:
			step.what, step.nonce = "unknown nonce", nonceRef{useRaw: true, raw: "no-such-nonce"}
		default:
			// A nonce this stream sent for another type (the probe's, on a per-type stream).
			others := slices.DeleteFunc(append(slices.Clone(s.types), diffProbe), func(o string) bool { return o == typeURL })
			other := others[r.IntN(len(others))]
			step.what, step.nonce = "nonce of "+shortType(other), nonceRef{typeURL: other, index: -1}
		}
		return step
	default:
		s.names[typeURL] = randomNames(r, typeURL, 4)
		step := sotwStep{what: "new names", typeURL: typeURL, names: s.names[typeURL], version: versionRef{index: -1}, nonce: last}
		if r.IntN(4) == 0 {
			step.what, step.version = "new names, no version", versionRef{raw: ""}
		}
		return step
	}
}

// sotwRequest is step's request as c sends it (with its own nonces and versions).
func sotwRequest(c *sotwDiffClient, versions map[string][]string, step sotwStep, node *corev3.Node) *discovery.DiscoveryRequest {
	req := &discovery.DiscoveryRequest{Node: node, TypeUrl: step.typeURL, ResourceNames: step.names,
		ResponseNonce: step.nonce.resolve(c.nonces)}
	if v := versions[step.respType]; step.version.index < 0 && len(v) >= -step.version.index {
		req.VersionInfo = v[len(v)+step.version.index]
	} else {
		req.VersionInfo = step.version.raw
	}
	if step.nack {
		req.ErrorDetail = diffNack
	}
	return req
}

func TestStreamsDiffSotwADS(t *testing.T) {
	for seed := range diffSeedCount(t) {
		t.Run(fmt.Sprintf("seed=%d", seed+1), func(t *testing.T) {
			runSotwDiff(t, uint64(seed+1), "diff-sotw-ads", diffTypes, openSotwADS)
		})
	}
}

// TestStreamsDiffSotwEDS runs the script on the per-type EDS service. Its probe is a
// secrets request on the EDS stream: neither server checks the type URL a per-type
// stream's request names (they fill in only an empty one).
func TestStreamsDiffSotwEDS(t *testing.T) {
	for seed := range diffSeedCount(t) / 2 {
		t.Run(fmt.Sprintf("seed=%d", seed+1), func(t *testing.T) {
			runSotwDiff(t, uint64(seed+1), "diff-sotw-eds", []string{resourcev3.EndpointType}, openSotwEDS)
		})
	}
}

func openSotwEDS(ctx context.Context, conn *grpc.ClientConn) (diffStream[*discovery.DiscoveryRequest, *discovery.DiscoveryResponse], error) {
	return endpointservice.NewEndpointDiscoveryServiceClient(conn).StreamEndpoints(ctx)
}

func runSotwDiff(t *testing.T, seed uint64, nodeID string, typeURLs []string, open diffOpen[*discovery.DiscoveryRequest, *discovery.DiscoveryResponse]) {
	gcp, own := startDiffPair(t)
	stats := diffStats{}
	var sides []*sotwDiffClient
	first := true // the next request is its stream's first, and carries the node
	openSides := func(step int, refuse bool) {
		if refuse {
			// A stream the open callback refuses, first: both servers must end it alike.
			gcp.rec.refuseOpen.Store(true)
			own.rec.refuseOpen.Store(true)
			refused := []*sotwDiffClient{newDiffClient(t, gcp, open), newDiffClient(t, own, open)}
			endSides(t, step, "open refused", refused, nil, sotwLines)
			stats.add("open refused", 0)
		}
		sides, first = []*sotwDiffClient{newDiffClient(t, gcp, open), newDiffClient(t, own, open)}, true
	}
	openSides(0, false)
	versions := []map[string][]string{{}, {}}
	probes := 0
	script := &sotwScript{r: rand.New(rand.NewPCG(seed, 0x5eed)), types: typeURLs, perType: len(typeURLs) == 1}
	script.newStream()
	for i := range diffSteps {
		step := script.next()
		if i == diffSteps-1 && step.end == "" {
			step = sotwStep{what: "end", end: diffEnding(script.r, script.perType)}
			if script.r.IntN(4) == 0 {
				step.end = diffStop
			}
		}
		var node *corev3.Node
		if first && step.snapshot == nil {
			node, first = &corev3.Node{Id: nodeID}, false
		}
		var resps [2][]*discovery.DiscoveryResponse
		switch {
		case step.end != "":
			typeURL := typeURLs[0]
			if script.perType {
				typeURL = ""
			}
			act := endBy[*discovery.DiscoveryRequest, *discovery.DiscoveryResponse](t, step.end,
				func() *discovery.DiscoveryRequest {
					return &discovery.DiscoveryRequest{Node: node, TypeUrl: typeURL, ResourceNames: []string{diffRefuse}}
				},
				func() *discovery.DiscoveryRequest {
					return &discovery.DiscoveryRequest{Node: node, ResourceNames: []string{"c0"}}
				})
			stats.add("end: "+step.end, endSides(t, i, "end the stream: "+step.end, sides, act, sotwLines))
			script.newStream()
			if i < diffSteps-1 {
				openSides(i, script.r.IntN(4) == 0)
			}
			continue
		case step.snapshot != nil:
			for k, c := range sides {
				c.srv.cache.setSnapshot(t, nodeID, step.snapshot.build(t))
				resps[k] = c.sync(i, func() bool { return true })
			}
		default:
			probes++
			for k, c := range sides {
				var g *diffGate
				if step.during != nil {
					g = c.srv.rec.arm()
				}
				c.request(sotwRequest(c, versions[k], step, node))
				if g != nil {
					select {
					case <-g.entered:
					case <-time.After(diffWait):
						t.Fatalf("step %d: %s: the request did not reach its callback within %s", i, c.srv.name, diffWait)
					}
					// A response the snapshot makes for the watch the request replaces is
					// never sent.
					if slices.Contains(c.srv.cache.setSnapshot(t, nodeID, step.during.build(t)), step.respType) {
						c.srv.cache.dropped.Add(1)
					}
					close(g.release)
				}
				c.request(&discovery.DiscoveryRequest{TypeUrl: diffProbe, VersionInfo: "probe",
					ResponseNonce: c.last(diffProbe)})
				want := int64(probes)
				resps[k] = c.sync(i, func() bool { return c.srv.cache.probeWatches.Load() == want })
			}
		}
		var lines, nonces, calls [2][]string
		for k, c := range sides {
			lines[k], nonces[k] = sotwLines(c, resps[k])
			calls[k] = c.calls()
			for _, resp := range resps[k] {
				versions[k][resp.GetTypeUrl()] = append(versions[k][resp.GetTypeUrl()], resp.GetVersionInfo())
			}
		}
		what := step.what
		if step.respType != "" {
			what = fmt.Sprintf("%s %s names=%q", shortType(step.respType), step.what, step.names)
		}
		compareStep(t, i, what, lines[0], lines[1], calls[0], calls[1], nonces[0], nonces[1])
		answered := 0
		for _, resp := range resps[0] {
			script.received[resp.GetTypeUrl()]++
			if resp.GetTypeUrl() != diffProbe {
				answered++
			}
		}
		stats.add(step.what, answered)
	}
	t.Logf("%d steps alike, %d responses dropped unsent; steps (with a response/all): %s", diffSteps, gcp.cache.dropped.Load(), stats)
}

// ---- delta ----

type deltaDiffClient = diffClient[*discovery.DeltaDiscoveryRequest, *discovery.DeltaDiscoveryResponse]

func openDeltaADS(ctx context.Context, conn *grpc.ClientConn) (diffStream[*discovery.DeltaDiscoveryRequest, *discovery.DeltaDiscoveryResponse], error) {
	return discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
}

func openDeltaEDS(ctx context.Context, conn *grpc.ClientConn) (diffStream[*discovery.DeltaDiscoveryRequest, *discovery.DeltaDiscoveryResponse], error) {
	return endpointservice.NewEndpointDiscoveryServiceClient(conn).DeltaEndpoints(ctx)
}

// deltaContent is a delta response's resources (name, version, content) and removed
// names, sorted.
func deltaContent(resp *discovery.DeltaDiscoveryResponse) string {
	var res []string
	for _, r := range resp.GetResources() {
		// The version's first 16 characters: enough to tell versions of one resource apart.
		v := r.GetVersion()
		res = append(res, r.GetName()+"@"+v[:min(len(v), 16)]+"="+anyDigest(r.GetResource().GetValue()))
	}
	slices.Sort(res)
	removed := slices.Sorted(slices.Values(resp.GetRemovedResources()))
	return fmt.Sprintf("resources=%v removed=%q", res, removed)
}

func deltaLines(c *deltaDiffClient, resps []*discovery.DeltaDiscoveryResponse) (lines, nonces []string) {
	for _, resp := range resps {
		lines = append(lines, fmt.Sprintf("%s version=%q nonce=%s %s",
			shortType(resp.GetTypeUrl()), resp.GetSystemVersionInfo(), c.label(resp.GetNonce()), deltaContent(resp)))
		nonces = append(nonces, resp.GetNonce())
	}
	return lines, nonces
}

// deltaStep is one step of a delta script: a request, or a new snapshot.
type deltaStep struct {
	what        string
	snapshot    *diffSpec
	typeURL     string // "" on a per-type stream: the server fills it in
	respType    string // the type the request is about
	subscribe   []string
	unsubscribe []string
	initial     map[string]string
	nonce       nonceRef
	nack        bool
	end         string // one of diffEndings: the step ends the stream, and the next opens one
	// during, when set, is a snapshot set while the stream is held in the request's
	// callback: its responses wait while the request replaces its type's watch.
	during *diffSpec
}

type deltaScript struct {
	r        *rand.Rand
	types    []string
	perType  bool
	spec     *diffSpec
	versions *cache.Snapshot // spec built, for the resource versions a client may hold
	seq      int
	opened   map[string]bool
	received map[string]int
}

// newStream forgets what the script knew of the stream that ended.
func (s *deltaScript) newStream() {
	s.opened, s.received = map[string]bool{}, map[string]int{}
}

func (s *deltaScript) next(t *testing.T) deltaStep {
	r := s.r
	if r.IntN(60) == 0 {
		return deltaStep{what: "end", end: diffEnding(r, s.perType)}
	}
	if r.IntN(7) == 0 || (s.spec == nil && r.IntN(3) == 0) {
		s.seq++
		s.spec = nextSpec(r, s.spec, s.seq)
		s.versions = s.spec.build(t)
		return deltaStep{what: "snapshot " + strconv.Itoa(s.seq), snapshot: s.spec}
	}
	typeURL := s.types[r.IntN(len(s.types))]
	step := deltaStep{typeURL: typeURL, respType: typeURL, nonce: nonceRef{typeURL: typeURL, index: -1}}
	if s.perType && r.IntN(2) == 0 {
		step.typeURL = ""
	}
	if !s.opened[typeURL] {
		s.opened[typeURL] = true
		step.what, step.nonce = "first request", nonceRef{useRaw: true}
		step.subscribe = randomNames(r, typeURL, 3)
		if r.IntN(5) == 0 {
			step.unsubscribe = randomNames(r, typeURL, 2)
		}
		step.initial = s.initialVersions(typeURL)
		return step
	}
	held := r.IntN(10) == 0
	switch k := r.IntN(20); {
	case k < 6:
		step.what = "ACK"
	case k < 9:
		step.what, step.nack = "NACK", true
	default:
		step.what = "subscribe/unsubscribe"
		step.subscribe = randomNames(r, typeURL, 3)
		step.unsubscribe = randomNames(r, typeURL, 3)
		switch n := s.received[typeURL]; {
		case r.IntN(7) == 0:
			step.what, step.nonce = step.what+", empty nonce", nonceRef{useRaw: true}
		case n >= 2 && r.IntN(6) == 0:
			step.what, step.nonce = step.what+", older nonce", nonceRef{typeURL: typeURL, index: r.IntN(n - 1)}
		}
		if r.IntN(8) == 0 {
			// initial_resource_versions counts only on a type's first request.
			step.what, step.initial = step.what+", late initial versions", s.initialVersions(typeURL)
		}
	}
	if held {
		s.seq++
		s.spec = nextSpec(r, s.spec, s.seq)
		s.versions = s.spec.build(t)
		step.what, step.during = step.what+", held while a snapshot is set", s.spec
	}
	return step
}

// initialVersions is what a client may say it holds: some names at their current
// version, an old one, or absent from the snapshot; nil half of the time.
func (s *deltaScript) initialVersions(typeURL string) map[string]string {
	r := s.r
	if r.IntN(2) == 0 {
		return nil
	}
	var current map[string]string
	if s.versions != nil {
		current = s.versions.GetVersionMap(typeURL)
	}
	out := map[string]string{}
	for _, name := range append(slices.Clone(diffNames[typeURL]), diffAbsent) {
		switch r.IntN(3) {
		case 0:
		case 1:
			if v, ok := current[name]; ok {
				out[name] = v
			}
		default:
			out[name] = "old"
		}
	}
	return out
}

func deltaRequest(c *deltaDiffClient, step deltaStep, node *corev3.Node) *discovery.DeltaDiscoveryRequest {
	req := &discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: step.typeURL,
		ResourceNamesSubscribe: step.subscribe, ResourceNamesUnsubscribe: step.unsubscribe,
		ResponseNonce: step.nonce.resolve(c.nonces)}
	if step.initial != nil {
		// Each side gets its own map: go-control-plane keeps and edits the request's.
		req.InitialResourceVersions = map[string]string{}
		for k, v := range step.initial {
			req.InitialResourceVersions[k] = v
		}
	}
	if step.nack {
		req.ErrorDetail = diffNack
	}
	return req
}

func TestStreamsDiffDeltaADS(t *testing.T) {
	for seed := range diffSeedCount(t) {
		t.Run(fmt.Sprintf("seed=%d", seed+1), func(t *testing.T) {
			runDeltaDiff(t, uint64(seed+1), "diff-delta-ads", diffTypes, openDeltaADS)
		})
	}
}

func TestStreamsDiffDeltaEDS(t *testing.T) {
	for seed := range diffSeedCount(t) / 2 {
		t.Run(fmt.Sprintf("seed=%d", seed+1), func(t *testing.T) {
			runDeltaDiff(t, uint64(seed+1), "diff-delta-eds", []string{resourcev3.EndpointType}, openDeltaEDS)
		})
	}
}

func runDeltaDiff(t *testing.T, seed uint64, nodeID string, typeURLs []string, open diffOpen[*discovery.DeltaDiscoveryRequest, *discovery.DeltaDiscoveryResponse]) {
	gcp, own := startDiffPair(t)
	stats := diffStats{}
	var sides []*deltaDiffClient
	first := true // the next request is its stream's first, and carries the node
	openSides := func(step int, refuse bool) {
		if refuse {
			// A stream the open callback refuses, first: both servers must end it alike.
			gcp.rec.refuseOpen.Store(true)
			own.rec.refuseOpen.Store(true)
			refused := []*deltaDiffClient{newDiffClient(t, gcp, open), newDiffClient(t, own, open)}
			endSides(t, step, "open refused", refused, nil, deltaLines)
			stats.add("open refused", 0)
		}
		sides, first = []*deltaDiffClient{newDiffClient(t, gcp, open), newDiffClient(t, own, open)}, true
	}
	openSides(0, false)
	script := &deltaScript{r: rand.New(rand.NewPCG(seed, 0xde17a)), types: typeURLs, perType: len(typeURLs) == 1}
	script.newStream()
	for i := range diffSteps {
		step := script.next(t)
		if i == diffSteps-1 && step.end == "" {
			step = deltaStep{what: "end", end: diffEnding(script.r, script.perType)}
			if script.r.IntN(4) == 0 {
				step.end = diffStop
			}
		}
		var node *corev3.Node
		if first && step.snapshot == nil {
			node, first = &corev3.Node{Id: nodeID}, false
		}
		var resps [2][]*discovery.DeltaDiscoveryResponse
		switch {
		case step.end != "":
			typeURL := typeURLs[0]
			if script.perType {
				typeURL = ""
			}
			act := endBy[*discovery.DeltaDiscoveryRequest, *discovery.DeltaDiscoveryResponse](t, step.end,
				func() *discovery.DeltaDiscoveryRequest {
					return &discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: typeURL, ResourceNamesSubscribe: []string{diffRefuse}}
				},
				func() *discovery.DeltaDiscoveryRequest {
					return &discovery.DeltaDiscoveryRequest{Node: node, ResourceNamesSubscribe: []string{"c0"}}
				})
			stats.add("end: "+step.end, endSides(t, i, "end the stream: "+step.end, sides, act, deltaLines))
			script.newStream()
			if i < diffSteps-1 {
				openSides(i, script.r.IntN(4) == 0)
			}
			continue
		case step.snapshot != nil:
			for k, c := range sides {
				c.srv.cache.setSnapshot(t, nodeID, step.snapshot.build(t))
				resps[k] = c.sync(i, func() bool { return true })
			}
		default:
			for k, c := range sides {
				var g *diffGate
				if step.during != nil {
					g = c.srv.rec.arm()
				}
				c.request(deltaRequest(c, step, node))
				if g != nil {
					select {
					case <-g.entered:
					case <-time.After(diffWait):
						t.Fatalf("step %d: %s: the request did not reach its callback within %s", i, c.srv.name, diffWait)
					}
					// A delta stream sends every response it was given, even one to a
					// watch replaced since.
					c.srv.cache.setSnapshot(t, nodeID, step.during.build(t))
					close(g.release)
				}
				want := c.watchBase + c.sent
				resps[k] = c.sync(i, func() bool { return c.srv.cache.deltaWatches.Load() == want })
			}
		}
		var lines, nonces, calls [2][]string
		for k, c := range sides {
			lines[k], nonces[k] = deltaLines(c, resps[k])
			calls[k] = c.calls()
		}
		what := step.what
		if step.respType != "" {
			what = fmt.Sprintf("%s %s subscribe=%q unsubscribe=%q initial=%v", shortType(step.respType), step.what,
				step.subscribe, step.unsubscribe, step.initial)
		}
		compareStep(t, i, what, lines[0], lines[1], calls[0], calls[1], nonces[0], nonces[1])
		for _, resp := range resps[0] {
			script.received[resp.GetTypeUrl()]++
		}
		stats.add(step.what, len(resps[0]))
	}
	t.Logf("%d steps alike; steps (with a response/all): %s", diffSteps, stats)
}

// endSides ends each side's stream by act (nil: it ends by itself), waits until it has
// ended, and fails unless both servers ended it alike; it returns how many responses the
// first side received on the way.
func endSides[Req any, Resp diffResp](t *testing.T, step int, what string, sides []*diffClient[Req, Resp],
	act func(*diffClient[Req, Resp]), lines func(*diffClient[Req, Resp], []Resp) ([]string, []string)) int {
	t.Helper()
	var resps [2][]Resp
	var ends [2]string
	for k, c := range sides {
		if act != nil {
			act(c)
		}
		resps[k], ends[k] = c.finish(step)
	}
	var ls, nonces [2][]string
	for k, c := range sides {
		ls[k], nonces[k] = lines(c, resps[k])
	}
	compareEnd(t, step, what, ls[0], ls[1], sides[0].calls(), sides[1].calls(), nonces[0], nonces[1], ends[0], ends[1])
	return len(resps[0])
}

// endBy is how a step ends a stream: end (see diffEnding), with refused and noType the
// requests of the endings that are requests.
func endBy[Req any, Resp diffResp](t *testing.T, end string, refused, noType func() Req) func(*diffClient[Req, Resp]) {
	return func(c *diffClient[Req, Resp]) {
		switch end {
		case "close":
			if err := c.closeTx(); err != nil {
				t.Fatalf("%s: close send: %v", c.srv.name, err)
			}
		case diffStop:
			c.srv.stop()
		case "refused":
			c.request(refused())
		case "no type":
			c.request(noType())
		}
	}
}
