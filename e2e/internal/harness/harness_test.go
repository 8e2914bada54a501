package harness

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

func TestMain(m *testing.M) { Main(m) }

const bound = 10 * time.Second // an upper bound on waiting, never a speed assertion

func TestBuildIsCached(t *testing.T) {
	a := Build(t, BackendPackage)
	b := Build(t, BackendPackage)
	if a != b {
		t.Fatalf("Build twice: %q then %q, want the same cached binary", a, b)
	}
	if fi, err := os.Stat(a); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("built binary %s: %v %v, want an executable", a, fi, err)
	}
}

func TestBuildFailureSaysWhy(t *testing.T) {
	_, err := build("./no/such/package")
	if err == nil || !strings.Contains(err.Error(), "go build") || !strings.Contains(err.Error(), "no/such/package") {
		t.Fatalf("build of a missing package: %v, want an error naming go build and the package", err)
	}
}

func TestBackendProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := StartBackend(ctx, t, BackendOptions{Name: "func-primary-sdc", Region: "swedencentral"})
	for _, a := range []string{b.HTTPAddr, b.GRPCAddr, b.AdminAddr} {
		if host, _, err := net.SplitHostPort(a); err != nil || host != "127.0.0.1" {
			t.Fatalf("address %q: want 127.0.0.1:port", a)
		}
	}

	httpc := &http.Client{Timeout: bound, Transport: &http.Transport{DisableKeepAlives: true}}
	postStatus := func() (int, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.URL("/api/ProcessRequestFunction"),
			strings.NewReader(`[{"functionApp":"func-secondary-nwe","respondsWithResultCode":503}]`))
		req.Header.Set("x-functions-key", "k")
		resp, err := httpc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer func() { _ = resp.Body.Close() }()
		var body struct {
			FunctionAppName string `json:"functionAppName"`
			Region          string `json:"region"`
			KeyReceived     bool   `json:"keyReceived"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return 0, "", err
		}
		if !body.KeyReceived || body.Region != "swedencentral" {
			t.Errorf("body = %+v, want keyReceived and region swedencentral", body)
		}
		return resp.StatusCode, body.FunctionAppName, nil
	}
	if code, name, err := postStatus(); err != nil || code != 200 || name != "func-primary-sdc" {
		t.Fatalf("HTTP: %d %q %v, want 200 from func-primary-sdc", code, name, err)
	}

	cc, err := grpc.NewClient(b.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cc.Close() }()
	uctx, ucancel := context.WithTimeout(ctx, bound)
	defer ucancel()
	if r, err := testgrpc.NewTestServiceClient(cc).UnaryCall(uctx, &testgrpc.SimpleRequest{}); err != nil || r.GetServerId() != "func-primary-sdc" {
		t.Fatalf("UnaryCall: %q %v, want func-primary-sdc", r.GetServerId(), err)
	}

	// Every AdminClient call sends what it names and decodes the state it gets back.
	// What each mode does to HTTP and gRPC is examples/backend/internal/demo's to test;
	// one request while failing shows the admin address belongs to the same backend.
	if st, err := b.Admin.Fail(ctx, 503); err != nil || st.Mode != "failing" || st.FailStatus != 503 || st.FailGRPCCodeName != "Unavailable" {
		t.Fatalf("Fail(503): %+v %v", st, err)
	}
	if code, _, err := postStatus(); err != nil || code != 503 {
		t.Errorf("HTTP while failing: %d %v, want 503", code, err)
	}
	if st, err := b.Admin.FailGRPC(ctx, 500, codes.Internal); err != nil || st.FailStatus != 500 || codes.Code(st.FailGRPCCode) != codes.Internal {
		t.Fatalf("FailGRPC(500, INTERNAL): %+v %v", st, err)
	}
	if st, err := b.Admin.Stop(ctx); err != nil || st.Mode != "stopped" {
		t.Fatalf("Stop: %+v %v", st, err)
	}
	if st, err := b.Admin.Hang(ctx); err != nil || st.Mode != "hung" || st.HangLevel != "rpc" {
		t.Fatalf("Hang: %+v %v", st, err)
	}
	if st, err := b.Admin.HangTCP(ctx); err != nil || st.Mode != "hung" || st.HangLevel != "tcp" {
		t.Fatalf("HangTCP: %+v %v", st, err)
	}
	if st, err := b.Admin.Recover(ctx); err != nil || st.Mode != "serving" || st.Addresses.HTTP != b.HTTPAddr {
		t.Fatalf("Recover: %+v %v", st, err)
	}
	if code, name, err := postStatus(); err != nil || code != 200 || name != "func-primary-sdc" {
		t.Fatalf("HTTP after recover: %d %q %v", code, name, err)
	}
	final, err := b.Admin.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if final.Requests.HTTP != 3 || final.Requests.GRPC != 1 {
		t.Errorf("counters = %+v, want http=3 grpc=1 (the requests above)", final.Requests)
	}

	// SIGTERM: a graceful exit with status 0 and its last log line.
	mark := b.Process.Mark()
	if err := b.Process.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if code := b.Process.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	if _, err := b.Process.WaitForLineAfter(mark, regexp.MustCompile(`msg=stopped`), bound); err != nil {
		t.Error(err)
	}
}

func TestWaitForLine(t *testing.T) {
	ctx := context.Background()
	p := Start(ctx, t, Options{Bin: "/bin/sh", Args: []string{"-c", `echo "ready port=1234"; echo err-line >&2; printf partial; sleep 30`}})
	m, err := p.WaitForLine(regexp.MustCompile(`ready port=(\d+)`), bound)
	if err != nil || m[1] != "1234" {
		t.Fatalf("WaitForLine: %q %v", m, err)
	}
	if _, err := p.WaitForLine(regexp.MustCompile(`^err-line$`), bound); err != nil {
		t.Errorf("stderr line: %v", err)
	}
	mark := p.Mark()
	_, err = p.WaitForLineAfter(mark, regexp.MustCompile(`ready`), 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no line matching") || !strings.Contains(err.Error(), "ready port=1234") {
		t.Errorf("WaitForLineAfter an old line: %v, want a timeout error with the tail", err)
	}

	q := Start(ctx, t, Options{Bin: "/bin/sh", Args: []string{"-c", "echo bye; exit 3"}, Name: "quitter"})
	_, err = q.WaitForLine(regexp.MustCompile(`never`), bound)
	if err == nil || !strings.Contains(err.Error(), "quitter") || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "bye") {
		t.Errorf("WaitForLine on an exited process: %v", err)
	}
	if q.ExitCode() != 3 {
		t.Errorf("exit code %d, want 3", q.ExitCode())
	}
}

// Stop leaves nothing behind: neither a leader that ignores SIGTERM nor a
// grandchild that ignores it after its parent exited.
func TestStopKillsTheGroup(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		wantKilled   bool
	}{
		{"leader ignores SIGTERM", `trap "" TERM; sh -c 'trap "" TERM; sleep 60' & echo "child=$!"; wait`, true},
		{"only the grandchild ignores SIGTERM", `sh -c 'trap "" TERM; sleep 60' & echo "child=$!"; wait`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := start(Options{Bin: "/bin/sh", Args: []string{"-c", tc.script}, StopTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Stop() })
			m, err := p.WaitForLine(regexp.MustCompile(`child=(\d+)`), bound)
			if err != nil {
				t.Fatal(err)
			}
			child, _ := strconv.Atoi(m[1])
			err = p.Stop()
			if killed := err != nil && strings.Contains(err.Error(), "did not exit within"); killed != tc.wantKilled {
				t.Errorf("Stop: %v, want a 'killed' error: %v", err, tc.wantKilled)
			}
			if !p.Exited() {
				t.Fatal("process still running after Stop")
			}
			deadline := time.Now().Add(bound)
			for alive(child) {
				if time.Now().After(deadline) {
					t.Fatalf("grandchild %d survived Stop", child)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestContextEndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := Start(ctx, t, Options{Bin: "/bin/sh", Args: []string{"-c", "sleep 60"}})
	cancel()
	select {
	case <-p.Done():
	case <-time.After(bound):
		t.Fatal("process still running after its context ended")
	}
}

// alive reports whether pid exists and is not a zombie awaiting its reaper.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestFreePortIsUniqueAndBindable(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("FreePort returned %d twice", p)
		}
		if p < portLow || p >= portHigh() {
			t.Fatalf("FreePort returned %d, outside %d–%d (below the ephemeral range)", p, portLow, portHigh()-1)
		}
		seen[p] = true
	}
	addr := FreeAddr(t)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on FreeAddr %s: %v", addr, err)
	}
	_ = ln.Close()
}
