// Package lrs serves Envoy's Load Reporting Service (envoy.service.load_stats.v3) on
// poolpilot's xDS gRPC server: Envoy proxies (cluster_manager.load_stats_config) and
// proxyless gRPC clients (lrs_server: self) report, per cluster and locality, the
// requests they sent, and each pool member is its own locality (sub_zone = backend
// name), so every locality report becomes one breaker.Report about one backend.
//
// Reports are untrusted input. A report counts only when its node has an open ADS
// stream, names a served cluster and member, and every count in the message is within
// bounds; otherwise the whole message changes nothing and one bounded log line says why.
package lrs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	lrsv3 "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/poolpilot/poolpilot/breaker"
)

// Defaults and bounds of Options.
const (
	// DefaultInterval is the load reporting interval sent to every client.
	DefaultInterval = time.Second
	// DefaultMaxMessageBytes bounds the cluster_stats of one LoadStatsRequest. A
	// fleet-sized report (every pool with a few members) is a few kilobytes.
	DefaultMaxMessageBytes = 1 << 20
	// DefaultMaxClusters bounds the cluster_stats of one request.
	DefaultMaxClusters = 4096
	// DefaultMaxLocalities bounds the upstream_locality_stats of one cluster_stats.
	DefaultMaxLocalities = 1024
	// MaxNodeIDBytes bounds the node id: a longer one is refused with the stream.
	MaxNodeIDBytes = 256
	// maxLogged bounds each client-supplied string in a log line.
	maxLogged = 64
	// maxRemembered bounds the per-stream set of unknown names already logged.
	maxRemembered = 16
)

// Streams tells which nodes poolpilot serves over ADS. The xDS server implements it.
type Streams interface {
	// HasStream reports whether nodeID has an open ADS stream, and the region of the
	// node group it is served in (its node.locality.region as poolpilot grouped it).
	// The region comes from the ADS stream, not from the load report, so a node cannot
	// report for a region it is not served in.
	HasStream(nodeID string) (region string, ok bool)
}

// Locality is an upstream locality as a load report names it.
type Locality struct {
	Region, Zone, SubZone string
}

// Lookup maps a reported cluster and locality to the backend it stands for.
type Lookup interface {
	// Backend returns the backend whose endpoints are the locality loc of cluster
	// (poolpilot sets sub_zone to the backend name); ok is false when poolpilot serves
	// no such cluster or the cluster has no such member.
	Backend(cluster string, loc Locality) (backend string, ok bool)
}

// Sink receives the reports; *breaker.Engine is one.
type Sink interface {
	Record(breaker.Report) (tripped bool, err error)
}

// Options configure a Server. Streams, Lookup and Sink are required.
type Options struct {
	Streams Streams
	Lookup  Lookup
	Sink    Sink
	// Interval is the load_reporting_interval every client is told; DefaultInterval when
	// 0. grpc-go reads only the first response and panics on a zero interval, so it is
	// never zero.
	Interval time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Clock defaults to time.Now; a report counts at the time it arrives.
	Clock func() time.Time
	// MaxCount bounds each count of one locality; breaker.DefaultMaxCount when 0.
	MaxCount        uint64
	MaxMessageBytes int
	MaxClusters     int
	MaxLocalities   int
}

// Server is the LRS service.
type Server struct {
	lrsv3.UnimplementedLoadReportingServiceServer
	o      Options
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	n      Counters
}

// Counters count what the server did with the messages it received.
type Counters struct {
	Messages atomic.Uint64 // LoadStatsRequests handled (counted once handling ends)
	Reports  atomic.Uint64 // breaker reports handed to the sink
	Ignored  atomic.Uint64 // messages that changed nothing because of a problem
}

// Counts are the counters' values at one moment.
type Counts struct {
	// Messages are the LoadStatsRequests handled, each stream's first (the node only)
	// included.
	Messages uint64 `json:"messages"`
	// Reports are the per-backend reports they gave the fleet breaker.
	Reports uint64 `json:"reports"`
	// Ignored are the messages that changed nothing: more than twice per interval, too
	// large, naming another node, from a node without an ADS stream, or unreadable (the
	// log says which, once per stream).
	Ignored uint64 `json:"ignored"`
}

// Load reads the counters.
func (c *Counters) Load() Counts {
	return Counts{Messages: c.Messages.Load(), Reports: c.Reports.Load(), Ignored: c.Ignored.Load()}
}

// New checks o and returns a Server.
func New(o Options) (*Server, error) {
	switch {
	case o.Streams == nil || o.Lookup == nil || o.Sink == nil:
		return nil, errors.New("lrs: Options.Streams, Lookup and Sink are required")
	case o.Interval < 0:
		return nil, fmt.Errorf("lrs: interval %s is negative; want more than 0 (default %s)", o.Interval, DefaultInterval)
	case o.Interval > 0 && o.Interval < time.Millisecond:
		// durationpb keeps nanoseconds, but Envoy arms its timer in whole milliseconds:
		// less than 1ms would be a zero interval there.
		return nil, fmt.Errorf("lrs: interval %s is less than 1ms", o.Interval)
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.MaxCount == 0 {
		o.MaxCount = breaker.DefaultMaxCount
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.MaxClusters <= 0 {
		o.MaxClusters = DefaultMaxClusters
	}
	if o.MaxLocalities <= 0 {
		o.MaxLocalities = DefaultMaxLocalities
	}
	s := &Server{o: o, log: o.Logger.With("component", "lrs")}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Register adds the LoadReportingService to g.
func (s *Server) Register(g *grpc.Server) { lrsv3.RegisterLoadReportingServiceServer(g, s) }

// Close ends every open stream cleanly (status OK); clients reconnect.
func (s *Server) Close() { s.cancel() }

// Counters returns the server's counters.
func (s *Server) Counters() *Counters { return &s.n }

// Interval is the load reporting interval the server asks for.
func (s *Server) Interval() time.Duration { return s.o.Interval }

// Reports per stream: a client reports once per interval, but a stalled connection or a
// late ticker can deliver two or three at once. A token bucket of burstReports refilled
// at refillPerInterval per interval lets that through and holds a flooding client to
// at most twice the weight of an honest one.
const (
	burstReports      = 3
	refillPerInterval = 2
)

// stream is the state of one LRS stream, bounded: the node, the report budget, and a
// few names already logged.
type stream struct {
	node     string
	log      *slog.Logger // the server's, with the node
	tokens   float64
	refilled time.Time
	// noted holds the kinds of problem already logged on this stream (a fixed set), so
	// a client repeating one does not repeat the line.
	noted   map[string]bool
	unknown map[string]bool
}

func (s *Server) newStream(node string) *stream {
	return &stream{node: node, log: s.log.With("node", clip(node)), noted: map[string]bool{}, unknown: map[string]bool{}}
}

// StreamLoadStats serves one client's LRS stream. The first request must carry the
// node; the answer asks for every cluster (grpc-js skips the first cluster of an
// explicit list) every Interval. Envoy repeats the node in every request, grpc-go sends
// it only in the first, so the stream's node is the first request's.
func (s *Server) StreamLoadStats(srv lrsv3.LoadReportingService_StreamLoadStatsServer) error {
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	id := first.GetNode().GetId()
	switch {
	case id == "":
		return status.Error(codes.InvalidArgument, "lrs: the first LoadStatsRequest must carry node.id")
	case len(id) > MaxNodeIDBytes:
		return status.Errorf(codes.InvalidArgument, "lrs: node.id is %d bytes, at most %d", len(id), MaxNodeIDBytes)
	}
	if err := srv.Send(&lrsv3.LoadStatsResponse{
		SendAllClusters:       true,
		LoadReportingInterval: durationpb.New(s.o.Interval),
	}); err != nil {
		return err
	}
	st := s.newStream(id)
	s.handle(st, first)

	msgs := make(chan *lrsv3.LoadStatsRequest)
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := srv.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-srv.Context().Done():
				errc <- srv.Context().Err()
				return
			}
		}
	}()
	for {
		select {
		case m := <-msgs:
			s.handle(st, m)
		case err := <-errc:
			return err
		case <-s.ctx.Done():
			return nil
		}
	}
}

// handle counts one request, or nothing at all when anything in it is wrong.
func (s *Server) handle(st *stream, req *lrsv3.LoadStatsRequest) {
	defer s.n.Messages.Add(1)
	if len(req.GetClusterStats()) == 0 {
		return // the first request of Envoy and grpc-go carries only the node
	}
	now := s.o.Clock()
	log := st.log
	if !s.take(st, now) {
		s.ignore(st, log, "load reports come faster than twice per reporting interval; the extra ones are ignored", "interval", s.o.Interval)
		return
	}
	if n := reportBytes(req); n > s.o.MaxMessageBytes {
		s.ignore(st, log, "load report too large", "bytes", n, "max", s.o.MaxMessageBytes)
		return
	}
	if id := req.GetNode().GetId(); id != "" && id != st.node {
		s.ignore(st, log, "load report names another node than its stream's first request", "reported", clip(id))
		return
	}
	region, ok := s.o.Streams.HasStream(st.node)
	if !ok {
		s.ignore(st, log, noStream)
		return
	}
	delete(st.noted, noStream) // logged again if the node loses its ADS stream
	counts, err := s.counts(st, log, req)
	if err != nil {
		s.ignore(st, log, "load report ignored", "reason", err.Error())
		return
	}
	backends := make([]string, 0, len(counts))
	for b := range counts {
		backends = append(backends, b)
	}
	sort.Strings(backends)
	for _, b := range backends {
		_, err := s.o.Sink.Record(breaker.Report{
			Node: st.node, Region: region, Backend: b, At: now, Span: counts[b].span,
			Source: breaker.SourceLRS, Counts: counts[b].Counts,
		})
		switch {
		case errors.Is(err, breaker.ErrUnknownBackend):
			// A pool member without a circuit breaker: reported like any member, no rule.
			continue
		case err != nil:
			if msg := "load report not counted"; !st.noted[msg] {
				st.noted[msg] = true
				log.Warn(msg, "backend", clip(b), "reason", err.Error())
			}
			continue
		}
		s.n.Reports.Add(1)
	}
}

// reportBytes is the encoded size of req's cluster_stats, what the server reads. The node
// is left out: Envoy repeats it, with its list of extensions (tens of KB), in every
// report, the server reads only its id, and measuring it was nine tenths of a report's
// cost (BenchmarkHandle). The gRPC server bounds the whole message (MaxRecvMsgSize).
func reportBytes(req *lrsv3.LoadStatsRequest) int {
	n := 0
	for _, c := range req.GetClusterStats() {
		n += proto.Size(c)
	}
	return n
}

// take spends one report of st's budget at now, if there is one.
func (s *Server) take(st *stream, now time.Time) bool {
	if st.refilled.IsZero() {
		st.tokens, st.refilled = burstReports, now
	}
	if d := now.Sub(st.refilled); d > 0 {
		st.tokens = min(burstReports, st.tokens+refillPerInterval*float64(d)/float64(s.o.Interval))
		st.refilled = now
	}
	if st.tokens < 1 {
		return false
	}
	st.tokens--
	return true
}

// counts sums the message's localities per backend; an error means the whole message
// is refused.
func (s *Server) counts(st *stream, log *slog.Logger, req *lrsv3.LoadStatsRequest) (map[string]backendCounts, error) {
	cs := req.GetClusterStats()
	if len(cs) > s.o.MaxClusters {
		return nil, fmt.Errorf("%d cluster_stats, at most %d", len(cs), s.o.MaxClusters)
	}
	out := map[string]backendCounts{}
	for _, c := range cs {
		ls := c.GetUpstreamLocalityStats()
		if len(ls) > s.o.MaxLocalities {
			return nil, fmt.Errorf("cluster %q: %d upstream_locality_stats, at most %d", clip(c.GetClusterName()), len(ls), s.o.MaxLocalities)
		}
		for _, l := range ls {
			for _, v := range []struct {
				field string
				n     uint64
			}{
				{"total_successful_requests", l.GetTotalSuccessfulRequests()},
				{"total_error_requests", l.GetTotalErrorRequests()},
				{"total_requests_in_progress", l.GetTotalRequestsInProgress()},
				{"total_issued_requests", l.GetTotalIssuedRequests()},
			} {
				if v.n > s.o.MaxCount {
					return nil, fmt.Errorf("cluster %q locality %q: %s %d is more than %d (a negative number sent as uint64 is about 1.8e19)",
						clip(c.GetClusterName()), clip(l.GetLocality().GetSubZone()), v.field, v.n, s.o.MaxCount)
				}
			}
			loc := locality(l.GetLocality())
			b, ok := s.o.Lookup.Backend(c.GetClusterName(), loc)
			if !ok {
				s.noteUnknown(st, log, c.GetClusterName(), loc.SubZone)
				continue
			}
			cur := out[b]
			cur.span = max(cur.span, c.GetLoadReportInterval().AsDuration())
			cur.Issued += l.GetTotalIssuedRequests()
			cur.Succeeded += l.GetTotalSuccessfulRequests()
			cur.Failed += l.GetTotalErrorRequests()
			cur.InProgress += l.GetTotalRequestsInProgress()
			out[b] = cur
		}
	}
	// Sums of capped values can pass the cap only with many localities of one backend.
	for b, c := range out {
		if c.Issued > s.o.MaxCount || c.Succeeded > s.o.MaxCount || c.Failed > s.o.MaxCount || c.InProgress > s.o.MaxCount {
			return nil, fmt.Errorf("backend %q: the localities sum to more than %d", clip(b), s.o.MaxCount)
		}
	}
	return out, nil
}

// backendCounts are one backend's counts in one message, and the longest
// load_report_interval of the clusters they came from.
type backendCounts struct {
	breaker.Counts
	span time.Duration
}

// noteUnknown logs an unknown cluster or member once per stream (Envoy reports its own
// static clusters too, every interval).
func (s *Server) noteUnknown(st *stream, log *slog.Logger, cluster, subZone string) {
	key := clip(cluster) + "\x00" + clip(subZone)
	if st.unknown[key] || len(st.unknown) >= maxRemembered {
		return
	}
	st.unknown[key] = true
	log.Info("load report names a cluster or locality poolpilot does not serve; it is not counted",
		"cluster", clip(cluster), "sub_zone", clip(subZone))
}

const noStream = "load report from a node without an open ADS stream is ignored"

// ignore counts a message that changes nothing and logs msg, once per stream.
func (s *Server) ignore(st *stream, log *slog.Logger, msg string, args ...any) {
	s.n.Ignored.Add(1)
	if st.noted[msg] {
		return
	}
	st.noted[msg] = true
	log.Warn(msg, args...)
}

func locality(l *corev3.Locality) Locality {
	return Locality{Region: l.GetRegion(), Zone: l.GetZone(), SubZone: l.GetSubZone()}
}

// clip bounds a client-supplied string for logs.
func clip(s string) string {
	if len(s) <= maxLogged {
		return s
	}
	cut := maxLogged
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:cut], len(s))
}

// Members is a Lookup from cluster name to the backends that are its members.
type Members map[string][]string

// Backend implements Lookup.
func (m Members) Backend(cluster string, loc Locality) (string, bool) {
	for _, b := range m[cluster] {
		if b == loc.SubZone {
			return b, true
		}
	}
	return "", false
}
