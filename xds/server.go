// Package xds serves poolpilot's snapshots to Envoy proxies and proxyless gRPC clients
// over ADS, state-of-the-world and delta, using go-control-plane's server and snapshot
// cache. It keeps one snapshot per node group (region × client kind), versions every
// resource type by content hash, applies a model atomically, records each node's ACKs and
// NACKs, and never resends a rejected version in a loop. Reloading the model (xds/reload)
// and the admin endpoints (xds/admin) are packages of their own that use this one.
package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/poolpilot/poolpilot/breaker"
	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds/lrs"
	"github.com/poolpilot/poolpilot/xds/redact"
)

// TranslateFunc turns a model into the resources of one node group.
type TranslateFunc func(*model.Model, translator.Group) (*translator.Resources, error)

// Options configure a Server. Every field is optional.
type Options struct {
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Translate defaults to translator.Translate.
	Translate TranslateFunc
	// Observer receives stream and apply events (e.g. for metrics).
	Observer Observer
	// LRSInterval is the load reporting interval the LRS service asks every client for;
	// lrs.DefaultInterval (1 s) when 0. It is never zero: grpc-go panics on zero.
	LRSInterval time.Duration
}

// Server is the xDS server: a snapshot cache fed by Apply, served over gRPC.
type Server struct {
	log       *slog.Logger
	translate func(*model.Model, translator.Group, translator.Tripped) (*translator.Resources, error)
	obs       Observer
	brk       *fleetBreaker
	// validate checks each distinct resource encoding once (see encode); nil when
	// Options.Translate validates by itself.
	validate  func(types.Resource) error
	validated validatedSet
	// envoyChecked remembers the encodings that also passed translator.CheckEnvoy: a
	// resource equal to one a gRPC group uses may still be refused by Envoy (lrs_server).
	envoyChecked validatedSet

	cache *nackCache
	xds   *streams
	reg   *registry

	// ctx ends every open stream when cancelled (Close).
	ctx    context.Context
	cancel context.CancelFunc

	// applyMu serialises Apply, Prepare, Commit, the breaker's rebuilds and the on-demand
	// build of an unseen node group, so each sees the same model and the same set of groups.
	applyMu sync.Mutex
	// gen counts the publications of a model or a breaker state (Commit, the breaker
	// loop), so Commit can tell that a Prepared was built before one; applyMu guards it.
	gen uint64
	// served is set by Apply; readers (NACK redaction on the stream goroutines, the admin
	// page) load it without waiting for an Apply in progress.
	served atomic.Pointer[servedModel]

	// keyGroups maps each cache key nodeHash has returned to its group (a bounded set:
	// the served models' regions, "" and OtherRegion × client kinds).
	keyGroups sync.Map

	// stateMu guards what Status reports, so Status never waits for a translation.
	stateMu      sync.Mutex
	groups       map[string]*GroupStatus
	modelVersion string
	appliedAt    time.Time
	lastErr      string
	lastErrAt    time.Time
}

// New returns a Server with no snapshot: nodes that connect before the first Apply wait.
func New(opts Options) *Server {
	s := &Server{
		log:    opts.Logger,
		obs:    opts.Observer,
		reg:    newRegistry(),
		groups: map[string]*GroupStatus{},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if opts.Translate != nil {
		// A given TranslateFunc sees no breaker state.
		s.translate = func(m *model.Model, g translator.Group, _ translator.Tripped) (*translator.Resources, error) {
			return opts.Translate(m, g)
		}
	} else {
		// Translate without validating, and validate here each distinct resource
		// once: most resources are equal across node groups and across reloads.
		s.translate, s.validate = translator.TranslateUnvalidatedWith, translator.Validate
	}
	if s.obs == nil {
		s.obs = NopObserver{}
	}
	// ads=false: with ads=true the cache answers only a request naming every resource of
	// the type, so a gRPC client asking for clusters one by one would wait forever.
	hash := nodeHash{s}
	s.cache = &nackCache{SnapshotCache: cache.NewSnapshotCache(false, hash, cacheLogger{s.log}), hash: hash}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.xds = newStreams(s.ctx, s.cache, callbacks{s})
	s.xds.share, s.xds.shareList = s.cache.sharedNames, s.cache.sharedNameList
	s.brk = newFleetBreaker(s, opts.LRSInterval)
	go s.breakerLoop()
	return s
}

// Register adds the aggregated (ADS) and the per-type CDS, EDS, LDS and RDS services,
// state-of-the-world and delta, and the load reporting service (LRS) to g.
func (s *Server) Register(g *grpc.Server) {
	discovery.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
	clusterservice.RegisterClusterDiscoveryServiceServer(g, s.xds)
	endpointservice.RegisterEndpointDiscoveryServiceServer(g, s.xds)
	listenerservice.RegisterListenerDiscoveryServiceServer(g, s.xds)
	routeservice.RegisterRouteDiscoveryServiceServer(g, s.xds)
	s.brk.lrs.Register(g)
}

// GRPCServerOptions are the options Serve uses: keepalive pings to find dead proxies,
// and a permissive enforcement policy so clients that ping (Envoy's
// connection_keepalive, commonly 30 s) are not disconnected for it; large responses
// marshalled without clearing their buffer first (responseCodec); then the limits on
// what one client may cost (clientLimitOptions).
func GRPCServerOptions() []grpc.ServerOption {
	return append([]grpc.ServerOption{
		// MaxConnectionIdle: a connection without a stream for 5 minutes is no node (a node
		// keeps its ADS stream open); close it rather than hold its descriptor.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second,
			MaxConnectionIdle: 5 * time.Minute}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.ForceServerCodecV2(newResponseCodec()),
	}, clientLimitOptions()...)
}

// Limits on one xDS client connection, documented in docs/operations.md ("Security").
const (
	// MaxRecvMsgSize bounds one request (gRPC's default is 4 MiB). A real node's largest
	// request is its first one: the node (Envoy's, with its list of extensions, is tens
	// of KB) and, for EDS/RDS or a delta stream's initial_resource_versions, one name
	// (and version) per resource: about 100 bytes each, so 1 MiB holds ~10,000 resources
	// of one type, more than a model of MaxFileSize makes.
	MaxRecvMsgSize = 1 << 20
	// MaxConcurrentStreams per connection: a node uses one ADS stream (or one per type
	// on the per-type services, four); poolpilot-load multiplexes up to 100 simulated
	// nodes on one connection (--streams-per-conn), so 100, not less: a client
	// multiplying its cost has to open connections, each of which the kernel counts.
	MaxConcurrentStreams = 100
	// handshakeTimeout bounds a connection that never completes its TLS / HTTP/2
	// preface (gRPC's default is 120 s).
	handshakeTimeout = 10 * time.Second
)

// clientLimitOptions are the gRPC options that bound what one client can make the server
// hold: request size, streams per connection, handshake time. The keepalive enforcement
// policy (GRPCServerOptions) closes connections that ping more often than every 5 s.
func clientLimitOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.ConnectionTimeout(handshakeTimeout),
	}
}

// Serve serves xDS on lis until ctx ends, then ends the open streams, stops the gRPC
// server (waiting at most 5 s for in-flight calls) and returns nil. extra options (e.g.
// TLS credentials) are added to GRPCServerOptions. The Server serves no streams after
// Serve returns.
func (s *Server) Serve(ctx context.Context, lis net.Listener, extra ...grpc.ServerOption) error {
	g := grpc.NewServer(append(GRPCServerOptions(), extra...)...)
	s.Register(g)
	relCtx, stopRelease := context.WithCancel(ctx)
	defer stopRelease()
	go newMemoryRelease().run(relCtx, time.Second)
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(lis) }()
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-ctx.Done():
	}
	s.Close()
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		g.Stop()
		<-stopped
	}
	<-errc //nolint:errcheck // after Stop, Serve returns nil or grpc.ErrServerStopped
	return nil
}

// Close ends every open stream cleanly (status OK); clients reconnect elsewhere.
func (s *Server) Close() {
	s.cancel()
	s.brk.lrs.Close()
}

// Apply translates m for every node group — each region of the model, "" (nodes
// without a region) and OtherRegion (regions the model does not name), for Envoy and
// gRPC clients, plus the group of every connected node — and only if every translation
// succeeds sets every snapshot. On error nothing
// changes: the last good snapshots keep serving and the error is returned.
// It is Prepare and Commit with nothing in between.
func (s *Server) Apply(m *model.Model) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	return s.commitLocked(s.prepareLocked(m))
}

// Prepared is a model translated, encoded and validated for every node group, not yet
// served: the work of Apply before it publishes anything (Prepare), kept for Commit.
type Prepared struct {
	next  *servedModel
	base  []translator.Group
	built map[string]*builtGroup
	// gen is the server's gen when the build started; Commit rebuilds if it moved.
	gen uint64
	err error
}

// Prepare does all of Apply's work that no node, status page, metric or breaker sees:
// it translates m for every node group, encodes and validates the snapshots. Commit
// publishes the result. On error the returned Prepared is still non-nil, so that
// Commit can record the failure as Apply would; nothing else records it.
func (s *Server) Prepare(m *model.Model) (*Prepared, error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	p := s.prepareLocked(m)
	return p, p.err
}

// Commit publishes p as Apply publishes its snapshots: every group's snapshot, the
// served model, the status, the breaker rules, the logs and the observer's event. If
// anything p was built against has moved since Prepare (another Apply or Commit, a
// fleet breaker state published or changed), p's snapshots would be wrong, so Commit
// builds the same model again first, as Apply(m) would. The group of a node that
// connected since Prepare, which p lacks, is built before publishing, as Apply would
// have. A Prepared whose preparation failed is recorded as a failed Apply and its error
// returned.
func (s *Server) Commit(p *Prepared) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	return s.commitLocked(p)
}

// prepareLocked is Prepare with applyMu held.
func (s *Server) prepareLocked(m *model.Model) *Prepared {
	p := &Prepared{gen: s.gen}
	if m == nil {
		p.err = errors.New("apply: nil model")
		return p
	}
	known := translator.KnownOf(m)
	p.base = known.Groups()
	all := map[string]translator.Group{}
	for _, g := range append(translator.OtherGroups(), p.base...) {
		all[g.Key()] = g
	}
	for k, g := range s.reg.groups(known) {
		all[k] = g
	}

	// The breaker state the snapshots are built with: the rules of m replace the
	// engine's after a successful apply, and the breaker loop publishes what they change.
	next := &servedModel{model: m, known: known, redact: redact.New(m), breaker: s.brk.eng.State()}
	s.validated.rotate()
	s.envoyChecked.rotate()
	built, err := s.buildAll(next, all)
	if err != nil {
		p.err = err
		return p
	}
	next.members = unionMembers(built)
	p.next, p.built = next, built
	return p
}

// staleReason says why p's snapshots can no longer be published as they are, or "".
// applyMu must be held.
func (s *Server) staleReason(p *Prepared) string {
	if p.gen != s.gen {
		return "another model or breaker state was published since it was built"
	}
	if s.brk.eng.State().Key() != p.next.breaker.Key() {
		return "the fleet breaker state changed since it was built"
	}
	return ""
}

// addNewGroups builds into p the groups of connected nodes that p lacks: nodes that
// connected since Prepare (their first request built their group under the served model
// with ensureGroup, or waits to). Groups translate independently, so building only these
// gives what a full build would. applyMu must be held.
func (s *Server) addNewGroups(p *Prepared) error {
	missing := map[string]translator.Group{}
	for k, g := range s.reg.groups(p.next.known) {
		if _, ok := p.built[k]; !ok {
			missing[k] = g
		}
	}
	if len(missing) == 0 {
		return nil
	}
	built, err := s.buildAll(p.next, missing)
	if err != nil {
		return err
	}
	s.log.Info("prepared model lacked the groups of nodes that connected since; built them", "groups", sortedKeys(built))
	maps.Copy(p.built, built)
	p.next.members = unionMembers(p.built)
	return nil
}

// commitLocked is Commit with applyMu held.
func (s *Server) commitLocked(p *Prepared) error {
	if p == nil {
		return s.applyFailed(errors.New("commit: no prepared model"))
	}
	if p.err != nil {
		return s.applyFailed(p.err)
	}
	if why := s.staleReason(p); why != "" {
		s.log.Info("prepared model is out of date; building it again", "reason", why)
		if p = s.prepareLocked(p.next.model); p.err != nil {
			return s.applyFailed(p.err)
		}
	}
	if err := s.addNewGroups(p); err != nil {
		return s.applyFailed(err)
	}
	next, built, known := p.next, p.built, p.next.known

	// Every group translated: now publish, so nodes never see half a model.
	for _, k := range sortedKeys(built) {
		if err := s.cache.SetSnapshot(context.Background(), k, built[k].snapshot); err != nil {
			// Only a cancelled context fails here; the cache has the snapshot regardless.
			s.log.Error("set snapshot", "group", k, "error", err)
		}
	}
	s.gen++
	s.served.Store(next)
	s.dropStaleKeys(built, known)
	s.stateMu.Lock()
	prev := s.groups
	s.groups = make(map[string]*GroupStatus, len(built))
	baseVersions := map[string]string{}
	applied := map[string]map[string]string{}
	for k, b := range built {
		s.groups[k] = &b.status
		applied[k] = b.status.Versions
	}
	for _, g := range p.base {
		for url, v := range built[g.Key()].status.Versions {
			baseVersions[g.Key()+" "+url] = v
		}
	}
	s.modelVersion = combineVersions(baseVersions)
	s.appliedAt = time.Now()
	s.lastErr, s.lastErrAt = "", time.Time{}
	version := s.modelVersion
	s.stateMu.Unlock()

	s.setBreakerRules(next.model)
	for _, k := range sortedKeys(built) {
		s.logBuilt(built[k], prev[k])
	}
	s.log.Info("model applied", "version", version, "groups", len(built))
	s.obs.Applied(ApplyEvent{ModelVersion: version, Groups: applied})
	return nil
}

// dropStaleKeys handles the cache's keys this Apply did not build: groups of a region the
// model no longer names, or that a node asked for under the previous model. A key
// with open watches gets the snapshot of the group its nodes now resolve to, so they are
// answered (and their next request moves to that key); a key without is cleared, status
// included, so the cache keeps nothing for groups that went away.
func (s *Server) dropStaleKeys(built map[string]*builtGroup, served translator.Known) {
	for _, k := range s.cache.GetStatusKeys() {
		if _, ok := built[k]; ok {
			continue
		}
		info := s.cache.GetStatusInfo(k)
		g, known := s.keyGroups.Load(k)
		if info != nil && known && info.GetNumWatches()+info.GetNumDeltaWatches() > 0 {
			if b := built[g.(translator.Group).Resolve(served).Key()]; b != nil {
				if err := s.cache.SetSnapshot(context.Background(), k, b.snapshot); err != nil {
					s.log.Error("set snapshot", "group", k, "error", err)
				}
				continue
			}
		}
		s.cache.ClearSnapshot(k)
		s.keyGroups.Delete(k)
	}
}

// known is what the served model names; nothing before the first Apply (then every node
// with a region resolves to OtherRegion, a group every Apply builds).
func (s *Server) known() translator.Known {
	if cur := s.served.Load(); cur != nil {
		return cur.known
	}
	return translator.Known{}
}

func (s *Server) applyFailed(err error) error {
	s.stateMu.Lock()
	s.lastErr, s.lastErrAt = err.Error(), time.Now()
	s.stateMu.Unlock()
	s.log.Error("model not applied; the previous configuration keeps serving", "error", err)
	s.obs.Applied(ApplyEvent{Err: err})
	return err
}

// buildAll translates every group, on as many goroutines as there are CPUs: groups are
// independent, and translation is most of an Apply. On an error it returns the first
// group's (in key order), as a sequential build would.
func (s *Server) buildAll(cur *servedModel, all map[string]translator.Group) (map[string]*builtGroup, error) {
	keys := sortedKeys(all)
	results := make([]*builtGroup, len(keys))
	errs := make([]error, len(keys))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], errs[i] = s.build(cur, all[keys[i]])
			}
		}()
	}
	for i := range keys {
		next <- i
	}
	close(next)
	wg.Wait()
	built := make(map[string]*builtGroup, len(keys))
	for i, k := range keys {
		if errs[i] != nil {
			return nil, errs[i]
		}
		built[k] = results[i]
	}
	return built, nil
}

// ensureGroup builds the snapshot of a node group the current model has none for, e.g. a
// node whose region is not in the model. It runs before the cache answers the node's first
// request. Before the first Apply there is nothing to build: Apply includes the group.
func (s *Server) ensureGroup(g translator.Group) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	cur := s.served.Load()
	if cur == nil {
		return
	}
	k := g.Key()
	s.stateMu.Lock()
	_, ok := s.groups[k]
	s.stateMu.Unlock()
	if ok {
		return
	}
	b, err := s.build(cur, g)
	if err != nil {
		s.log.Error("cannot build node group; its nodes wait for the next model", "group", k, "error", err)
		return
	}
	if err := s.cache.SetSnapshot(context.Background(), k, b.snapshot); err != nil {
		s.log.Error("set snapshot", "group", k, "error", err)
	}
	s.stateMu.Lock()
	s.groups[k] = &b.status
	s.stateMu.Unlock()
	s.logBuilt(b, nil)
}

// servedModel is the applied model with what is derived from it once per Apply.
type servedModel struct {
	model *model.Model
	// known is what m names of each group dimension (its regions), for Group.Resolve.
	known translator.Known
	// redact hides the model's secret values in free text (NACK details, /status).
	redact redact.Redactor
	// breaker is the fleet breaker state the snapshots were built with.
	breaker breaker.State
	// members maps each served cluster to its backends, for load reports.
	members lrs.Members
}

// builtGroup is one group's translated snapshot, not yet published.
type builtGroup struct {
	snapshot *cache.Snapshot
	status   GroupStatus
	members  map[string][]string
}

// build translates m for g and makes its snapshot, with a content-hash version per type.
func (s *Server) build(cur *servedModel, g translator.Group) (*builtGroup, error) {
	res, err := s.translate(cur.model, g, cur.trippedFor(g))
	if err != nil {
		return nil, fmt.Errorf("translate node group %s: %w", g, err)
	}
	if res == nil {
		return nil, fmt.Errorf("translate node group %s: no resources returned", g)
	}
	byType := []struct {
		url   string
		index types.ResponseType
		items []types.Resource
	}{
		{resourcev3.ClusterType, types.Cluster, res.Clusters},
		{resourcev3.EndpointType, types.Endpoint, res.Endpoints},
		{resourcev3.RouteType, types.Route, res.Routes},
		{resourcev3.ListenerType, types.Listener, res.Listeners},
	}
	b := &builtGroup{snapshot: &cache.Snapshot{}, status: GroupStatus{
		Key: g.Key(), Group: g, Versions: map[string]string{},
		Clusters: len(res.Clusters), Endpoints: len(res.Endpoints), Routes: len(res.Routes), Listeners: len(res.Listeners),
		Warnings: append([]string(nil), res.Warnings...), BuiltAt: time.Now(),
	}, members: res.Members}
	if err := checkSnapshot(res); err != nil {
		return nil, fmt.Errorf("node group %s: %w", g, err)
	}
	validate, seen := s.validatorFor(g)
	for _, t := range byType {
		enc, err := encode(t.items, validate, seen)
		if err != nil {
			return nil, fmt.Errorf("node group %s: %w", g, err)
		}
		v := enc.version
		b.snapshot.Resources[t.index] = cache.NewResources(v, enc.items)
		b.status.Versions[t.url] = v
	}
	return b, nil
}

// validatorFor returns how a group's resources are validated: every group's with
// translator.Validate, an Envoy group's also with translator.CheckEnvoy (what Envoy refuses
// or ignores beyond the generated validation), as translator.Translate does.
func (s *Server) validatorFor(g translator.Group) (func(types.Resource) error, *validatedSet) {
	if s.validate == nil || g.Client != translator.Envoy {
		return s.validate, &s.validated
	}
	validate := s.validate
	return func(r types.Resource) error {
		if err := validate(r); err != nil {
			return err
		}
		return translator.CheckEnvoy(r)
	}, &s.envoyChecked
}

func (s *Server) logBuilt(b *builtGroup, prev *GroupStatus) {
	level := slog.LevelInfo
	if prev != nil && maps.Equal(prev.Versions, b.status.Versions) {
		level = slog.LevelDebug // unchanged: don't repeat it at every reload
	}
	v := b.status.Versions
	attrs := []any{
		"group", b.status.Key,
		"clusters", b.status.Clusters, "endpoints", b.status.Endpoints,
		"routes", b.status.Routes, "listeners", b.status.Listeners,
		slog.Group("versions", "cds", v[resourcev3.ClusterType], "eds", v[resourcev3.EndpointType],
			"rds", v[resourcev3.RouteType], "lds", v[resourcev3.ListenerType]),
	}
	if len(b.status.Warnings) > 0 {
		attrs = append(attrs, "warnings", b.status.Warnings)
	}
	s.log.Log(context.Background(), level, "node group built", attrs...)
}

// Status returns a copy of the applied model's version, the groups' snapshots and every
// open stream's ACK/NACK state.
func (s *Server) Status() Status {
	s.stateMu.Lock()
	st := Status{
		ModelVersion:     s.modelVersion,
		AppliedAt:        s.appliedAt,
		LastApplyError:   s.lastErr,
		LastApplyErrorAt: s.lastErrAt,
		Groups:           s.groupsLocked(),
	}
	s.stateMu.Unlock()
	st.Streams = s.reg.snapshot()
	return st
}

// Groups is Status().Groups without copying every open stream's state: what a metrics
// scrape reads, however many nodes are connected.
func (s *Server) Groups() []GroupStatus {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	return s.groupsLocked()
}

// groupsLocked copies the node groups' status, sorted by key; stateMu must be held.
func (s *Server) groupsLocked() []GroupStatus {
	out := make([]GroupStatus, 0, len(s.groups))
	for _, g := range s.groups {
		c := *g
		c.Versions = make(map[string]string, len(g.Versions))
		maps.Copy(c.Versions, g.Versions)
		c.Warnings = append([]string(nil), g.Warnings...)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Version is the applied model's version, Status().ModelVersion without copying every
// group and stream: "" before the first successful Apply.
func (s *Server) Version() string {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	return s.modelVersion
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
