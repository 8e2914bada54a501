package reload_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/poolpilot/poolpilot/xds/admin"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
	"github.com/poolpilot/poolpilot/xds/internal/livetest"
)

// TestWatchSurvivesDirectoryReplaced: the model directory is rm -rf'd (then moved aside)
// and recreated with another model; the watch comes back by itself, the new model is
// applied without SIGHUP, and /status and the metric show the watch's health.
func TestWatchSurvivesDirectoryReplaced(t *testing.T) {
	for _, how := range []string{"rm -rf", "mv aside"} {
		t.Run(how, func(t *testing.T) {
			l := livetest.Start(t, map[string]string{"model.yaml": adstest.Model(8001, false)}, livetest.Options{
				Debounce: 50 * time.Millisecond, Dir: filepath.Join(t.TempDir(), "model")})
			before := l.Srv.Version()
			if h := l.Status().Watch; h == nil || !h.Up {
				t.Fatalf("watch %+v at start; want up", h)
			}
			switch how {
			case "rm -rf":
				if err := os.RemoveAll(l.Path); err != nil {
					t.Fatal(err)
				}
			case "mv aside":
				if err := os.Rename(l.Path, l.Path+".old"); err != nil {
					t.Fatal(err)
				}
			}
			adstest.WaitFor(t, "watch down", func() bool { h := l.Reloader.Watching(); return h != nil && !h.Up })
			// The removal reloads too, so /status shows the model missing; wait for it, so
			// the recreated model can only arrive through the re-established watch.
			adstest.WaitFor(t, "the missing model reported", func() bool { last, _ := l.Reloader.Last(); return !last.OK })
			if got := adstest.MetricValue(l.Scrape(), admin.MetricWatchUp, nil); got != 0 {
				t.Errorf("%s = %v while the directory is gone; want 0", admin.MetricWatchUp, got)
			}

			if err := os.Mkdir(l.Path, 0o755); err != nil {
				t.Fatal(err)
			}
			adstest.WriteFile(t, l.Path, "model.yaml", []byte(adstest.Model(8001, true)))
			adstest.WaitFor(t, "the recreated model applied", func() bool {
				last, _ := l.Reloader.Last()
				return last.OK && l.Srv.Version() != before
			})
			h := l.Status().Watch
			if h == nil || !h.Up || h.Restored != 1 {
				t.Errorf("watch %+v; want up, restored once", h)
			}
			if got := adstest.MetricValue(l.Scrape(), admin.MetricWatchUp, nil); got != 1 {
				t.Errorf("%s = %v; want 1", admin.MetricWatchUp, got)
			}

			// And it keeps watching: a later edit is applied too.
			n := l.Settle(150 * time.Millisecond)
			adstest.ReplaceFile(t, l.Path, "model.yaml", adstest.Model(8001, false))
			l.WaitAttempts(n + 1)
			adstest.WaitFor(t, "the edit applied", func() bool { return l.Srv.Version() == before })
		})
	}
}
