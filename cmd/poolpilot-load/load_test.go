package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/poolpilot/poolpilot/internal/modelgen"
	"github.com/poolpilot/poolpilot/model"
)

// regionHash groups nodes by region, as poolpilot does.
type regionHash struct{}

func (regionHash) ID(n *corev3.Node) string { return n.GetLocality().GetRegion() }

var ads = &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	ResourceApiVersion: corev3.ApiVersion_V3}

// snapshotFor builds a small but complete Envoy configuration: clusters over EDS and a
// listener over RDS. flip reverses the priorities of cluster 0 only.
func snapshotFor(t *testing.T, version string, clusters int, flip bool) *cache.Snapshot {
	t.Helper()
	var cs, es, vhosts []types.Resource
	var vh []*routev3.VirtualHost
	for i := range clusters {
		name := fmt.Sprintf("pool-%d", i)
		cs = append(cs, &clusterv3.Cluster{Name: name,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
			EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads}})
		la := &endpointv3.ClusterLoadAssignment{ClusterName: name}
		for p := range 2 {
			prio := uint32(p)
			if flip && i == 0 {
				prio = uint32(1 - p)
			}
			la.Endpoints = append(la.Endpoints, &endpointv3.LocalityLbEndpoints{
				Locality: &corev3.Locality{Region: fmt.Sprintf("r%d", p)}, Priority: prio,
				LoadBalancingWeight: wrapperspb.UInt32(1),
				LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
					Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
						SocketAddress: &corev3.SocketAddress{Address: fmt.Sprintf("10.0.%d.%d", i, p+1),
							PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8080}}}}}}}},
			})
		}
		es = append(es, la)
		vh = append(vh, &routev3.VirtualHost{Name: name, Domains: []string{name}})
	}
	vhosts = append(vhosts, &routev3.RouteConfiguration{Name: "routes", VirtualHosts: vh})
	mgr, err := anypb.New(&hcmv3.HttpConnectionManager{StatPrefix: "http",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{ConfigSource: ads, RouteConfigName: "routes"}}})
	if err != nil {
		t.Fatal(err)
	}
	ls := []types.Resource{&listenerv3.Listener{Name: "public",
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{Name: "hcm",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mgr}}}}}}}
	snap, err := cache.NewSnapshot(version, map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType: cs, resourcev3.EndpointType: es, resourcev3.RouteType: vhosts, resourcev3.ListenerType: ls,
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// startServer runs go-control-plane's own ADS server on a free loopback port.
func startServer(t *testing.T, regions []string) (addr string, set func(version string, flip bool)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	snaps := cache.NewSnapshotCache(false, regionHash{}, nil)
	set = func(version string, flip bool) {
		for _, r := range regions {
			if err := snaps.SetSnapshot(ctx, r, snapshotFor(t, version, 4, flip)); err != nil {
				t.Fatal(err)
			}
		}
	}
	set("v1", false)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	discovery.RegisterAggregatedDiscoveryServiceServer(g, serverv3.NewServer(ctx, snaps, nil))
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(lis) }()
	t.Cleanup(func() { cancel(); g.Stop(); <-done })
	return lis.Addr().String(), set
}

func runReport(t *testing.T, c config) report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, c, &out, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("run: %v", err)
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	return rep
}

func TestLoadAgainstSnapshotServer(t *testing.T) {
	for _, mode := range []string{"sotw", "delta"} {
		t.Run(mode, func(t *testing.T) {
			addr, set := startServer(t, modelgen.RegionNames(2))
			flip := false
			c, err := parseFlags([]string{"--xds-address", addr, "--streams", "20", "--regions", "2",
				"--mode", mode, "--streams-per-conn", "7", "--quiet", "200ms", "--json",
				// The server runs in this process.
				"--server-pid", strconv.Itoa(os.Getpid()), "--idle", "0s"})
			if err != nil {
				t.Fatal(err)
			}
			version := 1
			c.Changes = 2
			c.trigger = func() error {
				flip = !flip
				version++
				set(fmt.Sprintf("v%d", version), flip)
				return nil
			}
			rep := runReport(t, c)
			var text bytes.Buffer
			rep.print(&text)
			t.Log("\n" + text.String())
			if rep.Connect.Settled != 20 || rep.Connect.Connections != 3 {
				t.Errorf("connect: %d settled over %d connections, want 20 over 3", rep.Connect.Settled, rep.Connect.Connections)
			}
			if rep.Connect.ServerCPUSeconds == nil {
				t.Errorf("connect: no server CPU with --server-pid")
			}
			if _, err := os.Stat("/proc/loadavg"); err == nil && len(rep.LoadAverage) != 2 {
				t.Errorf("load average %v, want the start and the end read from /proc/loadavg", rep.LoadAverage)
			}
			for _, typ := range []string{"CDS", "EDS", "LDS", "RDS"} {
				if rep.Connect.ResourcesPerStream[typ] < 1 {
					t.Errorf("connect: %s resources per stream = %v, want >= 1", typ, rep.Connect.ResourcesPerStream[typ])
				}
			}
			if rep.Connect.ResourcesPerStream["EDS"] < 4 {
				t.Errorf("connect: EDS per stream %v, want the 4 load assignments", rep.Connect.ResourcesPerStream["EDS"])
			}
			if len(rep.Changes) != 2 {
				t.Fatalf("got %d changes, want 2", len(rep.Changes))
			}
			for i, ch := range rep.Changes {
				if ch.Updated != 20 {
					t.Errorf("change %d: %d streams updated, want 20", i, ch.Updated)
				}
				if ch.BytesPerStreamMin <= 0 {
					t.Errorf("change %d: a stream received %d bytes", i, ch.BytesPerStreamMin)
				}
				if mode == "delta" && (ch.ResourcesPerStream["EDS"] != 1 || ch.ResourcesPerStream["CDS"] != 0) {
					t.Errorf("change %d: delta sent %v per stream, want exactly the one changed load assignment",
						i, ch.ResourcesPerStream)
				}
				if mode == "sotw" && ch.ResourcesPerStream["EDS"] < 4 {
					t.Errorf("change %d: sotw sent %v per stream, want every load assignment", i, ch.ResourcesPerStream)
				}
			}
			if len(rep.StreamErrors) > 0 {
				t.Errorf("stream errors: %v", rep.StreamErrors)
			}
		})
	}
}

func TestParseFlagsRejects(t *testing.T) {
	for _, args := range [][]string{
		{"--streams", "0"}, {"--mode", "rest"}, {"--regions", "0"}, {"--signal-hup"},
		{"--compare", "baseline"}, {"--compare", "127.0.0.1:1", "--change-cmd", "true"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%v): no error", args)
		}
	}
}

func TestGen(t *testing.T) {
	var out bytes.Buffer
	if err := runGen([]string{"--pools", "3", "--backends-per-pool", "2", "--regions", "2"}, &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "url: http://10."); n != 6 {
		t.Errorf("gen wrote %d backends, want 6", n)
	}
}

func TestScrapeAndProc(t *testing.T) {
	vals := scrape(strings.NewReader("# HELP x\ngo_memstats_heap_inuse_bytes 1.5e+06\ngo_goroutines 12\nother{a=\"b\"} 3\n"),
		"go_memstats_heap_inuse_bytes", "go_goroutines")
	if vals["go_memstats_heap_inuse_bytes"] != 1.5e6 || vals["go_goroutines"] != 12 {
		t.Errorf("scrape = %v", vals)
	}
	// The tool reads /proc (Linux only, as is CI); this process is a live one to read.
	if rss, err := procRSS(os.Getpid()); err != nil || rss <= 0 {
		t.Errorf("procRSS(self) = %d, %v; want a positive RSS", rss, err)
	}
	if cpu, ok := serverCPU(os.Getpid()); !ok || cpu < 0 {
		t.Errorf("serverCPU(self) = %v, %v; want the CPU seconds used", cpu, ok)
	}
	if _, ok := serverCPU(0); ok {
		t.Error("serverCPU(0) reports a value; 0 means no --server-pid")
	}
}

func TestMutateDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := runGen([]string{"--pools", "5", "--backends-per-pool", "3", "--regions", "2",
		"--dir", dir, "--pools-per-file", "2"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "model-002.yaml"))
	// Preparing a change writes nothing: a change is timed from its write.
	m, err := prepareMutation(dir, modelgen.PoolName(4))
	if err != nil || m.pool != modelgen.PoolName(4) || m.file != filepath.Join(dir, "model-002.yaml") {
		t.Fatalf("prepareMutation: %+v, %v", m, err)
	}
	if now, _ := os.ReadFile(m.file); !bytes.Equal(before, now) {
		t.Fatal("preparing a change wrote the file")
	}
	name, err := mutate(dir, modelgen.PoolName(4))
	if err != nil || name != modelgen.PoolName(4) {
		t.Fatalf("mutate: %q, %v", name, err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "model-002.yaml"))
	if bytes.Equal(before, after) {
		t.Error("the file holding pool 4 did not change")
	}
	if _, err := model.Load(dir); err != nil {
		t.Errorf("mutated directory does not load: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("directory holds %d entries, want the 3 model files (no temporaries)", len(entries))
	}
	if _, err := mutate(dir, "nope"); err == nil {
		t.Error("mutate of an unknown pool: no error")
	}
}
