// Package livetest runs a whole poolpilot core for tests: the xDS server, the metrics,
// the reloader with its file watch and the admin server, on free loopback ports.
package livetest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	prommodel "github.com/prometheus/common/model"
	"google.golang.org/grpc"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/admin"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
	"github.com/poolpilot/poolpilot/xds/reload"
)

// Live is a running poolpilot core: xDS server, metrics, reloader with its file watch,
// and the admin server, all on free loopback ports, stopped at the end of the test.
type Live struct {
	t        *testing.T
	Dir      string // the model directory
	Path     string // what the reloader loads: dir or a file in it
	Srv      *xds.Server
	XDSAddr  string
	Metrics  *admin.Metrics
	Reloader *reload.Reloader
	AdminURL string
}

// Options shape Start; the zero value serves a directory with the default debounce.
type Options struct {
	// File, when set, is the model path inside dir (single-file mode); else dir itself.
	File     string
	Debounce time.Duration
	MaxWait  time.Duration
	GRPCOpts []grpc.ServerOption
	// Setup, when set, populates the directory before the first load (after files).
	Setup func(t *testing.T, dir string)
	// Dir, when set, is the model directory (created), instead of a new t.TempDir().
	Dir string
	// AllowShrink is reload.Options.AllowShrink.
	AllowShrink bool
}

// Start writes files into a new directory and serves them.
func Start(t *testing.T, files map[string]string, o Options) *Live {
	t.Helper()
	dir := o.Dir
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		adstest.WriteFile(t, dir, name, []byte(data))
	}
	if o.Setup != nil {
		o.Setup(t, dir)
	}
	l := &Live{t: t, Dir: dir, Path: dir, Metrics: admin.NewMetrics()}
	if o.File != "" {
		l.Path = filepath.Join(dir, o.File)
	}
	log := adstest.Logger(t)
	l.Srv = xds.New(xds.Options{Logger: log, Translate: translator.Translate, Observer: l.Metrics})
	lookup := func(k string) (string, bool) { v, ok := adstest.Env[k]; return v, ok }
	l.Reloader = reload.ForServer(l.Path, l.Srv, reload.Options{Observer: l.Metrics, Logger: log, AllowShrink: o.AllowShrink},
		model.WithLookupEnv(lookup))
	if res := l.Reloader.Reload("startup"); !res.OK {
		t.Fatalf("startup model rejected: %v", res.Errors)
	}

	ctx, cancel := context.WithCancel(context.Background())
	xlis := adstest.Listen(t)
	alis := adstest.Listen(t)
	l.XDSAddr, l.AdminURL = xlis.Addr().String(), "http://"+alis.Addr().String()
	adm := admin.New(admin.Options{Server: l.Srv, Reloader: l.Reloader, Metrics: l.Metrics, Breaker: l.Srv.Breaker(), Logger: log})
	ready := make(chan struct{})
	done := make(chan error, 3)
	go func() { done <- l.Srv.Serve(ctx, xlis, o.GRPCOpts...) }()
	go func() { done <- adm.Serve(ctx, alis) }()
	go func() {
		done <- l.Reloader.Watch(ctx, reload.WatchOptions{Debounce: o.Debounce, MaxWait: o.MaxWait, Logger: log, Ready: ready})
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

// WaitAttempts waits (at most 10 s) until the reloader has finished n attempts.
func (l *Live) WaitAttempts(n int) {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.Reloader.Attempts() < n {
		if time.Now().After(deadline) {
			l.t.Fatalf("reload %d did not happen within 10s (attempts: %d)", n, l.Reloader.Attempts())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Settle waits until no reload has finished for quiet (at most 10 s) and returns the
// number of attempts: a client can see a new version before its reload is recorded.
func (l *Live) Settle(quiet time.Duration) int {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	n := l.Reloader.Attempts()
	for time.Now().Before(deadline) {
		time.Sleep(quiet)
		m := l.Reloader.Attempts()
		if m == n {
			return n
		}
		n = m
	}
	l.t.Fatal("reloads did not Settle within 10s")
	return 0
}

// Get fetches an admin path; it fails the test on a transport error.
func (l *Live) Get(path string) (int, string) {
	l.t.Helper()
	resp, err := http.Get(l.AdminURL + path)
	if err != nil {
		l.t.Fatalf("GET %s: %v", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		l.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// Status fetches and decodes /status.
func (l *Live) Status() admin.Status {
	l.t.Helper()
	code, body := l.Get("/status")
	if code != http.StatusOK {
		l.t.Fatalf("/status: %d %s", code, body)
	}
	var st admin.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		l.t.Fatalf("/status is not JSON: %v\n%s", err, body)
	}
	return st
}

// Scrape fetches /metrics and parses it with the Prometheus text parser.
func (l *Live) Scrape() map[string]*dto.MetricFamily {
	l.t.Helper()
	code, body := l.Get("/metrics")
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

// Reloads is the poolpilot_reloads_total series of result.
func (l *Live) Reloads(result string) float64 {
	l.t.Helper()
	return adstest.MetricValue(l.Scrape(), "poolpilot_reloads_total", map[string]string{"result": result})
}

// Subscribe opens an ADS stream for an Envoy in region, asks for every load assignment
// (where the Live model's edits show: backend addresses and priorities) and ACKs the first
// response, which it returns.
func (l *Live) Subscribe(id, region string) (*adstest.ADS, *discovery.DiscoveryResponse) {
	l.t.Helper()
	a := adstest.Open(l.t, l.XDSAddr, nil, adstest.Node(id, region))
	if err := a.Request(resourcev3.EndpointType, "", "", ""); err != nil {
		l.t.Fatal(err)
	}
	r := a.MustRecv()
	if err := a.Ack(r); err != nil {
		l.t.Fatal(err)
	}
	return a, r
}
