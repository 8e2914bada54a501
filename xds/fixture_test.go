package xds

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/poolpilot/poolpilot/xds/internal/adstest"
)

// startServer serves a new Server that translates with testTranslate unless opts says
// otherwise.
func startServer(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	if opts.Translate == nil {
		opts.Translate = testTranslate
	}
	return startRealServer(t, opts)
}

// startRealServer serves a new Server on a free loopback port as opts gives it (a nil
// Translate is the real translator with the breaker's state); the test's end stops it.
func startRealServer(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = adstest.Logger(t)
	}
	s := New(opts)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return within 10s of cancel")
		}
	})
	return s, lis.Addr().String()
}

func dial(t *testing.T, addr string) discovery.AggregatedDiscoveryServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return discovery.NewAggregatedDiscoveryServiceClient(conn)
}

func envoyNode(id, region string) *corev3.Node {
	return &corev3.Node{
		Id: id, Cluster: "gateway", Locality: &corev3.Locality{Region: region},
		UserAgentName: "envoy",
	}
}

func grpcNode(id, region string) *corev3.Node {
	return &corev3.Node{Id: id, Locality: &corev3.Locality{Region: region}, UserAgentName: "gRPC Go"}
}

// adsStream is a real ADS stream, state-of-the-world or incremental: a goroutine moves
// every response into a channel so tests can wait with a bound. The first request sent
// carries the node.
type adsStream[Req, Resp adsMessage] struct {
	t       *testing.T
	stream  bidiStream[Req, Resp]
	node    *corev3.Node
	setNode func(Req, *corev3.Node)
	label   string // the protocol in messages: "sotw" or "delta"
	resp    chan Resp
	sendMu  sync.Mutex
	first   bool
}

// adsMessage is a discovery request or response of either protocol.
type adsMessage interface{ GetTypeUrl() string }

// bidiStream is the client side of either ADS stream.
type bidiStream[Req, Resp any] interface {
	Send(Req) error
	Recv() (Resp, error)
	CloseSend() error
}

// newADSStream opens a stream with open; it ends at the end of the test.
func newADSStream[Req, Resp adsMessage](t *testing.T, label string, node *corev3.Node, setNode func(Req, *corev3.Node),
	open func(context.Context) (bidiStream[Req, Resp], error)) *adsStream[Req, Resp] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := open(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &adsStream[Req, Resp]{t: t, stream: stream, node: node, setNode: setNode, label: label,
		resp: make(chan Resp, 1024), first: true}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r, err := stream.Recv()
			if err != nil {
				return
			}
			select {
			case c.resp <- r:
			default: // a flood beyond the buffer is counted by the tests as "too many" anyway
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func (c *adsStream[Req, Resp]) send(req Req) {
	c.t.Helper()
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.first {
		c.setNode(req, c.node)
		c.first = false
	}
	if err := c.stream.Send(req); err != nil {
		c.t.Fatalf("%s send %s: %v", c.label, req.GetTypeUrl(), err)
	}
}

// next waits (at most 10 s) for the next response of typeURL; responses of other types
// are dropped.
func (c *adsStream[Req, Resp]) next(typeURL string) Resp {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case r := <-c.resp:
			if r.GetTypeUrl() == typeURL {
				return r
			}
		case <-deadline:
			c.t.Fatalf("no %s %s response within 10s", c.label, typeURL)
			var none Resp
			return none
		}
	}
}

// each calls f with every response of typeURL arriving within d, and counts them.
func (c *adsStream[Req, Resp]) each(typeURL string, d time.Duration, f func(Resp)) int {
	n := 0
	deadline := time.After(d)
	for {
		select {
		case r := <-c.resp:
			if r.GetTypeUrl() != typeURL {
				continue
			}
			n++
			if f != nil {
				f(r)
			}
		case <-deadline:
			return n
		}
	}
}

// sotwClient is a state-of-the-world ADS stream.
type sotwClient struct {
	*adsStream[*discovery.DiscoveryRequest, *discovery.DiscoveryResponse]
}

func newSotwClient(t *testing.T, addr string, node *corev3.Node) *sotwClient {
	t.Helper()
	return &sotwClient{newADSStream(t, "sotw", node,
		func(r *discovery.DiscoveryRequest, n *corev3.Node) { r.Node = n },
		func(ctx context.Context) (bidiStream[*discovery.DiscoveryRequest, *discovery.DiscoveryResponse], error) {
			return dial(t, addr).StreamAggregatedResources(ctx)
		})}
}

// count counts the responses of typeURL arriving within d.
func (c *sotwClient) count(typeURL string, d time.Duration) int {
	return c.each(typeURL, d, nil)
}

// rejectFor behaves like a client whose configuration is broken: for d it NACKs every
// response of typeURL (keeping lastAccepted as its version), and counts them.
func (c *sotwClient) rejectFor(typeURL, lastAccepted, detail string, d time.Duration) int {
	return c.each(typeURL, d, func(r *discovery.DiscoveryResponse) {
		c.send(&discovery.DiscoveryRequest{TypeUrl: typeURL, VersionInfo: lastAccepted, ResponseNonce: r.GetNonce(),
			ErrorDetail: &rpcstatus.Status{Code: 3, Message: detail}})
	})
}

func (c *sotwClient) ack(r *discovery.DiscoveryResponse, names ...string) {
	c.send(&discovery.DiscoveryRequest{TypeUrl: r.GetTypeUrl(), VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce(), ResourceNames: names})
}

func resourceNames(t *testing.T, r *discovery.DiscoveryResponse) []string {
	t.Helper()
	var out []string
	for _, a := range r.GetResources() {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatalf("unmarshal %s: %v", a.GetTypeUrl(), err)
		}
		out = append(out, nameOf(m))
	}
	return out
}

func nameOf(m types.Resource) string {
	if n, ok := m.(interface{ GetName() string }); ok {
		return n.GetName()
	}
	if c, ok := m.(*endpointv3.ClusterLoadAssignment); ok {
		return c.GetClusterName()
	}
	return fmt.Sprintf("<%T>", m)
}

var errInjected = errors.New("injected translation failure")
