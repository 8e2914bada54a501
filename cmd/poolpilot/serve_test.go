package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/poolpilot/poolpilot/xds/admin"
)

// logLines collects a child's JSON log lines and lets a test wait for one.
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   strings.Builder
	added chan struct{}
}

func newLogLines(r io.Reader) *logLines {
	l := &logLines{added: make(chan struct{}, 1)}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
		for sc.Scan() {
			var rec map[string]any
			_ = json.Unmarshal(sc.Bytes(), &rec) // non-JSON lines stay in raw only
			l.mu.Lock()
			l.raw.WriteString(sc.Text() + "\n")
			if rec != nil {
				l.lines = append(l.lines, rec)
			}
			l.mu.Unlock()
			select {
			case l.added <- struct{}{}:
			default:
			}
		}
	}()
	return l
}

// waitFor returns the first record with message msg, waiting at most d.
func (l *logLines) waitFor(t *testing.T, msg string, d time.Duration) map[string]any {
	t.Helper()
	deadline := time.After(d)
	for {
		l.mu.Lock()
		for _, rec := range l.lines {
			if rec["msg"] == msg {
				l.mu.Unlock()
				return rec
			}
		}
		l.mu.Unlock()
		select {
		case <-l.added:
		case <-deadline:
			t.Fatalf("no log %q within %v; log so far:\n%s", msg, d, l.text())
		}
	}
}

func (l *logLines) all(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, rec := range l.lines {
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

func (l *logLines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.raw.String()
}

// serveChild is `poolpilot serve` running as a child process (this test binary, which
// runs main when runMainEnv is set), with its JSON log on stderr.
type serveChild struct {
	cmd  *exec.Cmd
	done chan error
	logs *logLines
}

// startServe starts `poolpilot serve args...` with env added to the environment and its
// standard output to stdout (nil: discarded); the process is killed at the end of the
// test if it still runs.
func startServe(t *testing.T, stdout io.Writer, env []string, args ...string) *serveChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve"}, args...)...)
	cmd.Env = append(append(os.Environ(), runMainEnv+"=1"), env...)
	cmd.Stdout = stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &serveChild{cmd: cmd, done: make(chan error, 1), logs: newLogLines(stderr)}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-c.done //nolint:errcheck // killed: its exit status says nothing
		}
	})
	return c
}

// terminate sends SIGTERM and expects exit 0 within d.
func (c *serveChild) terminate(t *testing.T, d time.Duration) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v; want exit 0\n%s", err, c.logs.text())
		}
	case <-time.After(d):
		t.Fatalf("serve did not exit within %v of SIGTERM\n%s", d, c.logs.text())
	}
}

// TestServeExampleStopsOnSIGTERM runs `poolpilot serve` (the embedded example) as a child
// process on free ports, checks its log and that it answers an ADS request, then sends
// SIGTERM and expects a graceful exit 0.
func TestServeExampleStopsOnSIGTERM(t *testing.T) {
	const secret = "sekrit-value"
	var stdout strings.Builder
	child := startServe(t, &stdout, []string{"FUNC_PRIMARY_KEY=" + secret, "POOLPILOT_ALLOW_ENV=FUNC_*"},
		"--xds-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0", "--log-format", "json")
	logs := child.logs

	logs.waitFor(t, "no --model given: serving the embedded example model", 30*time.Second)
	serving := logs.waitFor(t, "serving xDS (ADS, state-of-the-world and delta)", 30*time.Second)
	addr, _ := serving["xds_address"].(string)
	if !strings.HasPrefix(addr, "127.0.0.1:") || addr == "127.0.0.1:0" {
		t.Fatalf("xds_address %q, want the bound 127.0.0.1 port", addr)
	}
	adminLog := logs.waitFor(t, "serving admin endpoints ("+strings.Join(admin.AlwaysServed(), " ")+")", 5*time.Second)
	adminAddr, _ := adminLog["admin_address"].(string)
	if !strings.HasPrefix(adminAddr, "127.0.0.1:") || adminAddr == "127.0.0.1:0" {
		t.Fatalf("admin_address %q, want the bound 127.0.0.1 port", adminAddr)
	}
	var adminText strings.Builder
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "poolpilot_reloads_total{result=\"ok\"} 1", "/status": "swedencentral/envoy"} {
		body := httpGet(t, "http://"+adminAddr+path)
		if !strings.Contains(body, want) {
			t.Errorf("GET %s: response (%d bytes) does not contain %q", path, len(body), want)
		}
		adminText.WriteString(body)
	}
	if strings.Contains(adminText.String(), secret) {
		t.Errorf("the admin endpoints show the secret value")
	}
	// The startup load of the embedded model is reported at the version the server applied,
	// as it is for a --model file.
	var status struct {
		ModelVersion string `json:"modelVersion"`
		LastReload   struct {
			Version string `json:"version"`
		} `json:"lastReload"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+adminAddr+"/status")), &status); err != nil {
		t.Fatalf("/status: %v", err)
	}
	if status.ModelVersion == "" || status.LastReload.Version != status.ModelVersion {
		t.Errorf("/status: lastReload.version %q, modelVersion %q; want the same non-empty version",
			status.LastReload.Version, status.ModelVersion)
	}

	groups := map[string]map[string]any{}
	for _, rec := range logs.all("node group built") {
		g, _ := rec["group"].(string)
		groups[g] = rec
	}
	for _, g := range []string{"swedencentral/envoy", "norwayeast/envoy", "swedencentral/grpc", "norwayeast/grpc"} {
		rec, ok := groups[g]
		if !ok {
			t.Errorf("no %q in the logged node groups %v", g, keys(groups))
			continue
		}
		if v, _ := rec["versions"].(map[string]any); v == nil || v["cds"] == "" || v["cds"] == nil {
			t.Errorf("group %s logged without versions: %v", g, rec)
		}
	}

	// A real ADS stream gets the swedencentral clusters at the logged version.
	gotVersion := adsClusters(t, addr, "swedencentral")
	want := groups["swedencentral/envoy"]["versions"].(map[string]any)["cds"]
	if gotVersion != want {
		t.Errorf("ADS cluster version %q, logged %q", gotVersion, want)
	}

	child.terminate(t, 20*time.Second)
	logs.waitFor(t, "stopped", 5*time.Second)
	if strings.Contains(logs.text()+stdout.String(), secret) {
		t.Errorf("serve logged the secret value")
	}
}

// adsClusters opens an ADS stream as an Envoy node in region and returns the version of
// the first cluster response.
func adsClusters(t *testing.T, addr, region string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := clusterStream(ctx, addr, insecure.NewCredentials(), region)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("ADS: %v", err)
	}
	if len(resp.GetResources()) == 0 {
		t.Errorf("ADS cluster response has no resources")
	}
	return resp.GetVersionInfo()
}

// clusterStream opens an ADS stream as an Envoy node in region and asks for clusters; the
// connection closes when ctx ends.
func clusterStream(ctx context.Context, addr string, creds credentials.TransportCredentials, region string) (discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { _ = conn.Close() })
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	node := &corev3.Node{Id: "test-node", UserAgentName: "envoy", Locality: &corev3.Locality{Region: region}}
	if err := s.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil {
		return nil, err
	}
	return s, nil
}

// copyExampleModel writes the example model.yaml into dir and returns the file's path
// and its text.
func copyExampleModel(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	orig, err := os.ReadFile(filepath.Join(exampleDir, "model.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "model.yaml")
	if err := os.WriteFile(file, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	return file, orig
}

// TestServeReloadsModelAndStopsWhenContextEnds runs serve in-process on a model file in
// a temp dir: a broken edit is rejected with its file:line while the old model keeps
// serving, a good edit is applied, and serve returns 0 once its context is cancelled.
func TestServeReloadsModelAndStopsWhenContextEnds(t *testing.T) {
	dir := t.TempDir()
	file, orig := copyExampleModel(t, dir)

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := newLogLines(pr)
	code := make(chan int, 1)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		code <- run(ctx, []string{"serve", "--model", dir, "--xds-address", "127.0.0.1:0",
			"--admin-address", "127.0.0.1:0", "--log-format", "json"}, io.Discard, pw)
		_ = pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-returned:
		case <-time.After(20 * time.Second):
			t.Errorf("serve goroutine still running 20s after cancel")
		}
	})
	if rec := logs.waitFor(t, "loading model", 30*time.Second); rec["model"] != dir {
		t.Errorf("loading log %v does not name the model", rec)
	}
	serving := logs.waitFor(t, "serving xDS (ADS, state-of-the-world and delta)", 30*time.Second)
	addr := serving["xds_address"].(string)
	logs.waitFor(t, "watching model for changes", 10*time.Second) // logged once the watch is set
	before := adsClusters(t, addr, "swedencentral")

	// A broken edit: rejected with file:line, nothing changes.
	broken := strings.Replace(string(orig), "tripDuration: PT30S", "tripDuration: soon", 1)
	if err := os.WriteFile(file, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := logs.waitFor(t, "model error", 15*time.Second)
	if e, _ := rec["error"].(string); !strings.HasPrefix(e, file+":") || !strings.Contains(e, "tripDuration") {
		t.Errorf("model error %q does not name %s:line and the field", e, file)
	}
	if got := adsClusters(t, addr, "swedencentral"); got != before {
		t.Errorf("a rejected model changed the cluster version %q -> %q", before, got)
	}

	// A good edit (trip for 45s instead of 30s) is applied to the running server.
	good := strings.ReplaceAll(string(orig), "tripDuration: PT30S", "tripDuration: PT45S")
	if err := os.WriteFile(file, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if got := adsClusters(t, addr, "swedencentral"); got != before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edited model was not served within 15s\n%s", logs.text())
		}
		time.Sleep(100 * time.Millisecond)
	}

	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d, want 0\n%s", c, logs.text())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not return within 20s of cancel")
	}
	logs.waitFor(t, "stopped", 5*time.Second)
}

func TestServeInvalidModel(t *testing.T) {
	_, errOut, code := runCLI(t, "serve", "--model", "testdata/four-errors.yaml", "--xds-address", "127.0.0.1:0")
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	var n int
	for _, l := range strings.Split(errOut, "\n") {
		if strings.Contains(l, `msg="invalid model" error="testdata/four-errors.yaml:`) {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d errors with file:line logged, want 4:\n%s", n, errOut)
	}
}

// httpGet returns the body of a 200 response to GET url.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A zero load reporting interval would make grpc-go panic: serve refuses it.
func TestServeZeroLRSInterval(t *testing.T) {
	_, errOut, code := runCLI(t, "serve", "--lrs-interval", "0s", "--xds-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0")
	if code != exitError || !strings.Contains(errOut, "--lrs-interval 0s: want at least 1ms") {
		t.Errorf("exit %d, want %d with the interval named:\n%s", code, exitError, errOut)
	}
}
