package admin_test

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/admin"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
	"github.com/poolpilot/poolpilot/xds/internal/livetest"
	"github.com/poolpilot/poolpilot/xds/reload"
)

// TestAdminEndpoints drives a live server with two real ADS clients (one ACKs, one
// NACKs) and checks every admin endpoint.
func TestAdminEndpoints(t *testing.T) {
	l := livetest.Start(t, map[string]string{"model.yaml": adstest.Model(8001, false)}, livetest.Options{Debounce: 50 * time.Millisecond})
	_, sdcResp := l.Subscribe("sdc-1", "swedencentral")
	nwe := adstest.Open(t, l.XDSAddr, nil, adstest.Node("nwe-1", "norwayeast"))
	if err := nwe.Request(resourcev3.EndpointType, "", "", ""); err != nil {
		t.Fatal(err)
	}
	rejected := nwe.MustRecv()
	// The NACK quotes the credential, as an Envoy error can quote what it rejected.
	nackMsg := "endpoint metadata rejected: x-functions-key=" + adstest.Secret
	if err := nwe.Request(resourcev3.EndpointType, "", rejected.Nonce, nackMsg); err != nil {
		t.Fatal(err)
	}

	// Wait until the status registry has seen the ACK and the NACK.
	var st admin.Status
	deadline := time.Now().Add(10 * time.Second)
	for {
		st = l.Status()
		if n := findNode(st, "nwe-1"); n != nil && n.Types["endpoints"].LastNack != nil {
			if s := findNode(st, "sdc-1"); s != nil && s.Types["endpoints"].AckedVersion != "" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the ACK and the NACK: %+v", st.Nodes)
		}
		time.Sleep(20 * time.Millisecond)
	}

	t.Run("healthz and readyz", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz"} {
			if code, body := l.Get(p); code != http.StatusOK {
				t.Errorf("%s = %d %q; want 200", p, code, body)
			}
		}
	})

	t.Run("status JSON", func(t *testing.T) {
		if !st.Ready || st.ModelVersion == "" || st.LastReload == nil || !st.LastReload.OK || st.ModelPath != l.Dir {
			t.Errorf("header fields: ready %v, version %q, last reload %+v, path %q", st.Ready, st.ModelVersion, st.LastReload, st.ModelPath)
		}
		s := findNode(st, "sdc-1")
		if s.Group != "swedencentral/envoy" || s.Stream != "sotw" || s.Types["endpoints"].AckedVersion != sdcResp.VersionInfo {
			t.Errorf("sdc-1 = %+v; want group swedencentral/envoy, sotw, endpoints ACKed at %s", s, sdcResp.VersionInfo)
		}
		n := findNode(st, "nwe-1")
		nack := n.Types["endpoints"].LastNack
		if n.Group != "norwayeast/envoy" || nack.Version != rejected.VersionInfo || n.Types["endpoints"].AckedVersion != "" {
			t.Errorf("nwe-1 = %+v, NACK %+v; want norwayeast/envoy, NACK of %s, nothing ACKed", n, nack, rejected.VersionInfo)
		}
		if want := "endpoint metadata rejected: x-functions-key=[redacted]"; nack.Error != want {
			t.Errorf("NACK error = %q; want %q", nack.Error, want)
		}
		pool := st.Pools[0]
		got := map[string][][]string{}
		for _, r := range pool.Regions {
			if r.Note != "" {
				t.Errorf("region %q: %s", r.Region, r.Note)
			}
			got[r.Region] = r.Priorities
		}
		want := map[string][][]string{
			"":                     {{"sdc"}, {"nwe"}}, // the model's own order
			translator.OtherRegion: {{"sdc"}, {"nwe"}}, // regions the model does not name: the same
			"swedencentral":        {{"sdc"}, {"nwe"}},
			"norwayeast":           {{"nwe"}, {"sdc"}}, // preferLocalRegion: the mirror image
		}
		if pool.Name != "pool" || !pool.PreferLocalRegion || !reflect.DeepEqual(got, want) {
			t.Errorf("pool table %s = %v; want %v", pool.Name, got, want)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		fams := l.Scrape() // parses with the Prometheus text parser
		checks := []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{admin.MetricReloads, map[string]string{"result": "ok"}, 1},
			{admin.MetricReloads, map[string]string{"result": "error"}, 0},
			{admin.MetricLastReloadOK, nil, 1},
			{admin.MetricStreams, map[string]string{"group": "swedencentral/envoy", "stream": "sotw"}, 1},
			{admin.MetricStreams, map[string]string{"group": "norwayeast/envoy", "stream": "sotw"}, 1},
			{admin.MetricAcks, map[string]string{"type": "endpoints"}, 1},
			{admin.MetricNacks, map[string]string{"type": "endpoints"}, 1},
			{admin.MetricResponses, map[string]string{"type": "endpoints"}, 2},
			{admin.MetricModelInfo, map[string]string{"version": st.ModelVersion}, 1},
			{admin.MetricGroupVersionInfo, map[string]string{"group": "swedencentral/envoy", "type": "endpoints", "version": sdcResp.VersionInfo}, 1},
		}
		for _, c := range checks {
			if got := adstest.MetricValue(fams, c.name, c.labels); got != c.want {
				t.Errorf("%s%v = %v; want %v", c.name, c.labels, got, c.want)
			}
		}
		if v := adstest.MetricValue(fams, admin.MetricLastReload, nil); v < float64(time.Now().Add(-time.Hour).Unix()) {
			t.Errorf("%s = %v; want a recent Unix time", admin.MetricLastReload, v)
		}
		for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
			if fams[name] == nil {
				t.Errorf("%s missing: the Go and process collectors are not registered", name)
			}
		}
	})

	t.Run("HTML page", func(t *testing.T) {
		code, page := l.Get("/")
		if code != http.StatusOK {
			t.Fatalf("/ = %d", code)
		}
		text := html.UnescapeString(page)
		for _, want := range []string{
			`<table class="pool" data-pool="pool">`,
			"<td>swedencentral</td><td>0: sdc → 1: nwe</td>",
			"<td>norwayeast</td><td>0: nwe → 1: sdc</td>",
			"<td>(no region)</td><td>0: sdc → 1: nwe</td>",
			"sdc-1", "nwe-1", "swedencentral/envoy", sdcResp.VersionInfo,
			"endpoint metadata rejected: x-functions-key=[redacted]",
			st.ModelVersion,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("the page lacks %q", want)
			}
		}
	})

	t.Run("credentials appear nowhere", func(t *testing.T) {
		for _, p := range []string{"/", "/status", "/metrics", "/readyz", "/healthz"} {
			if _, body := l.Get(p); strings.Contains(body, adstest.Secret) {
				t.Errorf("%s shows the backend credential", p)
			}
		}
		// The registry (and so the log and the observer) gets the NACK already redacted.
		for _, s := range l.Srv.Status().Streams {
			for url, ts := range s.Types {
				if ts.LastNack != nil && strings.Contains(ts.LastNack.Message, adstest.Secret) {
					t.Errorf("stream %d %s: the recorded NACK shows the backend credential", s.StreamID, url)
				}
			}
		}
	})

	// Last, as it adds a stream: a node from a region the model does not know joins the
	// shared group of such nodes, and the table gains no row for its made-up region.
	t.Run("region of a connected node only", func(t *testing.T) {
		l.Subscribe("weu-1", "westeurope")
		var n *admin.NodeView
		deadline := time.Now().Add(10 * time.Second)
		for n == nil && time.Now().Before(deadline) {
			n = findNode(l.Status(), "weu-1")
			time.Sleep(20 * time.Millisecond)
		}
		if n == nil || n.Group != translator.OtherRegion+"/envoy" {
			t.Fatalf("weu-1 = %+v; want group %s/envoy", n, translator.OtherRegion)
		}
		for _, r := range l.Status().Pools[0].Regions {
			if r.Region == "westeurope" {
				t.Errorf("the pool table has a row for the node's own region westeurope")
			}
		}
	})

	t.Run("unknown path and pprof off", func(t *testing.T) {
		for _, p := range []string{"/nope", "/debug/pprof/"} {
			if code, _ := l.Get(p); code != http.StatusNotFound {
				t.Errorf("%s = %d; want 404", p, code)
			}
		}
	})
}

func findNode(st admin.Status, id string) *admin.NodeView {
	for i := range st.Nodes {
		if st.Nodes[i].NodeID == id {
			return &st.Nodes[i]
		}
	}
	return nil
}

// TestReadyzBeforeModel: a server without a good model is alive but not ready; the
// status page says so and shows the startup error.
func TestReadyzBeforeModel(t *testing.T) {
	dir := t.TempDir()
	path := adstest.WriteFile(t, dir, "model.yaml", []byte("backends: [\n"))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := xds.New(xds.Options{Logger: log, Translate: translator.Translate})
	m := admin.NewMetrics()
	r := reload.ForServer(path, srv, reload.Options{Observer: m, Logger: log})
	if res := r.Reload("startup"); res.OK || res.Version != "" {
		t.Fatalf("startup = %+v; want a failure with nothing served", res)
	}
	h := admin.New(admin.Options{Server: srv, Reloader: r, Metrics: m, Pprof: true}).Handler()
	get := func(p string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d; want 200", code)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d %q; want 503", code, body)
	}
	if code, page := get("/"); code != http.StatusOK || !strings.Contains(page, "not ready") || !strings.Contains(page, path+":") {
		t.Errorf("/ = %d; want the page to say not ready and show the error at %s", code, path)
	}
	if code, _ := get("/debug/pprof/"); code != http.StatusOK {
		t.Errorf("/debug/pprof/ with Pprof = %d; want 200", code)
	}
}

// TestShutdownWithOpenStreams: cancelling serve's context with streams open ends the
// streams, the xDS server and the admin server well within 5 s.
func TestShutdownWithOpenStreams(t *testing.T) {
	dir := t.TempDir()
	path := adstest.WriteFile(t, dir, "model.yaml", []byte(adstest.Model(8001, false)))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := xds.New(xds.Options{Logger: log, Translate: translator.Translate})
	lookup := func(k string) (string, bool) { v, ok := adstest.Env[k]; return v, ok }
	r := reload.ForServer(path, srv, reload.Options{Logger: log}, model.WithLookupEnv(lookup))
	if res := r.Reload("startup"); !res.OK {
		t.Fatal(res.Errors)
	}
	xlis, alis := adstest.Listen(t), adstest.Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 3)
	go func() { done <- srv.Serve(ctx, xlis) }()
	go func() { done <- admin.New(admin.Options{Server: srv, Reloader: r}).Serve(ctx, alis) }()
	go func() { done <- r.Watch(ctx, reload.WatchOptions{}) }()

	var streams []*adstest.ADS
	for _, id := range []string{"a", "b", "c"} {
		a := adstest.Open(t, xlis.Addr().String(), nil, adstest.Node(id, "swedencentral"))
		if err := a.Request(resourcev3.ClusterType, "", "", ""); err != nil {
			t.Fatal(err)
		}
		a.MustRecv()
		streams = append(streams, a)
	}
	start := time.Now()
	cancel()
	for range 3 {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("a server returned %v; want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("shutdown took more than 5s")
		}
	}
	for _, a := range streams {
		if _, err := a.Recv(5 * time.Second); err == nil || err == context.DeadlineExceeded {
			t.Errorf("an open stream did not end at shutdown: %v", err)
		}
	}
	t.Logf("stopped in %v", time.Since(start))
	if _, err := http.Get("http://" + alis.Addr().String() + "/healthz"); err == nil {
		t.Error("the admin server still answers after shutdown")
	}
}

// TestPoolTableDNSAndUnusedPools: a pool of DNS-named backends (an Envoy-resolved cluster
// with its load assignment inline) has its per-region order in the table; a pool no API
// routes to says it is not in the snapshot.
func TestPoolTableDNSAndUnusedPools(t *testing.T) {
	m, err := model.LoadBytes("dns.yaml", []byte(`backends:
  - {name: a, url: "https://a.example.com", region: r1}
  - {name: b, url: "https://b.example.com", region: r2}
  - {name: c, url: "https://c.example.com", region: r2}
pools:
  - name: dns-pool
    preferLocalRegion: true
    services: [{backend: a, priority: 1}, {backend: b, priority: 2}, {backend: c, priority: 2}]
  - name: unused
    services: [{backend: a}]
apis:
  - {name: api, pathPrefix: /, backend: dns-pool}
listeners:
  - {name: l, port: 10000, apis: [api]}
`))
	if err != nil {
		t.Fatal(err)
	}
	srv := xds.New(xds.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Translate: translator.Translate})
	if err := srv.Apply(m); err != nil {
		t.Fatal(err)
	}
	st := admin.New(admin.Options{Server: srv}).Status()
	got := map[string]map[string]any{}
	for _, p := range st.Pools {
		got[p.Name] = map[string]any{}
		for _, r := range p.Regions {
			if r.Note != "" {
				got[p.Name][r.Region] = "note"
			} else {
				got[p.Name][r.Region] = r.Priorities
			}
		}
	}
	want := map[string]map[string]any{
		"dns-pool": {
			"":                     [][]string{{"a"}, {"b", "c"}},
			translator.OtherRegion: [][]string{{"a"}, {"b", "c"}},
			"r1":                   [][]string{{"a"}, {"b", "c"}},
			"r2":                   [][]string{{"b", "c"}, {"a"}},
		},
		"unused": {"": "note", translator.OtherRegion: "note", "r1": "note", "r2": "note"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pool table = %v; want %v", got, want)
	}
}
