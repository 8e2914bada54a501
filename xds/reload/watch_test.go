package reload

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/poolpilot/poolpilot/xds/internal/adstest"
)

func TestNextWait(t *testing.T) {
	t0 := time.Unix(1000, 0)
	cases := []struct {
		name        string
		now         time.Time
		quiet, maxW time.Duration
		want        time.Duration
	}{
		{"first kick waits the quiet period", t0, 200 * time.Millisecond, 2 * time.Second, 200 * time.Millisecond},
		{"later kick still waits quiet", t0.Add(time.Second), 200 * time.Millisecond, 2 * time.Second, 200 * time.Millisecond},
		{"near max wait is cut short", t0.Add(1900 * time.Millisecond), 200 * time.Millisecond, 2 * time.Second, 100 * time.Millisecond},
		{"past max wait fires at once", t0.Add(3 * time.Second), 200 * time.Millisecond, 2 * time.Second, 0},
	}
	for _, c := range cases {
		if got := nextWait(c.now, t0, c.quiet, c.maxW); got != c.want {
			t.Errorf("%s: nextWait = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestDebounce: a burst of kicks fires once; a kick after the burst fires again; a stream
// of kicks that never goes quiet still fires by maxWait.
func TestDebounce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	kicks := make(chan struct{})
	var fired atomic.Int32
	fires := make(chan struct{}, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		debounce(ctx, kicks, 300*time.Millisecond, 5*time.Second, func() { fired.Add(1); fires <- struct{}{} })
	}()
	t.Cleanup(func() { cancel(); <-done })

	start := time.Now()
	for range 10 {
		kicks <- struct{}{}
		time.Sleep(5 * time.Millisecond)
	}
	burst := time.Since(start)
	waitFire(t, fires)
	if burst < 300*time.Millisecond {
		// The burst fit in one quiet period: exactly one fire, checked after another period.
		time.Sleep(600 * time.Millisecond)
		if n := fired.Load(); n != 1 {
			t.Fatalf("10 kicks in %v fired %d times; want 1", burst, n)
		}
	} else {
		t.Logf("machine too slow for the exact count (burst took %v)", burst)
	}
	kicks <- struct{}{}
	waitFire(t, fires)

	// MaxWait: kicks every 50 ms for longer than maxWait must not starve the fire.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	kicks2 := make(chan struct{})
	fires2 := make(chan struct{}, 16)
	go debounce(ctx2, kicks2, 200*time.Millisecond, 500*time.Millisecond, func() { fires2 <- struct{}{} })
	stop := time.After(3 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-fires2:
			return
		case <-tick.C:
			kicks2 <- struct{}{}
		case <-stop:
			t.Fatal("continuous kicks for 3s never fired; maxWait 500ms should bound the wait")
		}
	}
}

func waitFire(t *testing.T, fires <-chan struct{}) {
	t.Helper()
	select {
	case <-fires:
	case <-time.After(10 * time.Second):
		t.Fatal("debounce did not fire within 10s")
	}
}

func TestWatchTargetFilters(t *testing.T) {
	dir := t.TempDir()
	file := adstest.WriteFile(t, dir, "model.yaml", []byte("x: 1\n"))
	ev := func(name string, op fsnotify.Op) fsnotify.Event {
		return fsnotify.Event{Name: filepath.Join(dir, name), Op: op}
	}

	wdir, keep, err := watchTarget(file)
	if err != nil || wdir != dir {
		t.Fatalf("watchTarget(file) = %q, %v; want the parent %q", wdir, err, dir)
	}
	for _, c := range []struct {
		ev   fsnotify.Event
		want bool
	}{
		{ev("model.yaml", fsnotify.Write), true},
		{ev("model.yaml", fsnotify.Create), true},
		{ev("model.yaml", fsnotify.Remove), true},
		{ev("model.yaml", fsnotify.Chmod), false},
		{ev("other.yaml", fsnotify.Write), false},
		{ev(".model.yaml.swp", fsnotify.Write), false},
		{ev("..data", fsnotify.Create), true},
	} {
		if got := keep(c.ev); got != c.want {
			t.Errorf("file model: keep(%v) = %v, want %v", c.ev, got, c.want)
		}
	}

	_, keep, err = watchTarget(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ev   fsnotify.Event
		want bool
	}{
		{ev("a.yaml", fsnotify.Create), true},
		{ev("b.yml", fsnotify.Remove), true},
		{ev("notes.txt", fsnotify.Write), false},
		{ev(".hidden.yaml", fsnotify.Write), false}, // the loader skips hidden files
		{ev("..data", fsnotify.Create), true},
		{fsnotify.Event{Name: dir, Op: fsnotify.Remove}, true},
	} {
		if got := keep(c.ev); got != c.want {
			t.Errorf("directory model: keep(%v) = %v, want %v", c.ev, got, c.want)
		}
	}

	if _, _, err := watchTarget(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("watchTarget(missing) succeeded; want an error")
	}
	if err := Watch(context.Background(), filepath.Join(dir, "missing"), WatchOptions{}, func() {}); err == nil {
		t.Error("Watch(missing) succeeded; want an error")
	}
}
