package xds_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/admin"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
	"github.com/poolpilot/poolpilot/xds/internal/livetest"
)

// Tests of what a hostile or careless xDS client can make a whole running server hold
// (ADS, metrics and /status). Every stream is real gRPC on 127.0.0.1.

// streamsSeries counts the poolpilot_xds_streams series of the live server.
func streamsSeries(l *livetest.Live) int {
	if f := l.Scrape()[admin.MetricStreams]; f != nil {
		return len(f.GetMetric())
	}
	return 0
}

// TestMadeUpRegionsShareOneGroup: nodes inventing regions (valid names, and a 200 KB
// one) all join the OtherRegion group: no group, snapshot, cache key or metric series
// per region, and the series goes when its streams do.
func TestMadeUpRegionsShareOneGroup(t *testing.T) {
	l := livetest.Start(t, map[string]string{"model.yaml": adstest.Model(9, false)}, livetest.Options{})
	groupsBefore := len(l.Srv.Status().Groups)
	var streams []*adstest.ADS
	for i := range 40 {
		region := fmt.Sprintf("made-up-%d", i)
		if i == 39 {
			region = strings.Repeat("r", 200<<10)
		}
		a := adstest.Open(t, l.XDSAddr, nil, adstest.Node(fmt.Sprintf("n%d", i), region))
		if err := a.Request(resourcev3.ClusterType, "", "", ""); err != nil {
			t.Fatal(err)
		}
		if r, err := a.Recv(10 * time.Second); err != nil || len(r.GetResources()) == 0 {
			t.Fatalf("node %d: %v, %d clusters; want the model's clusters", i, err, len(r.GetResources()))
		}
		streams = append(streams, a)
	}
	st := l.Srv.Status()
	if len(st.Groups) != groupsBefore {
		t.Errorf("%d groups after 40 made-up regions; want %d (no new group)", len(st.Groups), groupsBefore)
	}
	if keys := xds.CacheKeys(l.Srv); len(keys) > groupsBefore {
		t.Errorf("the cache holds %d node keys; want at most %d: %v", len(keys), groupsBefore, clipKeys(keys))
	}
	for _, s := range st.Streams {
		if s.Group != translator.OtherRegion+"/envoy" {
			t.Errorf("stream of %s is in group %.80q; want %s/envoy", s.NodeID, s.Group, translator.OtherRegion)
		}
	}
	if n := streamsSeries(l); n != 1 {
		t.Errorf("%d %s series; want 1 (the shared group)", n, admin.MetricStreams)
	}
	if _, body := l.Get("/status"); len(body) > 64<<10 {
		t.Errorf("/status is %d bytes with 40 nodes; want it bounded", len(body))
	}

	for _, a := range streams {
		_ = a.CloseSend()
	}
	adstest.WaitFor(t, "streams closed", func() bool { return len(l.Srv.Status().Streams) == 0 })
	if n := streamsSeries(l); n != 0 {
		t.Errorf("%d %s series after every stream closed; want 0", n, admin.MetricStreams)
	}
}

func clipKeys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = xds.ClipText(k, 40)
	}
	return out
}

// TestNodeChangingGroupMidStreamIsRefused: a stream whose node claims another region on a
// later request is ended (InvalidArgument), so it cannot make the cache key a new group
// per request; the cache keeps only the groups every Apply builds.
func TestNodeChangingGroupMidStreamIsRefused(t *testing.T) {
	l := livetest.Start(t, map[string]string{"model.yaml": adstest.Model(9, false)}, livetest.Options{})
	a := adstest.Open(t, l.XDSAddr, nil, adstest.Node("shifty", "swedencentral"))
	if err := a.Request(resourcev3.ClusterType, "", "", ""); err != nil {
		t.Fatal(err)
	}
	r, err := a.Recv(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		a.SetNode(adstest.Node("shifty", fmt.Sprintf("region-%d-%s", i, strings.Repeat("x", 50))))
		if a.Request(resourcev3.ClusterType, r.GetVersionInfo(), r.GetNonce(), "") != nil {
			break // the server ended the stream
		}
	}
	_ = a.WantCode(codes.InvalidArgument, "node changing region mid-stream")
	if keys, want := xds.CacheKeys(l.Srv), len(l.Srv.Status().Groups); len(keys) > want {
		t.Errorf("the cache holds %d node keys; want at most %d: %v", len(keys), want, clipKeys(keys))
	}
}

// TestUnknownTypeURLRefused: a request for a type poolpilot does not serve ends the stream
// with InvalidArgument naming the served types, sotw and delta, and leaves no per-type
// state in /status.
func TestUnknownTypeURLRefused(t *testing.T) {
	l := livetest.Start(t, map[string]string{"model.yaml": adstest.Model(9, false)}, livetest.Options{})
	a := adstest.Open(t, l.XDSAddr, nil, adstest.Node("typer", "swedencentral"))
	if err := a.Request("type.googleapis.com/made.up.Type0", "", "", ""); err != nil {
		t.Fatal(err)
	}
	if err := a.WantCode(codes.InvalidArgument, "sotw unknown type"); err != nil &&
		!strings.Contains(status.Convert(err).Message(), resourcev3.ClusterType) {
		t.Errorf("refusal %q does not name the served types", status.Convert(err).Message())
	}
	for _, s := range l.Srv.Status().Streams {
		for url := range s.Types {
			if !xds.Served(url) {
				t.Errorf("stream %d has state for type %q", s.StreamID, url)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	delta, err := xds.Dial(t, l.XDSAddr).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := delta.Send(&discovery.DeltaDiscoveryRequest{Node: adstest.Node("delta-typer", "swedencentral"),
		TypeUrl: "type.googleapis.com/made.up.Type1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := delta.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("delta stream asking for an unknown type: %v; want InvalidArgument", err)
	}
}
