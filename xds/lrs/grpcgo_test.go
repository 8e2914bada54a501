package lrs

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/poolpilot/poolpilot/breaker"
)

// backend answers UnaryCall with OK, or with the code in fail when it is set.
type backend struct {
	testgrpc.UnimplementedTestServiceServer
	fail atomic.Uint32
}

func (b *backend) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if c := codes.Code(b.fail.Load()); c != codes.OK {
		return nil, status.Error(c, "failing on purpose")
	}
	return &testgrpc.SimpleResponse{}, nil
}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// serveBackend serves svc's TestService on 127.0.0.1 until the test ends and returns its
// port.
func serveBackend(t *testing.T, svc testgrpc.TestServiceServer) uint32 {
	t.Helper()
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(bs, svc)
	go func() { _ = bs.Serve(bl) }()
	t.Cleanup(bs.Stop)
	return uint32(bl.Addr().(*net.TCPAddr).Port)
}

// newReportingServer is an LRS server that places nodeID in region sdc, knows pool as
// {primary}, asks for a report every 100 ms and hands each report to the returned sink.
func newReportingServer(t *testing.T, nodeID string) (*Server, *sink) {
	t.Helper()
	rec := &sink{reports: make(chan breaker.Report, 1000)}
	srv, err := New(Options{Streams: &streams{nodes: map[string]string{nodeID: sdc}}, Lookup: Members{pool: {primary}}, Sink: rec, Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return srv, rec
}

// clientBootstrap is a gRPC xDS bootstrap for nodeID in region sdc with the insecure ADS
// server at xdsAddr.
func clientBootstrap(xdsAddr, nodeID string) []byte {
	b, _ := json.Marshal(map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri":      xdsAddr,
			"channel_creds":   []any{map[string]string{"type": "insecure"}},
			"server_features": []string{"xds_v3"},
		}},
		"node": map[string]any{"id": nodeID, "locality": map[string]string{"region": sdc}},
	})
	return b
}

// TestGRPCGoClientReports runs a real grpc-go xDS client whose cluster says
// lrs_server: self, against an ADS server and this LRS server on one gRPC server, and
// checks what reaches the sink: grpc-go's node id (sent only in its first request), the
// region of the ADS stream, the backend from sub_zone, and every call counted once, every
// non-OK status (here NOT_FOUND, an application error) as a failure.
func TestGRPCGoClientReports(t *testing.T) {
	const (
		nodeID  = "grpc-sdc-1"
		api     = "resilient-api"
		okCalls = 7
		failed  = 5
	)
	// The backend.
	be := &backend{}
	port := serveBackend(t, be)

	// ADS (go-control-plane's snapshot cache, ads=false as DESIGN.md says) and LRS on
	// one gRPC server, as poolpilot serves them.
	srv, rec := newReportingServer(t, nodeID)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	xdsAddr := serveXDS(ctx, t, srv, nodeID, api, port)

	// The client, with its resolver built from the bootstrap in process.
	resolver, err := xds.NewXDSResolverWithConfigForTesting(clientBootstrap(xdsAddr, nodeID))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("xds:///"+api, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(resolver))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cc.Close() }()
	tc := testgrpc.NewTestServiceClient(cc)
	for i := range okCalls + failed {
		want := codes.OK
		if i >= okCalls {
			want = codes.NotFound
			be.fail.Store(uint32(codes.NotFound))
		}
		_, err := tc.UnaryCall(ctx, &testgrpc.SimpleRequest{}, grpc.WaitForReady(true))
		if status.Code(err) != want {
			t.Fatalf("call %d: %v, want %s", i, err, want)
		}
	}

	// grpc-go reports every 100ms; sum what arrives until every call is counted.
	var sum breaker.Counts
	for sum.Succeeded+sum.Failed < okCalls+failed {
		var r breaker.Report
		select {
		case r = <-rec.reports:
		case <-ctx.Done():
			t.Fatalf("reports so far sum to %+v; want %d succeeded and %d failed", sum, okCalls, failed)
		}
		if r.Node != nodeID || r.Region != sdc || r.Backend != primary || r.Source != breaker.SourceLRS || r.Span <= 0 {
			t.Fatalf("report %+v", r)
		}
		sum.Issued += r.Counts.Issued
		sum.Succeeded += r.Counts.Succeeded
		sum.Failed += r.Counts.Failed
	}
	if want := (breaker.Counts{Issued: okCalls + failed, Succeeded: okCalls, Failed: failed}); fmt.Sprint(sum) != fmt.Sprint(want) {
		t.Fatalf("grpc-go reported %+v, want %+v", sum, want)
	}
	if n := srv.Counters().Ignored.Load(); n != 0 {
		t.Fatalf("%d of grpc-go's messages were ignored", n)
	}
}

// serveXDS serves, on one gRPC server on 127.0.0.1, ADS (go-control-plane's snapshot
// cache, ads=false as DESIGN.md says) with an API listener api routing to the EDS cluster
// pool, whose one locality (sub_zone primary) is 127.0.0.1:port and whose lrs_server is
// self, and srv's LRS, as poolpilot serves them. It returns the address.
func serveXDS(ctx context.Context, t *testing.T, srv *Server, nodeID, api string, port uint32) string {
	t.Helper()
	snaps := cache.NewSnapshotCache(false, cache.IDHash{}, nil)
	hcm := &hcmv3.HttpConnectionManager{
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: api,
			VirtualHosts: []*routev3.VirtualHost{{Name: api, Domains: []string{"*"}, Routes: []*routev3.Route{{
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: pool}}},
			}}}},
		}},
		HttpFilters: []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &routerv3.Router{})}}},
	}
	ads := &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
	snap, err := cache.NewSnapshot("1", map[resourcev3.Type][]types.Resource{
		resourcev3.ListenerType: {&listenerv3.Listener{Name: api, ApiListener: &listenerv3.ApiListener{ApiListener: mustAny(t, hcm)}}},
		resourcev3.ClusterType: {&clusterv3.Cluster{
			Name:                 pool,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
			EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads},
			LrsServer:            &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Self{Self: &corev3.SelfConfigSource{}}},
		}},
		resourcev3.EndpointType: {&endpointv3.ClusterLoadAssignment{
			ClusterName: pool,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{
				Locality:            &corev3.Locality{Region: sdc, SubZone: primary},
				LoadBalancingWeight: wrapperspb.UInt32(1),
				LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
						Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}},
				}}}},
			}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := snaps.SetSnapshot(ctx, nodeID, snap); err != nil {
		t.Fatal(err)
	}
	xl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	xs := grpc.NewServer()
	discovery.RegisterAggregatedDiscoveryServiceServer(xs, serverv3.NewServer(ctx, snaps, nil))
	srv.Register(xs)
	go func() { _ = xs.Serve(xl) }()
	t.Cleanup(func() { srv.Close(); xs.Stop() })
	return xl.Addr().String()

}
