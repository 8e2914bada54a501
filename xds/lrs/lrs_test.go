package lrs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	lrsv3 "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/poolpilot/poolpilot/breaker"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
)

const (
	sdc, nwe         = "swedencentral", "norwayeast"
	primary, standby = "func-primary-sdc", "func-secondary-nwe"
	pool             = "load-balanced-pool"
	// wait bounds every wait for the server; it is a safety net, never an assertion.
	wait = 10 * time.Second
)

var t0 = time.Unix(1_800_000_000, 0)

// clock is the server's clock; tests advance it between reports so the server's rate
// bound sees one report per interval.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// streams is the ADS side: the nodes with an open stream and their region.
type streams struct {
	mu    sync.Mutex
	nodes map[string]string
}

func (s *streams) HasStream(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.nodes[id]
	return r, ok
}

func (s *streams) set(id, region string) {
	s.mu.Lock()
	s.nodes[id] = region
	s.mu.Unlock()
}

// sink records every report and passes it on to an engine when there is one.
type sink struct {
	reports chan breaker.Report
	engine  *breaker.Engine
}

func (s *sink) Record(r breaker.Report) (bool, error) {
	s.reports <- r
	if s.engine != nil {
		return s.engine.Record(r)
	}
	return false, nil
}

type harness struct {
	t       *testing.T
	srv     *Server
	clk     *clock
	streams *streams
	sink    *sink
	logs    *adstest.LogBuffer
	client  lrsv3.LoadReportingServiceClient
	sent    uint64 // messages sent on streams the server answered
}

func start(t *testing.T, o Options) *harness {
	t.Helper()
	h := &harness{
		t:       t,
		clk:     &clock{t: t0},
		streams: &streams{nodes: map[string]string{}},
		sink:    &sink{reports: make(chan breaker.Report, 1000)},
		logs:    &adstest.LogBuffer{},
	}
	o.Streams, o.Sink, o.Clock = h.streams, h.sink, h.clk.now
	if o.Lookup == nil {
		o.Lookup = Members{pool: {primary, standby}, primary: {primary}}
	}
	o.Logger = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	srv.Register(g)
	go func() { _ = g.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Close()
		g.Stop()
	})
	h.client = lrsv3.NewLoadReportingServiceClient(conn)
	return h
}

// open starts a stream, sends first and returns the stream and the server's answer.
func (h *harness) open(first *lrsv3.LoadStatsRequest) (lrsv3.LoadReportingService_StreamLoadStatsClient, *lrsv3.LoadStatsResponse) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	h.t.Cleanup(cancel)
	st, err := h.client.StreamLoadStats(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := st.Send(first); err != nil {
		h.t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		h.t.Fatalf("first response: %v", err)
	}
	h.sent++
	h.handled(h.sent) // the first request is handled after the answer
	return st, resp
}

// send advances the clock by one interval, sends req and waits until the server has
// handled it, so the next step (a clock or ADS change) comes after it.
func (h *harness) send(st lrsv3.LoadReportingService_StreamLoadStatsClient, req *lrsv3.LoadStatsRequest) {
	h.t.Helper()
	h.clk.advance(time.Second)
	h.sendNow(st, req)
}

func (h *harness) sendNow(st lrsv3.LoadReportingService_StreamLoadStatsClient, req *lrsv3.LoadStatsRequest) {
	h.t.Helper()
	if err := st.Send(req); err != nil {
		h.t.Fatal(err)
	}
	h.sent++
	h.handled(h.sent)
}

// handled waits until the server has handled n messages in all.
func (h *harness) handled(n uint64) {
	h.t.Helper()
	deadline := time.Now().Add(wait)
	for h.srv.Counters().Messages.Load() < n {
		if time.Now().After(deadline) {
			h.t.Fatalf("the server handled %d messages, want %d", h.srv.Counters().Messages.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// next waits for the next report at the sink.
func (h *harness) next() breaker.Report {
	h.t.Helper()
	select {
	case r := <-h.sink.reports:
		return r
	case <-time.After(wait):
		h.t.Fatal("no report reached the sink")
	}
	return breaker.Report{}
}

// engineWithRule gives the sink a real engine with cfg on the harness clock and r as
// primary's one rule.
func (h *harness) engineWithRule(cfg breaker.Config, r breaker.Rule) {
	h.t.Helper()
	cfg.Clock = h.clk.now
	h.sink.engine = breaker.New(cfg)
	if err := h.sink.engine.SetRules(map[string]breaker.Rule{primary: r}); err != nil {
		h.t.Fatal(err)
	}
}

// none checks that nothing reached the sink. Call it only after next has seen a report
// sent after the ones that must change nothing: a stream's messages are handled in order.
func (h *harness) none() {
	h.t.Helper()
	select {
	case r := <-h.sink.reports:
		h.t.Fatalf("unexpected report %+v", r)
	default:
	}
}

// envoyNode is the node as Envoy sends it in every LoadStatsRequest
// (load_stats_reporter.cc merges local_info.node() and adds the send_all_clusters
// client feature).
func envoyNode(id, region string) *corev3.Node {
	return &corev3.Node{
		Id:             id,
		Cluster:        "gateway",
		Locality:       &corev3.Locality{Region: region},
		UserAgentName:  "envoy",
		ClientFeatures: []string{"envoy.lb.does_not_support_overprovisioning", "envoy.lrs.supports_send_all_clusters"},
	}
}

// envoyReport is shaped like Envoy's: the node every time, one cluster_stats per
// cluster, upstream_locality_stats per priority and locality (only localities with
// traffic), the dropped total and the measured load_report_interval; Envoy also reports
// its static clusters (here the xDS cluster, whose hosts have an empty locality).
func envoyReport(node *corev3.Node, ok, fail, inProgress uint64) *lrsv3.LoadStatsRequest {
	return &lrsv3.LoadStatsRequest{
		Node: node,
		ClusterStats: []*endpointv3.ClusterStats{{
			ClusterName: pool,
			UpstreamLocalityStats: []*endpointv3.UpstreamLocalityStats{{
				Locality:                &corev3.Locality{Region: sdc, SubZone: primary},
				Priority:                0,
				TotalSuccessfulRequests: ok,
				TotalErrorRequests:      fail,
				TotalRequestsInProgress: inProgress,
				TotalIssuedRequests:     ok + fail + inProgress,
			}, {
				Locality:                &corev3.Locality{Region: nwe, SubZone: standby},
				Priority:                1,
				TotalSuccessfulRequests: fail,
				TotalIssuedRequests:     fail,
			}},
			TotalDroppedRequests: 0,
			LoadReportInterval:   durationpb.New(1003 * time.Millisecond),
		}, {
			ClusterName: "poolpilot_xds",
			UpstreamLocalityStats: []*endpointv3.UpstreamLocalityStats{{
				Locality: &corev3.Locality{}, TotalRequestsInProgress: 1, TotalIssuedRequests: 0,
			}},
			LoadReportInterval: durationpb.New(1003 * time.Millisecond),
		}},
	}
}

// grpcNode is the node as grpc-go sends it, only in the first request
// (lrsclient/lrs_stream.go: sendFirstLoadStatsRequest).
func grpcNode(id, region string) *corev3.Node {
	return &corev3.Node{
		Id:                   id,
		Locality:             &corev3.Locality{Region: region},
		UserAgentName:        "gRPC Go",
		UserAgentVersionType: &corev3.Node_UserAgentVersion{UserAgentVersion: "1.85.0"},
		ClientFeatures:       []string{"envoy.lb.does_not_support_overprovisioning", "xds.config.resource-in-sotw", "envoy.lrs.supports_send_all_clusters"},
	}
}

// grpcReport is shaped like grpc-go's (sendLoadStatsRequest): no node, cluster and EDS
// service name, localities with region, zone and sub_zone and no priority, the dropped
// totals and the time since the last report.
func grpcReport(ok, fail, inProgress uint64) *lrsv3.LoadStatsRequest {
	return &lrsv3.LoadStatsRequest{
		ClusterStats: []*endpointv3.ClusterStats{{
			ClusterName:        pool,
			ClusterServiceName: pool,
			UpstreamLocalityStats: []*endpointv3.UpstreamLocalityStats{{
				Locality:                &corev3.Locality{Region: sdc, SubZone: primary},
				TotalSuccessfulRequests: ok,
				TotalRequestsInProgress: inProgress,
				TotalErrorRequests:      fail,
				TotalIssuedRequests:     ok + fail + inProgress,
			}},
			TotalDroppedRequests: 0,
			DroppedRequests:      []*endpointv3.ClusterStats_DroppedRequests{},
			LoadReportInterval:   durationpb.New(998 * time.Millisecond),
		}},
	}
}

func TestFirstResponse(t *testing.T) {
	for _, c := range []struct {
		interval, want time.Duration
	}{{0, time.Second}, {250 * time.Millisecond, 250 * time.Millisecond}} {
		h := start(t, Options{Interval: c.interval})
		for _, node := range []*corev3.Node{envoyNode("envoy-1", sdc), grpcNode("grpc-1", sdc)} {
			_, resp := h.open(&lrsv3.LoadStatsRequest{Node: node})
			if !resp.GetSendAllClusters() || len(resp.GetClusters()) != 0 || resp.GetReportEndpointGranularity() {
				t.Errorf("%s: want send_all_clusters and no cluster list, got %v", node.GetId(), resp)
			}
			// grpc-go panics on a zero interval and checks it with CheckValid.
			if err := resp.GetLoadReportingInterval().CheckValid(); err != nil || resp.GetLoadReportingInterval().AsDuration() != c.want {
				t.Errorf("%s: load_reporting_interval %v (%v), want %s", node.GetId(), resp.GetLoadReportingInterval(), err, c.want)
			}
		}
	}
}

func TestOptionsRefused(t *testing.T) {
	ok := Options{Streams: &streams{}, Lookup: Members{}, Sink: &sink{}}
	for _, o := range []Options{
		{Lookup: Members{}, Sink: &sink{}},
		{Streams: &streams{}, Lookup: Members{}, Sink: &sink{}, Interval: -time.Second},
		{Streams: &streams{}, Lookup: Members{}, Sink: &sink{}, Interval: time.Microsecond},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("accepted %+v", o)
		}
	}
	if s, err := New(ok); err != nil || s.Interval() != DefaultInterval {
		t.Fatalf("defaults: %v %v", s, err)
	}
}

func TestFirstRequestWithoutNode(t *testing.T) {
	h := start(t, Options{})
	for _, first := range []*lrsv3.LoadStatsRequest{{}, {Node: &corev3.Node{Id: strings.Repeat("x", MaxNodeIDBytes+1)}}} {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		st, err := h.client.StreamLoadStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(first); err != nil {
			t.Fatal(err)
		}
		_, err = st.Recv()
		cancel()
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("first request %v: %v, want InvalidArgument", first, err)
		}
	}
}

func TestEnvoyShapedReports(t *testing.T) {
	h := start(t, Options{})
	h.streams.set("envoy-sdc-1", sdc)
	st, _ := h.open(&lrsv3.LoadStatsRequest{Node: envoyNode("envoy-sdc-1", sdc)})
	h.send(st, envoyReport(envoyNode("envoy-sdc-1", sdc), 7, 3, 2))
	at := h.clk.now()
	got := []breaker.Report{h.next(), h.next()}
	want := []breaker.Report{
		{Node: "envoy-sdc-1", Region: sdc, Backend: primary, At: at, Span: 1003 * time.Millisecond, Source: breaker.SourceLRS,
			Counts: breaker.Counts{Issued: 12, Succeeded: 7, Failed: 3, InProgress: 2}},
		{Node: "envoy-sdc-1", Region: sdc, Backend: standby, At: at, Span: 1003 * time.Millisecond, Source: breaker.SourceLRS,
			Counts: breaker.Counts{Issued: 3, Succeeded: 3}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reports\n got %+v\nwant %+v", got, want)
	}
	// The static xDS cluster is not a pool: logged once, counted never.
	h.send(st, envoyReport(envoyNode("envoy-sdc-1", sdc), 1, 0, 0))
	h.next()
	h.next()
	h.none()
	if n := countLines(h.logs, "does not serve"); n != 1 {
		t.Errorf("%d log lines about the unknown cluster, want 1 per stream:\n%s", n, strings.Join(h.logs.Lines(), "\n"))
	}
}

func TestGRPCGoShapedReports(t *testing.T) {
	h := start(t, Options{})
	// The region is the ADS stream's, whatever the load report's node says.
	h.streams.set("grpc-nwe-1", nwe)
	st, _ := h.open(&lrsv3.LoadStatsRequest{Node: grpcNode("grpc-nwe-1", sdc)})
	h.send(st, grpcReport(4, 1, 0))
	got := h.next()
	want := breaker.Report{Node: "grpc-nwe-1", Region: nwe, Backend: primary, At: h.clk.now(), Span: 998 * time.Millisecond, Source: breaker.SourceLRS,
		Counts: breaker.Counts{Issued: 5, Succeeded: 4, Failed: 1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("report\n got %+v\nwant %+v", got, want)
	}
}

// Bad reports change nothing, each logs one bounded line, and the stream keeps serving.
func TestBadReportsChangeNothing(t *testing.T) {
	huge := ^uint64(0) // -1 sent as uint64
	long := strings.Repeat("é", 300)
	cases := []struct {
		name string
		req  func() *lrsv3.LoadStatsRequest
		log  string
	}{
		{"negative count", func() *lrsv3.LoadStatsRequest {
			r := grpcReport(1, 1, 0)
			r.ClusterStats[0].UpstreamLocalityStats[0].TotalErrorRequests = huge
			return r
		}, "more than 1000000"},
		{"absurd count in one locality refuses the whole message", func() *lrsv3.LoadStatsRequest {
			r := envoyReport(nil, 5, 5, 0)
			r.ClusterStats[0].UpstreamLocalityStats[1].TotalIssuedRequests = breaker.DefaultMaxCount + 1
			return r
		}, "total_issued_requests 1000001"},
		{"localities of one backend summing past the cap", func() *lrsv3.LoadStatsRequest {
			r := grpcReport(0, breaker.DefaultMaxCount, 0)
			r.ClusterStats[0].UpstreamLocalityStats[0].TotalIssuedRequests = 0
			r.ClusterStats = append(r.ClusterStats, r.ClusterStats[0])
			return r
		}, "sum to more than"},
		{"unknown cluster", func() *lrsv3.LoadStatsRequest {
			r := grpcReport(0, 50, 0)
			r.ClusterStats[0].ClusterName = "forged-" + long
			return r
		}, "does not serve"},
		{"unknown member of a known cluster", func() *lrsv3.LoadStatsRequest {
			r := grpcReport(0, 50, 0)
			r.ClusterStats[0].UpstreamLocalityStats[0].Locality.SubZone = "forged"
			return r
		}, "does not serve"},
		{"another node's id", func() *lrsv3.LoadStatsRequest {
			r := grpcReport(0, 50, 0)
			r.Node = &corev3.Node{Id: "victim" + long}
			return r
		}, "names another node"},
		{"too many clusters", func() *lrsv3.LoadStatsRequest {
			r := grpcReport(0, 1, 0)
			for range DefaultMaxClusters {
				r.ClusterStats = append(r.ClusterStats, r.ClusterStats[0])
			}
			return r
		}, "cluster_stats, at most"},
		{"too many localities", func() *lrsv3.LoadStatsRequest {
			r := grpcReport(0, 1, 0)
			l := r.ClusterStats[0].UpstreamLocalityStats[0]
			for range DefaultMaxLocalities {
				r.ClusterStats[0].UpstreamLocalityStats = append(r.ClusterStats[0].UpstreamLocalityStats, l)
			}
			return r
		}, "upstream_locality_stats, at most"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := start(t, Options{})
			h.streams.set("g", sdc)
			st, _ := h.open(&lrsv3.LoadStatsRequest{Node: grpcNode("g", sdc)})
			for range 3 {
				h.send(st, c.req())
			}
			// A good report after the bad ones: handled in order, so once it arrives the bad
			// ones have been handled, and must have sent nothing.
			h.send(st, grpcReport(1, 0, 0))
			if r := h.next(); r.Counts != (breaker.Counts{Issued: 1, Succeeded: 1}) {
				t.Fatalf("the bad report reached the sink: %+v", r)
			}
			h.none()
			// One line per stream, however often the client repeats it.
			checkLog(t, h.logs, c.log)
		})
	}
}

func TestOversizedMessage(t *testing.T) {
	h := start(t, Options{MaxMessageBytes: 2048})
	h.streams.set("g", sdc)
	st, _ := h.open(&lrsv3.LoadStatsRequest{Node: grpcNode("g", sdc)})
	big := grpcReport(0, 9, 0)
	for range 40 {
		big.ClusterStats = append(big.ClusterStats, grpcReport(0, 9, 0).ClusterStats[0])
	}
	h.send(st, big)
	h.send(st, grpcReport(1, 0, 0))
	if r := h.next(); r.Counts.Failed != 0 {
		t.Fatalf("the oversized report reached the sink: %+v", r)
	}
	checkLog(t, h.logs, "too large")
}

func TestNodeWithoutADSStream(t *testing.T) {
	h := start(t, Options{})
	// Envoy starts LRS as the cluster manager starts, maybe before its ADS stream: the
	// stream is answered, and its reports count from when the ADS stream is open.
	st, resp := h.open(&lrsv3.LoadStatsRequest{Node: envoyNode("e", sdc)})
	if !resp.GetSendAllClusters() {
		t.Fatal("no answer before the ADS stream")
	}
	h.send(st, envoyReport(envoyNode("e", sdc), 0, 50, 0))
	h.send(st, envoyReport(envoyNode("e", sdc), 0, 50, 0))
	h.streams.set("e", sdc)
	h.send(st, envoyReport(envoyNode("e", sdc), 2, 0, 0))
	if r := h.next(); r.Counts.Failed != 0 || r.Counts.Succeeded != 2 {
		t.Fatalf("a report from before the ADS stream was counted: %+v", r)
	}
	if n := countLines(h.logs, "without an open ADS stream"); n != 1 {
		t.Errorf("%d lines about the missing ADS stream, want 1", n)
	}
}

func TestFloodIsIgnored(t *testing.T) {
	h := start(t, Options{})
	h.streams.set("g", sdc)
	st, _ := h.open(&lrsv3.LoadStatsRequest{Node: grpcNode("g", sdc)})
	// A burst of up to three (a stalled connection delivering late reports) counts.
	for range 8 { // without advancing the clock
		h.sendNow(st, grpcReport(0, 1, 0))
	}
	for range burstReports {
		h.next()
	}
	h.none()
	// Then the budget refills at two reports per interval.
	h.send(st, grpcReport(3, 0, 0))
	h.sendNow(st, grpcReport(4, 0, 0))
	h.sendNow(st, grpcReport(0, 100, 0))
	if r1, r2 := h.next(), h.next(); r1.Counts.Succeeded != 3 || r2.Counts.Succeeded != 4 {
		t.Fatalf("reports within the budget: %+v %+v", r1, r2)
	}
	h.none()
	if n := countLines(h.logs, "faster than"); n != 1 {
		t.Errorf("%d lines about flooding, want 1", n)
	}
}

// Several gRPC clients and an Envoy in two regions each see too few failures to trip
// alone; their reports together meet the rule and trip the backend for the fleet.
func TestReportsTripTheEngine(t *testing.T) {
	h := start(t, Options{})
	h.engineWithRule(breaker.Config{}, breaker.Rule{Name: "rule", Count: 3, Interval: 15 * time.Second, TripDuration: 30 * time.Second, Scope: breaker.ScopeFleet})
	type client struct {
		st   lrsv3.LoadReportingService_StreamLoadStatsClient
		node *corev3.Node
	}
	var cs []client
	for i, region := range []string{sdc, nwe} {
		id := fmt.Sprintf("grpc-%d", i)
		h.streams.set(id, region)
		st, _ := h.open(&lrsv3.LoadStatsRequest{Node: grpcNode(id, region)})
		cs = append(cs, client{st: st})
	}
	h.streams.set("envoy", sdc)
	st, _ := h.open(&lrsv3.LoadStatsRequest{Node: envoyNode("envoy", sdc)})
	cs = append(cs, client{st: st, node: envoyNode("envoy", sdc)})
	for i, c := range cs {
		var req *lrsv3.LoadStatsRequest
		if c.node != nil {
			req = envoyReport(c.node, 10, 1, 0)
		} else {
			req = grpcReport(10, 1, 0)
		}
		h.send(c.st, req)
		h.next() // the primary's report
		if c.node != nil {
			h.next() // and Envoy's report of the standby
		}
		if got := len(h.sink.engine.State().Open); (got == 1) != (i == len(cs)-1) {
			t.Fatalf("after %d clients: %d trips", i+1, got)
		}
	}
	st2 := h.sink.engine.State()
	if !st2.Tripped(primary, sdc) || !st2.Tripped(primary, nwe) || st2.Tripped(standby, sdc) {
		t.Fatalf("state %+v", st2)
	}
	tr := h.sink.engine.Trips()[0]
	if tr.Failures != 3 || tr.Requests != 33 || tr.Proxies != 3 {
		t.Fatalf("trip %+v", tr)
	}
}

// A member without a breaker rule is reported like any other; the engine has no rule
// for it, which is no reason to log every second.
func TestMemberWithoutRuleIsQuiet(t *testing.T) {
	h := start(t, Options{})
	h.engineWithRule(breaker.Config{MaxRegions: 1}, breaker.Rule{Name: "rule", Count: 1000, Interval: 15 * time.Second, TripDuration: 30 * time.Second, Scope: breaker.ScopeFleet})
	h.streams.set("e", sdc)
	st, _ := h.open(&lrsv3.LoadStatsRequest{Node: envoyNode("e", sdc)})
	for range 3 {
		h.send(st, envoyReport(envoyNode("e", sdc), 1, 1, 0))
		h.next()
		h.next()
	}
	if n := countLines(h.logs, "load report not counted"); n != 0 {
		t.Fatalf("%d lines about the member without a rule:\n%s", n, strings.Join(h.logs.Lines(), "\n"))
	}
	// Other refusals of the engine (here: a second reporting region) are logged once.
	h.streams.set("g", nwe)
	st2, _ := h.open(&lrsv3.LoadStatsRequest{Node: grpcNode("g", nwe)})
	for range 3 {
		h.send(st2, grpcReport(1, 0, 0))
		h.next()
	}
	checkLog(t, h.logs, "too many reporting regions")
}

// A client that could not report for a while (Envoy keeps its counters across LRS
// reconnects, grpc-go keeps its load store) sends all of it at once, with a long
// load_report_interval: those failures are not "within interval" and must not trip.
func TestLongReportIntervalIsStale(t *testing.T) {
	h := start(t, Options{})
	h.engineWithRule(breaker.Config{}, breaker.Rule{Name: "rule", Count: 3, Interval: 15 * time.Second, TripDuration: 30 * time.Second, Scope: breaker.ScopeFleet})
	h.streams.set("g", sdc)
	st, _ := h.open(&lrsv3.LoadStatsRequest{Node: grpcNode("g", sdc)})
	late := grpcReport(0, 100, 0)
	late.ClusterStats[0].LoadReportInterval = durationpb.New(time.Minute)
	h.send(st, late)
	h.next()
	h.send(st, grpcReport(5, 0, 0))
	h.next()
	if open := h.sink.engine.State().Open; len(open) != 0 {
		t.Fatalf("a minute of failures tripped a 15s rule: %+v", open)
	}
	if rows := h.sink.engine.Stats(); len(rows) != 2 || rows[0].Requests != 5 {
		t.Fatalf("rows %+v", rows)
	}
	checkLog(t, h.logs, "stale")
}

// With a region-scoped rule, swedencentral's Envoy trips the backend for swedencentral
// only; a norwayeast client claiming swedencentral in its load report still counts for
// norwayeast, the region of its ADS stream.
func TestRegionScopeThroughLRS(t *testing.T) {
	h := start(t, Options{})
	h.engineWithRule(breaker.Config{}, breaker.Rule{Name: "rule", Count: 2, Interval: 15 * time.Second, TripDuration: 30 * time.Second, Scope: breaker.ScopeRegion})
	h.streams.set("e-sdc", sdc)
	h.streams.set("g-nwe", nwe)
	e, _ := h.open(&lrsv3.LoadStatsRequest{Node: envoyNode("e-sdc", sdc)})
	g, _ := h.open(&lrsv3.LoadStatsRequest{Node: grpcNode("g-nwe", sdc)})
	h.send(g, grpcReport(0, 1, 0))
	h.next()
	h.send(e, envoyReport(envoyNode("e-sdc", sdc), 0, 1, 0))
	h.next()
	h.next()
	if st := h.sink.engine.State(); len(st.Open) != 0 {
		t.Fatalf("one failure in each region tripped %+v", st)
	}
	h.send(e, envoyReport(envoyNode("e-sdc", sdc), 0, 1, 0))
	h.next()
	h.next()
	st := h.sink.engine.State()
	if !st.Tripped(primary, sdc) || st.Tripped(primary, nwe) || len(st.Open) != 1 {
		t.Fatalf("state %+v, want %s out for %s only", st, primary, sdc)
	}
}

func TestCloseEndsStreams(t *testing.T) {
	h := start(t, Options{})
	st, _ := h.open(&lrsv3.LoadStatsRequest{Node: grpcNode("g", sdc)})
	h.srv.Close()
	_, err := st.Recv()
	if status.Code(err) != codes.OK && !errors.Is(err, context.Canceled) && err.Error() != "EOF" {
		t.Fatalf("after Close: %v", err)
	}
}

func countLines(l *adstest.LogBuffer, substr string) int {
	n := 0
	for _, line := range l.Lines() {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// checkLog wants one line containing substr and every line bounded in length.
func checkLog(t *testing.T, l *adstest.LogBuffer, substr string) {
	t.Helper()
	if n := countLines(l, substr); n != 1 {
		t.Errorf("%d log lines with %q, want 1:\n%s", n, substr, strings.Join(l.Lines(), "\n"))
	}
	for _, line := range l.Lines() {
		if len(line) > 600 {
			t.Errorf("log line of %d bytes: %.200s…", len(line), line)
		}
	}
}
