package xds

import (
	"strings"
	"testing"
	"time"

	resource "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// withoutAPIs is liveModel cut where an in-place save can pause: before its apis.
func withoutAPIs(m string) string { return m[:strings.Index(m, "apis:")] }

// TestReloadRemovingEveryAPIIsRefused: a valid model that keeps fewer than half of the
// served listeners or APIs (here a save cut before "apis:") is refused: nothing changes
// for connected nodes, and the refusal is logged, in /status and counted. With
// AllowShrink it is applied.
func TestReloadRemovingEveryAPIIsRefused(t *testing.T) {
	good := liveModel(8001, false)
	l := startLive(t, map[string]string{"model.yaml": good}, liveOptions{debounce: 50 * time.Millisecond})
	a, _ := l.subscribe("sdc-1", "swedencentral")
	if err := a.request(resource.ListenerType, "", "", ""); err != nil {
		t.Fatal(err)
	}
	lds := a.mustRecv()
	if len(lds.GetResources()) == 0 {
		t.Fatal("no listeners before the cut save")
	}
	if err := a.ack(lds); err != nil {
		t.Fatal(err)
	}
	version := l.srv.Version()
	n := l.settle(150 * time.Millisecond)

	replaceFile(t, l.dir, "model.yaml", withoutAPIs(good))
	l.waitAttempts(n + 1)
	last, _ := l.reloader.Last()
	if last.OK || !last.Refused || len(last.Errors) != 1 || !strings.Contains(last.Errors[0], "0 of the 1 listeners") {
		t.Fatalf("last reload %+v; want refused: 0 of the 1 listeners", last)
	}
	if got := l.srv.Version(); got != version {
		t.Errorf("served version %s; want %s unchanged", got, version)
	}
	if st := l.status(); st.LastReload == nil || !st.LastReload.Refused {
		t.Errorf("/status last reload %+v; want refused", st.LastReload)
	}
	if got := l.reloads(reloadRefused); got != 1 {
		t.Errorf("%s{result=refused} = %v; want 1", metricReloads, got)
	}
	a.quiet(200 * time.Millisecond)
}

// TestAllowShrinkAppliesIt: with AllowShrink the same save is applied.
func TestAllowShrinkAppliesIt(t *testing.T) {
	good := liveModel(8001, false)
	l := startLive(t, map[string]string{"model.yaml": good}, liveOptions{debounce: 50 * time.Millisecond, allowShrink: true})
	n := l.settle(150 * time.Millisecond)
	replaceFile(t, l.dir, "model.yaml", withoutAPIs(good))
	l.waitAttempts(n + 1)
	if last, _ := l.reloader.Last(); !last.OK {
		t.Fatalf("last reload %+v; want applied", last)
	}
}

// TestShrinkRule: more than half removed, by count, of listeners or APIs.
func TestShrinkRule(t *testing.T) {
	set := func(n int) map[string]bool {
		out := map[string]bool{}
		for i := range n {
			out[string(rune('a'+i))] = true
		}
		return out
	}
	for _, c := range []struct {
		served, next int
		refused      bool
	}{{0, 0, false}, {1, 0, true}, {1, 1, false}, {2, 1, false}, {3, 1, true}, {4, 2, false}, {5, 2, true}, {10, 4, true}} {
		err := shrunk("APIs", set(c.served), set(c.next))
		if (err != nil) != c.refused {
			t.Errorf("%d → %d: %v; want refused %v", c.served, c.next, err, c.refused)
		}
	}
}
