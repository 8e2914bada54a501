package lrs

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/poolpilot/poolpilot/breaker"
)

// okOnce answers the first call with OK (the client's readiness call) and every later
// one with NOT_FOUND.
type okOnce struct {
	testgrpc.UnimplementedTestServiceServer
	calls atomic.Int64
}

func (b *okOnce) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if b.calls.Add(1) == 1 {
		return &testgrpc.SimpleResponse{ServerId: primary}, nil
	}
	return nil, status.Error(codes.NotFound, "failing on purpose")
}

// TestGRPCJSClientReports runs @grpc/grpc-js-xds (e2e/node/client.js) against ADS and
// this LRS server: grpc-js reports for a send_all_clusters answer (it skips the first
// cluster of an explicit list), and counts every non-OK status as a failure. It needs
// `npm ci --prefix e2e/node`; without it the test skips, except under CI=true.
func TestGRPCJSClientReports(t *testing.T) {
	skip := t.Skipf
	if os.Getenv("CI") == "true" {
		skip = t.Fatalf
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		skip("node is not installed, needed for the @grpc/grpc-js-xds client")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "e2e", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@grpc", "grpc-js-xds")); err != nil {
		skip("@grpc/grpc-js-xds is not installed in %s (run `npm ci --prefix e2e/node`)", dir)
	}
	const (
		nodeID = "grpcjs-sdc-1"
		api    = "resilient-api"
		calls  = 30 // after the readiness call
	)
	be := &okOnce{}
	port := serveBackend(t, be)

	srv, rec := newReportingServer(t, nodeID)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	xdsAddr := serveXDS(ctx, t, srv, nodeID, api, port)
	bootstrap := clientBootstrap(xdsAddr, nodeID)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, nodeBin, filepath.Join(dir, "client.js"), "--target", "xds:///"+api, "--count", "30", "--rate", "20")
	cmd.Env = append(os.Environ(), "GRPC_XDS_BOOTSTRAP_CONFIG="+string(bootstrap))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done //nolint:errcheck // killed: its exit status says nothing
	})

	// Sum the reports until the failures of most calls are in: the client exits after its
	// last call and may not report the final interval.
	var sum breaker.Counts
	for sum.Failed < calls/2 {
		var r breaker.Report
		select {
		case r = <-rec.reports:
		case <-ctx.Done():
			t.Fatalf("reports so far sum to %+v\nclient stdout:\n%s\nstderr:\n%s", sum, stdout.String(), stderr.String())
		}
		if r.Node != nodeID || r.Region != sdc || r.Backend != primary || r.Source != breaker.SourceLRS || r.Span <= 0 {
			t.Fatalf("report %+v", r)
		}
		sum.Issued += r.Counts.Issued
		sum.Succeeded += r.Counts.Succeeded
		sum.Failed += r.Counts.Failed
	}
	if sum.Succeeded > 1 || sum.Failed > calls || sum.Issued > calls+1 {
		t.Fatalf("grpc-js reported %+v for 1 OK call and at most %d NOT_FOUND", sum, calls)
	}
	if n := srv.Counters().Ignored.Load(); n != 0 {
		t.Fatalf("%d of grpc-js's messages were ignored", n)
	}
	t.Logf("grpc-js reported %+v while calling", sum)
}
