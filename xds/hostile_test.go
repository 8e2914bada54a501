package xds

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"

	"github.com/poolpilot/poolpilot/translator"
)

// Tests of what a hostile or careless xDS client can make the server hold. Every stream is
// real gRPC on 127.0.0.1.

// TestClientTextIsBounded: a 300 KB node id and a 480 KB NACK detail are kept, logged and shown only
// as a bounded prefix; a request over MaxRecvMsgSize (3 MB of metadata) is refused by
// gRPC.
func TestClientTextIsBounded(t *testing.T) {
	var logBuf adstest.LogBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, addr := startServer(t, Options{Logger: log})
	mustApply(t, s, testModel(t, 0))

	a := adstest.Open(t, addr, nil, adstest.Node(strings.Repeat("i", 300<<10), "swedencentral"))
	if err := a.Request(resourcev3.ClusterType, "", "", ""); err != nil {
		t.Fatal(err)
	}
	cds, err := a.Recv(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Request(resourcev3.ClusterType, "", cds.GetNonce(), strings.Repeat("nack detail\n", 40<<10)); err != nil {
		t.Fatal(err)
	}
	adstest.WaitFor(t, "NACK recorded", func() bool {
		st := s.Status().Streams
		return len(st) == 1 && st[0].Types[resourcev3.ClusterType].LastNack != nil
	})
	st := s.Status().Streams[0]
	if len(st.NodeID) > MaxNodeIDLen+64 {
		t.Errorf("node id kept as %d bytes; want at most %d and a marker", len(st.NodeID), MaxNodeIDLen)
	}
	msg := st.Types[resourcev3.ClusterType].LastNack.Message
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
	a = adstest.Open(t, addr, nil, big)
	if err := a.Request(resourcev3.ClusterType, "", "", ""); err == nil {
		_ = a.WantCode(codes.ResourceExhausted, "3 MB request")
	}
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

	a := adstest.Open(t, addr, nil, adstest.Node("nwe-1", "norwayeast"))
	if err := a.Request(resourcev3.ClusterType, "", "", ""); err != nil {
		t.Fatal(err)
	}
	if err := a.Ack(a.MustRecv()); err != nil {
		t.Fatal(err)
	}
	adstest.WaitFor(t, "ACK counted", func() bool {
		st := s.Status().Streams
		return len(st) == 1 && st[0].Types[resourcev3.ClusterType].Acks == 1
	})

	mustApply(t, s, withoutNWE(1))
	r := a.MustRecv()
	if want := groupVersions(t, s, translator.OtherRegion+"/envoy")[resourcev3.ClusterType]; r.GetVersionInfo() != want {
		t.Errorf("after its region left the model the node got %s; want the shared group's %s", r.GetVersionInfo(), want)
	}
	if err := a.Ack(r); err != nil {
		t.Fatal(err)
	}
	_ = a.CloseSend()
	adstest.WaitFor(t, "stream closed", func() bool { return len(s.Status().Streams) == 0 })
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
		if err := st.Send(&discovery.DiscoveryRequest{Node: adstest.Node(fmt.Sprintf("n%d", i), "swedencentral"),
			TypeUrl: resourcev3.ClusterType}); err != nil {
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
