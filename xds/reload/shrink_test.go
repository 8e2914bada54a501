package reload_test

import (
	"strings"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/poolpilot/poolpilot/xds/admin"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
	"github.com/poolpilot/poolpilot/xds/internal/livetest"
)

// TestReloadRemovingEveryAPIIsRefused: a valid model that keeps fewer than half of the
// served listeners or APIs (here a save cut before "apis:") is refused: nothing changes
// for connected nodes, and the refusal is logged, in /status and counted. With
// AllowShrink it is applied.
func TestReloadRemovingEveryAPIIsRefused(t *testing.T) {
	good := adstest.Model(8001, false)
	l := livetest.Start(t, map[string]string{"model.yaml": good}, livetest.Options{Debounce: 50 * time.Millisecond})
	a, _ := l.Subscribe("sdc-1", "swedencentral")
	if err := a.Request(resourcev3.ListenerType, "", "", ""); err != nil {
		t.Fatal(err)
	}
	lds := a.MustRecv()
	if len(lds.GetResources()) == 0 {
		t.Fatal("no listeners before the cut save")
	}
	if err := a.Ack(lds); err != nil {
		t.Fatal(err)
	}
	version := l.Srv.Version()
	n := l.Settle(150 * time.Millisecond)

	adstest.ReplaceFile(t, l.Dir, "model.yaml", adstest.WithoutAPIs(good))
	l.WaitAttempts(n + 1)
	last, _ := l.Reloader.Last()
	if last.OK || !last.Refused || len(last.Errors) != 1 || !strings.Contains(last.Errors[0], "0 of the 1 listeners") {
		t.Fatalf("last reload %+v; want refused: 0 of the 1 listeners", last)
	}
	if got := l.Srv.Version(); got != version {
		t.Errorf("served version %s; want %s unchanged", got, version)
	}
	if st := l.Status(); st.LastReload == nil || !st.LastReload.Refused {
		t.Errorf("/status last reload %+v; want refused", st.LastReload)
	}
	if got := l.Reloads(admin.ReloadRefused); got != 1 {
		t.Errorf("%s{result=refused} = %v; want 1", admin.MetricReloads, got)
	}
	a.Quiet(200 * time.Millisecond)
}

// TestAllowShrinkAppliesIt: with AllowShrink the same save is applied.
func TestAllowShrinkAppliesIt(t *testing.T) {
	good := adstest.Model(8001, false)
	l := livetest.Start(t, map[string]string{"model.yaml": good}, livetest.Options{Debounce: 50 * time.Millisecond, AllowShrink: true})
	n := l.Settle(150 * time.Millisecond)
	adstest.ReplaceFile(t, l.Dir, "model.yaml", adstest.WithoutAPIs(good))
	l.WaitAttempts(n + 1)
	if last, _ := l.Reloader.Last(); !last.OK {
		t.Fatalf("last reload %+v; want applied", last)
	}
}
