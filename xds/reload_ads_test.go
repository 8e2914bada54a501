package xds

import (
	"context"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// liveADS is a real ADS client stream (state of the world) for tests: the generated
// discovery client over a real gRPC connection.
type liveADS struct {
	t      *testing.T
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *core.Node
	recvd  chan liveRecv
}

type liveRecv struct {
	resp *discovery.DiscoveryResponse
	err  error
}

// liveNode is an Envoy node in region.
func liveNode(id, region string) *core.Node {
	return &core.Node{
		Id:            id,
		Cluster:       "test",
		Locality:      &core.Locality{Region: region},
		UserAgentName: "envoy",
		UserAgentVersionType: &core.Node_UserAgentBuildVersion{UserAgentBuildVersion: &core.BuildVersion{
			Version: &typev3.SemanticVersion{MajorNumber: 1, MinorNumber: 36},
		}},
	}
}

// openLiveADS dials addr (with creds, or plaintext when nil) and opens an ADS stream.
// The stream and connection close at the end of the test.
func openLiveADS(t *testing.T, addr string, creds credentials.TransportCredentials, node *core.Node) *liveADS {
	t.Helper()
	a, err := dialLiveADS(t, addr, creds, node)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// dialLiveADS is openLiveADS returning the error of opening the stream.
func dialLiveADS(t *testing.T, addr string, creds credentials.TransportCredentials, node *core.Node) (*liveADS, error) {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		conn.Close()
		return nil, err
	}
	a := &liveADS{t: t, stream: stream, node: node, recvd: make(chan liveRecv, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			resp, err := stream.Recv()
			a.recvd <- liveRecv{resp, err}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		conn.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("ADS receive loop did not end")
		}
	})
	return a, nil
}

// request sends a DiscoveryRequest for typeURL; version and nonce ACK a response, and a
// non-empty nack makes it a NACK.
func (a *liveADS) request(typeURL, version, nonce, nack string, names ...string) error {
	req := &discovery.DiscoveryRequest{
		Node: a.node, TypeUrl: typeURL, VersionInfo: version, ResponseNonce: nonce, ResourceNames: names,
	}
	if nack != "" {
		req.ErrorDetail = &rpcstatus.Status{Code: 3, Message: nack}
	}
	return a.stream.Send(req)
}

// recv waits up to timeout for the next response.
func (a *liveADS) recv(timeout time.Duration) (*discovery.DiscoveryResponse, error) {
	a.t.Helper()
	select {
	case r := <-a.recvd:
		return r.resp, r.err
	case <-time.After(timeout):
		return nil, context.DeadlineExceeded
	}
}

// ack accepts resp.
func (a *liveADS) ack(resp *discovery.DiscoveryResponse) error {
	return a.request(resp.TypeUrl, resp.VersionInfo, resp.Nonce, "")
}
