package reload_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"syscall"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
	"github.com/poolpilot/poolpilot/xds/internal/livetest"
	"github.com/poolpilot/poolpilot/xds/reload"
)

// TestLiveEditsReachClients edits the model under a running server in each way operators
// and tools do, and a connected ADS client receives a new version every time.
func TestLiveEditsReachClients(t *testing.T) {
	t.Run("single File: plain write, rename-over, add and remove neighbours", func(t *testing.T) {
		l := livetest.Start(t, map[string]string{"model.yaml": adstest.Model(8001, false)}, livetest.Options{File: "model.yaml", Debounce: 50 * time.Millisecond})
		a, r := l.Subscribe("sdc-1", "swedencentral")

		if err := os.WriteFile(l.Path, []byte(adstest.Model(8002, false)), 0o600); err != nil {
			t.Fatal(err)
		}
		r = a.NextVersion(r.VersionInfo)

		adstest.ReplaceFile(t, l.Dir, "model.yaml", adstest.Model(8003, false))
		r = a.NextVersion(r.VersionInfo)

		// Another YAML file next to a single-file model is not part of it.
		attempts := l.Settle(200 * time.Millisecond)
		adstest.WriteFile(t, l.Dir, "unrelated.yaml", []byte("not: [a model"))
		a.Quiet(300 * time.Millisecond)
		if got := l.Reloader.Attempts(); got != attempts {
			t.Errorf("writing a neighbour file caused %d reloads; want 0", got-attempts)
		}

		adstest.ReplaceFile(t, l.Dir, "model.yaml", adstest.Model(8004, true))
		a.NextVersion(r.VersionInfo)
		if last, _ := l.Reloader.Last(); !last.OK || last.Trigger != "file" {
			t.Errorf("last reload = %+v; want ok from a file change", last)
		}
	})

	t.Run("directory: file added and removed", func(t *testing.T) {
		l := livetest.Start(t, map[string]string{"model.yaml": adstest.Model(8001, false)}, livetest.Options{Debounce: 50 * time.Millisecond})
		a, r := l.Subscribe("sdc-1", "swedencentral")
		extra := "backends:\n  - {name: extra, url: 'http://127.0.0.3:9000', region: swedencentral}\n" +
			"apis:\n  - {name: extra-api, pathPrefix: /extra/, backend: extra}\n" +
			"listeners:\n  - {name: extra, port: 10001, apis: [extra-api]}\n"
		adstest.WriteFile(t, l.Dir, "extra.yaml", []byte(extra))
		r = a.NextVersion(r.VersionInfo)
		if err := os.Remove(filepath.Join(l.Dir, "extra.yaml")); err != nil {
			t.Fatal(err)
		}
		a.NextVersion(r.VersionInfo)
	})

	for _, file := range []string{"", "model.yaml"} {
		name := "ConfigMap ..data symlink swap, directory model"
		if file != "" {
			name = "ConfigMap ..data symlink swap, file model through ..data"
		}
		t.Run(name, func(t *testing.T) {
			l := livetest.Start(t, nil, livetest.Options{File: file, Debounce: 50 * time.Millisecond,
				Setup: func(t *testing.T, dir string) { publishConfigMap(t, dir, "..2026_01", adstest.Model(8001, false)) }})
			a, r := l.Subscribe("nwe-1", "norwayeast")
			publishConfigMap(t, l.Dir, "..2026_02", adstest.Model(8002, true))
			r = a.NextVersion(r.VersionInfo)
			publishConfigMap(t, l.Dir, "..2026_03", adstest.Model(8003, false))
			a.NextVersion(r.VersionInfo)
		})
	}
}

// publishConfigMap does what kubelet does to update a ConfigMap volume: write the files
// into a new timestamped directory, point a temporary symlink at it, rename that over
// `..data`, and remove the previous directory. model.yaml is a symlink through ..data.
func publishConfigMap(t *testing.T, dir, version, content string) {
	t.Helper()
	vdir := filepath.Join(dir, version)
	if err := os.Mkdir(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	adstest.WriteFile(t, vdir, "model.yaml", []byte(content))
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "model.yaml")
	if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
		if err := os.Symlink(filepath.Join("..data", "model.yaml"), link); err != nil {
			t.Fatal(err)
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBurstOfWritesIsOneReload: ten writes within 100 ms are one reload (the reload
// counter rises by one) and the client receives one new version: the last write's.
func TestBurstOfWritesIsOneReload(t *testing.T) {
	const quiet = 400 * time.Millisecond
	l := livetest.Start(t, map[string]string{"model.yaml": adstest.Model(8000, false)}, livetest.Options{File: "model.yaml", Debounce: quiet, MaxWait: 5 * time.Second})
	a, r := l.Subscribe("sdc-1", "swedencentral")
	okBefore := l.Reloads("ok")

	start := time.Now()
	for i := 1; i <= 10; i++ {
		if err := os.WriteFile(l.Path, []byte(adstest.Model(8000+i, false)), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	burst := time.Since(start)
	got := a.NextVersion(r.VersionInfo)
	l.Settle(2 * quiet)
	if burst >= quiet {
		t.Skipf("the writes took %v, longer than the %v quiet period: the machine is too slow to assert one reload", burst, quiet)
	}
	if n := l.Reloads("ok") - okBefore; n != 1 {
		t.Errorf("10 writes in %v made %v reloads; want 1", burst, n)
	}
	if errs := l.Reloads("error"); errs != 0 {
		t.Errorf("%v reloads failed; a burst must be read once it is complete", errs)
	}
	a.Quiet(2 * quiet)
	// The one version served is the final content's: port 8010.
	if st := l.Status(); st.LastReload == nil || !st.LastReload.OK {
		t.Fatalf("last reload %+v", st.LastReload)
	}
	if ports := claPorts(t, got); !reflect.DeepEqual(ports, []uint32{8010}) {
		t.Errorf("the new load assignments use ports %v; want the last write's [8010]", ports)
	}
}

// claPorts are the distinct endpoint ports of the load assignments in r, sorted.
func claPorts(t *testing.T, r *discovery.DiscoveryResponse) []uint32 {
	t.Helper()
	var ports []uint32
	for _, a := range r.GetResources() {
		la := &endpointv3.ClusterLoadAssignment{}
		if err := a.UnmarshalTo(la); err != nil {
			t.Fatal(err)
		}
		for _, lle := range la.GetEndpoints() {
			for _, e := range lle.GetLbEndpoints() {
				ports = append(ports, e.GetEndpoint().GetAddress().GetSocketAddress().GetPortValue())
			}
		}
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}

// TestReloadOnSIGHUP: a SIGHUP sent right after ListenSignals (before its loop runs)
// reloads instead of ending the process, and the result says it came from a signal.
func TestReloadOnSIGHUP(t *testing.T) {
	loads := make(chan struct{}, 4)
	r := reload.New("in-memory", func(string) (*model.Model, error) {
		loads <- struct{}{}
		return &model.Model{}, nil
	}, func(*model.Model) error { return nil }, reload.Options{Logger: adstest.Logger(t)})
	run := r.ListenSignals(syscall.SIGHUP)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-loads:
	case <-time.After(10 * time.Second):
		t.Fatal("SIGHUP did not reload within 10s")
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.Attempts() < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if last, _ := r.Last(); !last.OK || last.Trigger != "signal" {
		t.Errorf("last reload = %+v; want ok from a signal", last)
	}
}
