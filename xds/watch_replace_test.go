package xds

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatchSurvivesDirectoryReplaced: the model directory is rm -rf'd (then moved aside)
// and recreated with another model; the watch comes back by itself, the new model is
// applied without SIGHUP, and /status and the metric show the watch's health.
func TestWatchSurvivesDirectoryReplaced(t *testing.T) {
	for _, how := range []string{"rm -rf", "mv aside"} {
		t.Run(how, func(t *testing.T) {
			l := startLive(t, map[string]string{"model.yaml": liveModel(8001, false)}, liveOptions{
				debounce: 50 * time.Millisecond, dir: filepath.Join(t.TempDir(), "model")})
			before := l.srv.Version()
			if h := l.status().Watch; h == nil || !h.Up {
				t.Fatalf("watch %+v at start; want up", h)
			}
			switch how {
			case "rm -rf":
				if err := os.RemoveAll(l.path); err != nil {
					t.Fatal(err)
				}
			case "mv aside":
				if err := os.Rename(l.path, l.path+".old"); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "watch down", func() bool { h := l.reloader.Watching(); return h != nil && !h.Up })
			// The removal reloads too, so /status shows the model missing; wait for it, so
			// the recreated model can only arrive through the re-established watch.
			waitFor(t, "the missing model reported", func() bool { last, _ := l.reloader.Last(); return !last.OK })
			if got := metricValue(l.scrape(), metricWatchUp, nil); got != 0 {
				t.Errorf("%s = %v while the directory is gone; want 0", metricWatchUp, got)
			}

			if err := os.Mkdir(l.path, 0o755); err != nil {
				t.Fatal(err)
			}
			liveWriteFile(t, l.path, "model.yaml", []byte(liveModel(8001, true)))
			waitFor(t, "the recreated model applied", func() bool {
				last, _ := l.reloader.Last()
				return last.OK && l.srv.Version() != before
			})
			h := l.status().Watch
			if h == nil || !h.Up || h.Restored != 1 {
				t.Errorf("watch %+v; want up, restored once", h)
			}
			if got := metricValue(l.scrape(), metricWatchUp, nil); got != 1 {
				t.Errorf("%s = %v; want 1", metricWatchUp, got)
			}

			// And it keeps watching: a later edit is applied too.
			n := l.settle(150 * time.Millisecond)
			replaceFile(t, l.path, "model.yaml", liveModel(8001, false))
			l.waitAttempts(n + 1)
			waitFor(t, "the edit applied", func() bool { return l.srv.Version() == before })
		})
	}
}
