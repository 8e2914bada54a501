package xds

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resource "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/poolpilot/poolpilot/model"

	"github.com/poolpilot/poolpilot/translator"
)

// Tests of what a hostile or careless xDS client can make the server hold. Every stream is
// real gRPC on 127.0.0.1.

// streamsSeries counts the poolpilot_xds_streams series of the live server.
func (l *live) streamsSeries() int {
	l.t.Helper()
	if f := l.scrape()[metricStreams]; f != nil {
		return len(f.GetMetric())
	}
	return 0
}

// wantCode waits for the stream to end with code.
func (a *liveADS) wantCode(code codes.Code, what string) error {
	a.t.Helper()
	for range 8 {
		_, err := a.recv(5 * time.Second)
		if err == nil {
			continue // a response sent before the refusal
		}
		if status.Code(err) != code {
			a.t.Errorf("%s: stream ended with %v; want %s", what, err, code)
		}
		return err
	}
	a.t.Errorf("%s: the stream was not ended", what)
	return nil
}

// TestMadeUpRegionsShareOneGroup: nodes inventing regions (valid names, and a 200 KB
// one) all join the OtherRegion group: no group, snapshot, cache key or metric series
// per region, and the series goes when its streams do.
func TestMadeUpRegionsShareOneGroup(t *testing.T) {
	l := startLive(t, map[string]string{"model.yaml": liveModel(9, false)}, liveOptions{})
	groupsBefore := len(l.srv.Status().Groups)
	var streams []*liveADS
	for i := range 40 {
		region := fmt.Sprintf("made-up-%d", i)
		if i == 39 {
			region = strings.Repeat("r", 200<<10)
		}
		a := openLiveADS(t, l.xdsAddr, nil, liveNode(fmt.Sprintf("n%d", i), region))
		if err := a.request(resource.ClusterType, "", "", ""); err != nil {
			t.Fatal(err)
		}
		if r, err := a.recv(10 * time.Second); err != nil || len(r.GetResources()) == 0 {
			t.Fatalf("node %d: %v, %d clusters; want the model's clusters", i, err, len(r.GetResources()))
		}
		streams = append(streams, a)
	}
	st := l.srv.Status()
	if len(st.Groups) != groupsBefore {
		t.Errorf("%d groups after 40 made-up regions; want %d (no new group)", len(st.Groups), groupsBefore)
	}
	if keys := l.srv.cache.GetStatusKeys(); len(keys) > groupsBefore {
		t.Errorf("the cache holds %d node keys; want at most %d: %v", len(keys), groupsBefore, clipKeys(keys))
	}
	for _, s := range st.Streams {
		if s.Group != translator.OtherRegion+"/envoy" {
			t.Errorf("stream of %s is in group %.80q; want %s/envoy", s.NodeID, s.Group, translator.OtherRegion)
		}
	}
	if n := l.streamsSeries(); n != 1 {
		t.Errorf("%d %s series; want 1 (the shared group)", n, metricStreams)
	}
	if _, body := l.get("/status"); len(body) > 64<<10 {
		t.Errorf("/status is %d bytes with 40 nodes; want it bounded", len(body))
	}

	for _, a := range streams {
		a.stream.CloseSend()
	}
	waitFor(t, "streams closed", func() bool { return len(l.srv.Status().Streams) == 0 })
	if n := l.streamsSeries(); n != 0 {
		t.Errorf("%d %s series after every stream closed; want 0", n, metricStreams)
	}
}

func clipKeys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = clipText(k, 40)
	}
	return out
}

// TestNodeChangingGroupMidStreamIsRefused: a stream whose node claims another region on a
// later request is ended (InvalidArgument), so it cannot make the cache key a new group
// per request; the cache keeps only the groups every Apply builds.
func TestNodeChangingGroupMidStreamIsRefused(t *testing.T) {
	l := startLive(t, map[string]string{"model.yaml": liveModel(9, false)}, liveOptions{})
	a := openLiveADS(t, l.xdsAddr, nil, liveNode("shifty", "swedencentral"))
	if err := a.request(resource.ClusterType, "", "", ""); err != nil {
		t.Fatal(err)
	}
	r, err := a.recv(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		a.node = liveNode("shifty", fmt.Sprintf("region-%d-%s", i, strings.Repeat("x", 50)))
		if a.request(resource.ClusterType, r.GetVersionInfo(), r.GetNonce(), "") != nil {
			break // the server ended the stream
		}
	}
	a.wantCode(codes.InvalidArgument, "node changing region mid-stream")
	if keys, want := l.srv.cache.GetStatusKeys(), len(l.srv.Status().Groups); len(keys) > want {
		t.Errorf("the cache holds %d node keys; want at most %d: %v", len(keys), want, clipKeys(keys))
	}
}

// TestUnknownTypeURLRefused: a request for a type poolpilot does not serve ends the stream
// with InvalidArgument naming the served types, sotw and delta, and leaves no per-type
// state in /status.
func TestUnknownTypeURLRefused(t *testing.T) {
	l := startLive(t, map[string]string{"model.yaml": liveModel(9, false)}, liveOptions{})
	a := openLiveADS(t, l.xdsAddr, nil, liveNode("typer", "swedencentral"))
	if err := a.request("type.googleapis.com/made.up.Type0", "", "", ""); err != nil {
		t.Fatal(err)
	}
	if err := a.wantCode(codes.InvalidArgument, "sotw unknown type"); err != nil &&
		!strings.Contains(status.Convert(err).Message(), resource.ClusterType) {
		t.Errorf("refusal %q does not name the served types", status.Convert(err).Message())
	}
	for _, s := range l.srv.Status().Streams {
		for url := range s.Types {
			if !servedTypes[url] {
				t.Errorf("stream %d has state for type %q", s.StreamID, url)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	delta, err := dial(t, l.xdsAddr).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := delta.Send(&discovery.DeltaDiscoveryRequest{Node: liveNode("delta-typer", "swedencentral"),
		TypeUrl: "type.googleapis.com/made.up.Type1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := delta.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("delta stream asking for an unknown type: %v; want InvalidArgument", err)
	}
}

// TestClientTextIsBounded: a 300 KB node id and a 480 KB NACK detail are kept, logged and shown only
// as a bounded prefix; a request over MaxRecvMsgSize (3 MB of metadata) is refused by
// gRPC.
func TestClientTextIsBounded(t *testing.T) {
	var logBuf lockedBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, addr := startServer(t, Options{Logger: log})
	mustApply(t, s, testModel(t, 0))

	a := openLiveADS(t, addr, nil, liveNode(strings.Repeat("i", 300<<10), "swedencentral"))
	if err := a.request(resource.ClusterType, "", "", ""); err != nil {
		t.Fatal(err)
	}
	cds, err := a.recv(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.request(resource.ClusterType, "", cds.GetNonce(), strings.Repeat("nack detail\n", 40<<10)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "NACK recorded", func() bool {
		st := s.Status().Streams
		return len(st) == 1 && st[0].Types[resource.ClusterType].LastNack != nil
	})
	st := s.Status().Streams[0]
	if len(st.NodeID) > MaxNodeIDLen+64 {
		t.Errorf("node id kept as %d bytes; want at most %d and a marker", len(st.NodeID), MaxNodeIDLen)
	}
	msg := st.Types[resource.ClusterType].LastNack.Message
	if len(msg) > MaxNackDetailLen+64 || strings.Contains(msg, "\n") {
		t.Errorf("NACK detail kept as %d bytes (newlines: %v); want at most %d, one line", len(msg), strings.Contains(msg, "\n"), MaxNackDetailLen)
	}
	for line := range strings.SplitSeq(logBuf.String(), "\n") {
		if len(line) > 8<<10 {
			t.Errorf("a log line of %d bytes: %.200s…", len(line), line)
		}
	}

	meta, err := structpb.NewStruct(map[string]any{"junk": strings.Repeat("m", 3<<20)})
	if err != nil {
		t.Fatal(err)
	}
	big := envoyNode("big-metadata", "swedencentral")
	big.Metadata = meta
	a = openLiveADS(t, addr, nil, big)
	if err := a.request(resource.ClusterType, "", "", ""); err == nil {
		a.wantCode(codes.ResourceExhausted, "3 MB request")
	}
}

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAdminConnectionLimit: idle connections beyond AdminMaxConns are not accepted (they
// wait in the kernel's queue), so they cannot take the descriptors the xDS port needs.
func TestAdminConnectionLimit(t *testing.T) {
	s, _ := startServer(t, Options{})
	mustApply(t, s, testModel(t, 0))
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: inner}
	admin := NewAdmin(AdminOptions{Server: s, Logger: testLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- admin.Serve(ctx, cl) }()
	t.Cleanup(func() { cancel(); <-done })

	const dials = AdminMaxConns + 40
	for range dials {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	waitFor(t, "connections accepted", func() bool { return cl.open.Load() >= AdminMaxConns })
	time.Sleep(300 * time.Millisecond) // let any excess accept happen: it must not
	if n := cl.open.Load(); n > AdminMaxConns {
		t.Errorf("%d admin connections accepted at once; want at most %d", n, AdminMaxConns)
	}
}

// countingListener counts the connections accepted and not yet closed.
type countingListener struct {
	net.Listener
	open atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// TestRegionRemovedFromModel: a node whose region the model stops naming is answered (its
// open watch gets the shared group's snapshot, not silence), moves to the shared group,
// and once it has gone the next Apply leaves no cache key for the removed region.
func TestRegionRemovedFromModel(t *testing.T) {
	s, addr := startServer(t, Options{})
	mustApply(t, s, testModel(t, 0))
	withoutNWE := func(variant int) *model.Model {
		m := testModel(t, variant)
		for _, b := range m.Backends {
			if b.Region == "norwayeast" {
				b.Region = ""
			}
		}
		return m
	}

	a := openLiveADS(t, addr, nil, liveNode("nwe-1", "norwayeast"))
	if err := a.request(resource.ClusterType, "", "", ""); err != nil {
		t.Fatal(err)
	}
	if err := a.ack(a.mustRecv()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ACK counted", func() bool {
		st := s.Status().Streams
		return len(st) == 1 && st[0].Types[resource.ClusterType].Acks == 1
	})

	mustApply(t, s, withoutNWE(1))
	r := a.mustRecv()
	if want := groupVersions(t, s, translator.OtherRegion+"/envoy")[resource.ClusterType]; r.GetVersionInfo() != want {
		t.Errorf("after its region left the model the node got %s; want the shared group's %s", r.GetVersionInfo(), want)
	}
	if err := a.ack(r); err != nil {
		t.Fatal(err)
	}
	a.stream.CloseSend()
	waitFor(t, "stream closed", func() bool { return len(s.Status().Streams) == 0 })
	mustApply(t, s, withoutNWE(2))
	for _, k := range s.cache.GetStatusKeys() {
		if strings.HasPrefix(k, "norwayeast/") {
			t.Errorf("the cache keeps key %s after norwayeast left the model and its node went", k)
		}
	}
}

// TestStreamsPerConnectionAreCapped: one connection may open MaxConcurrentStreams streams;
// the next waits (gRPC queues it) instead of costing the server another stream.
func TestStreamsPerConnectionAreCapped(t *testing.T) {
	s, addr := startServer(t, Options{})
	mustApply(t, s, testModel(t, 0))
	c := dial(t, addr)
	open := func(ctx context.Context, i int) error {
		st, err := c.StreamAggregatedResources(ctx)
		if err != nil {
			return err
		}
		if err := st.Send(&discovery.DiscoveryRequest{Node: liveNode(fmt.Sprintf("n%d", i), "swedencentral"),
			TypeUrl: resource.ClusterType}); err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range MaxConcurrentStreams {
		if err := open(ctx, i); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	extra, cancelExtra := context.WithTimeout(ctx, time.Second)
	defer cancelExtra()
	if err := open(extra, MaxConcurrentStreams); err == nil {
		t.Errorf("stream %d on one connection was served; want it held back", MaxConcurrentStreams+1)
	}
	if n := len(s.Status().Streams); n != MaxConcurrentStreams {
		t.Errorf("%d streams open; want %d", n, MaxConcurrentStreams)
	}
}
