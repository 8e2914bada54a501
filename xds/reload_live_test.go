package xds

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	prommodel "github.com/prometheus/common/model"
	"google.golang.org/grpc"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
)

// liveSecret is the credential in the live tests' model; it must never show on the admin
// endpoints.
const liveSecret = "live-s3cret-func-key-0123"

// liveEnv resolves the model's ${VAR} references in the live tests.
var liveEnv = map[string]string{"LIVE_KEY": liveSecret}

// liveModel is a two-region model with a preferLocalRegion pool; port varies its
// content, first swaps the pool's priorities.
func liveModel(port int, swap bool) string {
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

// live is a running poolpilot core: xDS server, metrics, reloader with its file watch,
// and the admin server, all on free loopback ports, stopped at the end of the test.
type live struct {
	t        *testing.T
	dir      string // the model directory
	path     string // what the reloader loads: dir or a file in it
	srv      *Server
	xdsAddr  string
	metrics  *Metrics
	reloader *Reloader
	adminURL string
}

type liveOptions struct {
	// file, when set, is the model path inside dir (single-file mode); else dir itself.
	file     string
	debounce time.Duration
	maxWait  time.Duration
	grpcOpts []grpc.ServerOption
	// setup, when set, populates the directory before the first load (after files).
	setup func(t *testing.T, dir string)
	// dir, when set, is the model directory (created), instead of a new t.TempDir().
	dir string
	// allowShrink is ReloaderOptions.AllowShrink.
	allowShrink bool
}

// startLive writes files into a new directory and serves them.
func startLive(t *testing.T, files map[string]string, o liveOptions) *live {
	t.Helper()
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		liveWriteFile(t, dir, name, []byte(data))
	}
	if o.setup != nil {
		o.setup(t, dir)
	}
	l := &live{t: t, dir: dir, path: dir, metrics: NewMetrics()}
	if o.file != "" {
		l.path = filepath.Join(dir, o.file)
	}
	log := testLogger(t)
	l.srv = New(Options{Logger: log, Translate: translator.Translate, Observer: l.metrics})
	lookup := func(k string) (string, bool) { v, ok := liveEnv[k]; return v, ok }
	l.reloader = NewServerReloader(l.path, l.srv, ReloaderOptions{Metrics: l.metrics, Logger: log, AllowShrink: o.allowShrink},
		model.WithLookupEnv(lookup))
	if res := l.reloader.Reload("startup"); !res.OK {
		t.Fatalf("startup model rejected: %v", res.Errors)
	}

	ctx, cancel := context.WithCancel(context.Background())
	xlis := liveListen(t)
	alis := liveListen(t)
	l.xdsAddr, l.adminURL = xlis.Addr().String(), "http://"+alis.Addr().String()
	admin := NewAdmin(AdminOptions{Server: l.srv, Reloader: l.reloader, Metrics: l.metrics, Logger: log})
	ready := make(chan struct{})
	done := make(chan error, 3)
	go func() { done <- l.srv.Serve(ctx, xlis, o.grpcOpts...) }()
	go func() { done <- admin.Serve(ctx, alis) }()
	go func() {
		done <- l.reloader.Watch(ctx, WatchOptions{Debounce: o.debounce, MaxWait: o.maxWait, Logger: log, ready: ready})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("a server ended at startup: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the model watch did not start within 10s")
	}
	t.Cleanup(func() {
		cancel()
		for range 3 {
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("server ended with %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("a server did not stop within 10s")
				return
			}
		}
	})
	return l
}

func liveListen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

func liveWriteFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitAttempts waits (at most 10 s) until the reloader has finished n attempts.
func (l *live) waitAttempts(n int) {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.reloader.Attempts() < n {
		if time.Now().After(deadline) {
			l.t.Fatalf("reload %d did not happen within 10s (attempts: %d)", n, l.reloader.Attempts())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle waits until no reload has finished for quiet (at most 10 s) and returns the
// number of attempts: a client can see a new version before its reload is recorded.
func (l *live) settle(quiet time.Duration) int {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	n := l.reloader.Attempts()
	for time.Now().Before(deadline) {
		time.Sleep(quiet)
		m := l.reloader.Attempts()
		if m == n {
			return n
		}
		n = m
	}
	l.t.Fatal("reloads did not settle within 10s")
	return 0
}

// get fetches an admin path; it fails the test on a transport error.
func (l *live) get(path string) (int, string) {
	l.t.Helper()
	resp, err := http.Get(l.adminURL + path)
	if err != nil {
		l.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		l.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// status fetches and decodes /status.
func (l *live) status() AdminStatus {
	l.t.Helper()
	code, body := l.get("/status")
	if code != http.StatusOK {
		l.t.Fatalf("/status: %d %s", code, body)
	}
	var st AdminStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		l.t.Fatalf("/status is not JSON: %v\n%s", err, body)
	}
	return st
}

// scrape fetches /metrics and parses it with the Prometheus text parser.
func (l *live) scrape() map[string]*dto.MetricFamily {
	l.t.Helper()
	code, body := l.get("/metrics")
	if code != http.StatusOK {
		l.t.Fatalf("/metrics: %d", code)
	}
	p := expfmt.NewTextParser(prommodel.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		l.t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// metric is the value of the series of name whose labels include want (0 if none).
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
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

func (l *live) reloads(result string) float64 {
	l.t.Helper()
	return metricValue(l.scrape(), metricReloads, map[string]string{"result": result})
}

// subscribe opens an ADS stream for an Envoy in region, asks for every load assignment
// (where the live model's edits show: backend addresses and priorities) and ACKs the first
// response, which it returns.
func (l *live) subscribe(id, region string) (*liveADS, *discovery.DiscoveryResponse) {
	l.t.Helper()
	a := openLiveADS(l.t, l.xdsAddr, nil, liveNode(id, region))
	if err := a.request(resource.EndpointType, "", "", ""); err != nil {
		l.t.Fatal(err)
	}
	r := a.mustRecv()
	if err := a.ack(r); err != nil {
		l.t.Fatal(err)
	}
	return a, r
}

// mustRecv waits (at most 10 s) for the next response.
func (a *liveADS) mustRecv() *discovery.DiscoveryResponse {
	a.t.Helper()
	r, err := a.recv(10 * time.Second)
	if err != nil {
		a.t.Fatalf("no xDS response: %v", err)
	}
	return r
}

// nextVersion waits for a response with a version other than old, ACKs it and returns it.
func (a *liveADS) nextVersion(old string) *discovery.DiscoveryResponse {
	a.t.Helper()
	r := a.mustRecv()
	if r.VersionInfo == old {
		a.t.Fatalf("got version %s again; want a new version", old)
	}
	if err := a.ack(r); err != nil {
		a.t.Fatal(err)
	}
	return r
}

// quiet asserts that no response arrives within d: the served version did not change.
func (a *liveADS) quiet(d time.Duration) {
	a.t.Helper()
	if r, err := a.recv(d); err == nil {
		a.t.Fatalf("got a response (version %s); want none", r.VersionInfo)
	}
}

// replaceFile writes data to a temporary file and renames it over name, as editors
// that save atomically do.
func replaceFile(t *testing.T, dir, name, data string) {
	t.Helper()
	tmp := liveWriteFile(t, dir, "."+name+".swp", []byte(data))
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}
