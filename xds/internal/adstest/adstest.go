// Package adstest holds the test fixtures shared by the xds packages' tests: a real ADS
// client stream, the live two-region model, files on disk, metric parsing, bounded
// polling and the quoted forms of a secret. Of the xds packages it imports only
// xds/redact, so the ADS core's own tests can use it too.
package adstest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	lrsv3 "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	dto "github.com/prometheus/client_model/go"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// ADS is a real ADS client stream (state of the world) for tests: the generated
// discovery client over a real gRPC connection.
type ADS struct {
	t      *testing.T
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *corev3.Node
	recvd  chan recvd
}

type recvd struct {
	resp *discovery.DiscoveryResponse
	err  error
}

// Node is an Envoy node in region.
func Node(id, region string) *corev3.Node {
	return &corev3.Node{
		Id:            id,
		Cluster:       "test",
		Locality:      &corev3.Locality{Region: region},
		UserAgentName: "envoy",
		UserAgentVersionType: &corev3.Node_UserAgentBuildVersion{UserAgentBuildVersion: &corev3.BuildVersion{
			Version: &typev3.SemanticVersion{MajorNumber: 1, MinorNumber: 36},
		}},
	}
}

// Open dials addr (with creds, or plaintext when nil) and opens an ADS stream.
// The stream and connection close at the end of the test.
func Open(t *testing.T, addr string, creds credentials.TransportCredentials, node *corev3.Node) *ADS {
	t.Helper()
	a, err := Dial(t, addr, creds, node)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Dial is Open returning the error of opening the stream.
func Dial(t *testing.T, addr string, creds credentials.TransportCredentials, node *corev3.Node) (*ADS, error) {
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
		_ = conn.Close()
		return nil, err
	}
	a := &ADS{t: t, stream: stream, node: node, recvd: make(chan recvd, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			resp, err := stream.Recv()
			a.recvd <- recvd{resp, err}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = conn.Close()
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
func (a *ADS) Request(typeURL, version, nonce, nack string, names ...string) error {
	req := &discovery.DiscoveryRequest{
		Node: a.node, TypeUrl: typeURL, VersionInfo: version, ResponseNonce: nonce, ResourceNames: names,
	}
	if nack != "" {
		req.ErrorDetail = &rpcstatus.Status{Code: 3, Message: nack}
	}
	return a.stream.Send(req)
}

// recv waits up to timeout for the next response.
func (a *ADS) Recv(timeout time.Duration) (*discovery.DiscoveryResponse, error) {
	a.t.Helper()
	select {
	case r := <-a.recvd:
		return r.resp, r.err
	case <-time.After(timeout):
		return nil, context.DeadlineExceeded
	}
}

// ack accepts resp.
func (a *ADS) Ack(resp *discovery.DiscoveryResponse) error {
	return a.Request(resp.TypeUrl, resp.VersionInfo, resp.Nonce, "")
}

// mustRecv waits (at most 10 s) for the next response.
func (a *ADS) MustRecv() *discovery.DiscoveryResponse {
	a.t.Helper()
	r, err := a.Recv(10 * time.Second)
	if err != nil {
		a.t.Fatalf("no xDS response: %v", err)
	}
	return r
}

// nextVersion waits for a response with a version other than old, ACKs it and returns it.
func (a *ADS) NextVersion(old string) *discovery.DiscoveryResponse {
	a.t.Helper()
	r := a.MustRecv()
	if r.VersionInfo == old {
		a.t.Fatalf("got version %s again; want a new version", old)
	}
	if err := a.Ack(r); err != nil {
		a.t.Fatal(err)
	}
	return r
}

// quiet asserts that no response arrives within d: the served version did not change.
func (a *ADS) Quiet(d time.Duration) {
	a.t.Helper()
	if r, err := a.Recv(d); err == nil {
		a.t.Fatalf("got a response (version %s); want none", r.VersionInfo)
	}
}

// Secret is the credential in the live tests' model; it must never show on the admin
// endpoints.
const Secret = "live-s3cret-func-key-0123"

// Env resolves the model's ${VAR} references in the live tests.
var Env = map[string]string{"LIVE_KEY": Secret}

// Model is a two-region model with a preferLocalRegion pool; port varies its
// content, first swaps the pool's priorities.
func Model(port int, swap bool) string {
	p1, p2 := 1, 2
	if swap {
		p1, p2 = 2, 1
	}
	return fmt.Sprintf(`backends:
  - name: sdc
    url: http://127.0.0.1:%[1]d
    region: swedencentral
    credentials:
      header:
        x-functions-key: ${LIVE_KEY}
  - name: nwe
    url: http://127.0.0.2:%[1]d
    region: norwayeast
pools:
  - name: pool
    preferLocalRegion: %[4]v
    services:
      - {backend: sdc, priority: %[2]d}
      - {backend: nwe, priority: %[3]d}
apis:
  - {name: api, pathPrefix: /api/, backend: pool}
listeners:
  - {name: public, port: 10000, apis: [api]}
`, port, p1, p2, !swap)
}

// Listen is a listener on a free loopback port.
func Listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

// WriteFile writes data to dir/name and returns the path.
func WriteFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ReplaceFile writes data to a temporary file and renames it over name, as editors
// that save atomically do.
func ReplaceFile(t *testing.T, dir, name, data string) {
	t.Helper()
	tmp := WriteFile(t, dir, "."+name+".swp", []byte(data))
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// MetricValue is the value of the series of name whose labels include want (0 if none).
func MetricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// Logger writes to the test log only when -v is given, so failures stay readable.
func Logger(t *testing.T) *slog.Logger {
	t.Helper()
	if !testing.Verbose() {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// WaitFor polls cond every 10 ms for at most 10 s.
func WaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out after 10s waiting for %s", what)
}

// CloseSend ends the client's side of the stream, as a node that goes away does.
func (a *ADS) CloseSend() error { return a.stream.CloseSend() }

// WantCode waits for the stream to end with code.
func (a *ADS) WantCode(code codes.Code, what string) error {
	a.t.Helper()
	for range 8 {
		_, err := a.Recv(5 * time.Second)
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

// SetNode changes the node the next requests carry (a node that claims another group).
func (a *ADS) SetNode(n *corev3.Node) { a.node = n }

// WithoutAPIs is model m cut before its "apis:" section: a valid model that drops every
// API, as a save cut short leaves it.
func WithoutAPIs(m string) string { return m[:strings.Index(m, "apis:")] }

// LogBuffer is a log sink safe for the server's goroutines.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines are the lines written so far.
func (b *LogBuffer) Lines() []string {
	return strings.Split(strings.TrimSpace(b.String()), "\n")
}

// OpenLRS opens a load reporting stream for node on addr and reads the server's
// answer, which must ask for every cluster at an interval; it ends with the test.
func OpenLRS(t *testing.T, addr string, node *corev3.Node) lrsv3.LoadReportingService_StreamLoadStatsClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); _ = conn.Close() })
	st, err := lrsv3.NewLoadReportingServiceClient(conn).StreamLoadStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&lrsv3.LoadStatsRequest{Node: node}); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetSendAllClusters() || resp.GetLoadReportingInterval().AsDuration() <= 0 {
		t.Fatalf("LRS answer %v: want send_all_clusters and an interval", resp)
	}
	return st
}
