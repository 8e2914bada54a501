package reload

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
)

// portModel is a valid model whose one backend listens on port: the port names it.
func portModel(port int) string {
	return fmt.Sprintf(`backends:
  - {name: b, url: 'http://127.0.0.1:%d', region: swedencentral}
apis:
  - {name: api, pathPrefix: /, backend: b}
listeners:
  - {name: public, port: 10000, apis: [api]}
`, port)
}

// badModel fails to load: its API names a backend that does not exist.
const badModel = `backends:
  - {name: b, url: 'http://127.0.0.1:9000', region: swedencentral}
apis:
  - {name: api, pathPrefix: /, backend: missing}
listeners:
  - {name: public, port: 10000, apis: [api]}
`

// specHarness is a Reloader of a model file on disk, watched with real fsnotify, whose
// apply records the port of each model it serves and whose observer records every
// reload's result. hold, when set, runs in the load after the file has been read.
type specHarness struct {
	t    *testing.T
	path string
	r    *Reloader

	mu      sync.Mutex
	applied []uint32
	results []Result
	loads   int
	hold    func(load int)
}

func (h *specHarness) ObserveReload(res Result) {
	h.mu.Lock()
	h.results = append(h.results, res)
	h.mu.Unlock()
}
func (h *specHarness) ObserveWatch(bool) {}

func startSpecHarness(t *testing.T, opts WatchOptions) *specHarness {
	t.Helper()
	dir := t.TempDir()
	h := &specHarness{t: t, path: adstest.WriteFile(t, dir, "model.yaml", []byte(portModel(8001)))}
	load := func(path string) (*model.Model, error) {
		m, err := model.Load(path)
		h.mu.Lock()
		h.loads++
		n, hold := h.loads, h.hold
		h.mu.Unlock()
		if hold != nil {
			hold(n)
		}
		return m, err
	}
	apply := func(m *model.Model) error {
		h.mu.Lock()
		h.applied = append(h.applied, m.Backends[0].Endpoint.Port)
		h.mu.Unlock()
		return nil
	}
	h.r = New(h.path, load, apply, Options{Observer: h, Logger: adstest.Logger(t),
		Version: func() string { return fmt.Sprint(h.lastApplied()) }})
	if res := h.r.Reload("startup"); !res.OK {
		t.Fatalf("startup reload: %+v", res)
	}
	startWatch(t, h.r, opts)
	return h
}

// startWatch runs r.Watch with opts (a 300 ms debounce unless set) until the test ends,
// and returns once the watch is in place.
func startWatch(t *testing.T, r *Reloader, opts WatchOptions) {
	t.Helper()
	if opts.Debounce == 0 {
		opts.Debounce = 300 * time.Millisecond
	}
	opts.Logger = adstest.Logger(t)
	opts.Ready = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Watch(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Watch did not return within 10s of cancel")
		}
	})
	select {
	case <-opts.Ready:
	case err := <-done:
		t.Fatalf("Watch: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("watch not ready within 10s")
	}
}

func (h *specHarness) write(data string) {
	h.t.Helper()
	if err := os.WriteFile(h.path, []byte(data), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

func (h *specHarness) lastApplied() uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.applied) == 0 {
		return 0
	}
	return h.applied[len(h.applied)-1]
}

// settled waits until the last reload served port.
func (h *specHarness) settled(port uint32) {
	h.t.Helper()
	adstest.WaitFor(h.t, fmt.Sprintf("model %d served", port), func() bool {
		last, _ := h.r.Last()
		return last.OK && last.Trigger == "file" && h.lastApplied() == port
	})
}

// holdFirstLoad makes the next load, once it has read the file, wait until the test lets
// it go; the returned channel says it has read.
func (h *specHarness) holdFirstLoad() (read <-chan struct{}, release func()) {
	readc, releasec := make(chan struct{}), make(chan struct{})
	h.mu.Lock()
	first := h.loads + 1
	h.hold = func(n int) {
		if n == first {
			close(readc)
			select {
			case <-releasec:
			case <-time.After(10 * time.Second):
				h.t.Error("load held for 10s; the test never released it")
			}
		}
	}
	h.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(releasec) }) }
	h.t.Cleanup(release)
	return readc, release
}

func waitRead(t *testing.T, read <-chan struct{}) {
	t.Helper()
	select {
	case <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("no load began within 10s of the write")
	}
}

// A write that lands while the speculative load of the previous write runs: the load
// read the earlier file, so it is dropped and the later model is served.
func TestSpeculativeLoadOverwrittenWhileRunning(t *testing.T) {
	h := startSpecHarness(t, WatchOptions{})
	read, release := h.holdFirstLoad()
	h.write(portModel(8002))
	waitRead(t, read) // the load started after 8002's events read 8002 ...
	h.write(portModel(8003))
	release() // ... and returns it after 8003 was written
	h.settled(8003)
	if n := h.r.prepared.Load(); n == 0 {
		t.Error("no reload used a speculative load")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if slices.Contains(h.applied, 8002) {
		t.Errorf("served %v: the load that read 8002 before 8003 was written was used", h.applied)
	}
}

// A burst of writes, some spaced beyond the time a speculative load waits for: the model
// served is the last one written.
func TestBurstServesTheLastWrite(t *testing.T) {
	h := startSpecHarness(t, WatchOptions{})
	for i := range 10 {
		h.write(portModel(8010 + i))
		time.Sleep(time.Duration(i*15) * time.Millisecond)
	}
	h.settled(8019)
}

// A speculative load of an invalid model that a valid write supersedes is dropped
// without reporting its errors.
func TestSupersededInvalidLoadIsNotReported(t *testing.T) {
	h := startSpecHarness(t, WatchOptions{})
	read, release := h.holdFirstLoad()
	h.write(badModel)
	waitRead(t, read)
	h.write(portModel(8004))
	release()
	h.settled(8004)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, res := range h.results {
		if !res.OK {
			t.Errorf("a superseded load was reported: %+v", res)
		}
	}
}

// A speculative load of an invalid model that is used reports exactly as Reload does
// and keeps the last good model.
func TestUsedInvalidLoadReportsAsReload(t *testing.T) {
	h := startSpecHarness(t, WatchOptions{})
	_, good := h.r.Last()
	before := h.r.Attempts()
	h.write(badModel)
	adstest.WaitFor(t, "the bad model reported", func() bool {
		last, _ := h.r.Last()
		return h.r.Attempts() > before && !last.OK
	})
	got, lastGood := h.r.Last()
	if n := h.r.prepared.Load(); n == 0 {
		t.Error("the file reload did not use its speculative load")
	}
	if got.Trigger != "file" || got.Version != good.Version || !reflect.DeepEqual(lastGood, good) {
		t.Errorf("reload = %+v, last good %+v; want a failed file reload serving %q", got, lastGood, good.Version)
	}
	if p := h.r.Current().Backends[0].Endpoint.Port; p != 8001 {
		t.Errorf("current model is %d; want the last good 8001", p)
	}
	want := h.r.Reload("signal")
	if !slices.Equal(got.Errors, want.Errors) || got.Refused != want.Refused || len(got.Errors) == 0 {
		t.Errorf("file reload errors %q; want Reload's %q", got.Errors, want.Errors)
	}
}

// PrepareAfter < 0 loads only at the end of the quiet period.
func TestPrepareAfterNegativeLoadsAtTheEnd(t *testing.T) {
	h := startSpecHarness(t, WatchOptions{PrepareAfter: -1})
	h.write(portModel(8005))
	h.settled(8005)
	if n := h.r.prepared.Load(); n != 0 {
		t.Errorf("%d reloads used a speculative load; want none", n)
	}
}

// A speculative load that began before another reload served a model is not used: its
// shrink check compared against the model served before. The file is loaded again.
func TestSpeculationBeforeASignalReloadIsNotUsed(t *testing.T) {
	h := startSpecHarness(t, WatchOptions{})
	read, release := h.holdFirstLoad()
	h.write(portModel(8006))
	waitRead(t, read)
	if res := h.r.Reload("signal"); !res.OK {
		t.Fatalf("signal reload: %+v", res)
	}
	attempts := h.r.Attempts()
	release()
	adstest.WaitFor(t, "the file reload", func() bool { return h.r.Attempts() > attempts })
	if last, _ := h.r.Last(); !last.OK || last.Trigger != "file" || h.lastApplied() != 8006 {
		t.Errorf("file reload %+v served %d; want 8006", last, h.lastApplied())
	}
	if n := h.r.prepared.Load(); n != 0 {
		t.Errorf("the file reload used the speculation begun before the signal reload")
	}
}

// ForServer's file reloads prepare on the server during the quiet period and commit at
// its end: the server serves the new model and records it as the reload's.
func TestForServerCommitsThePreparedModel(t *testing.T) {
	dir := t.TempDir()
	path := adstest.WriteFile(t, dir, "model.yaml", []byte(portModel(8001)))
	srv := xds.New(xds.Options{Logger: adstest.Logger(t)})
	t.Cleanup(srv.Close)
	r := ForServer(path, srv, Options{Logger: adstest.Logger(t)})
	if res := r.Reload("startup"); !res.OK {
		t.Fatalf("startup: %+v", res)
	}
	before := srv.Version()
	startWatch(t, r, WatchOptions{})
	if err := os.WriteFile(path, []byte(portModel(8002)), 0o600); err != nil {
		t.Fatal(err)
	}
	adstest.WaitFor(t, "the new model served", func() bool { return srv.Version() != before })
	if last, _ := r.Last(); !last.OK || last.Version != srv.Version() || r.prepared.Load() == 0 {
		t.Errorf("last reload %+v (server at %q), %d prepared; want the prepared model committed", last, srv.Version(), r.prepared.Load())
	}
	if p := r.Current().Backends[0].Endpoint.Port; p != 8002 {
		t.Errorf("current model is %d; want 8002", p)
	}
	if st := srv.Status(); st.LastApplyError != "" {
		t.Errorf("server apply error %q", st.LastApplyError)
	}
}
