package reload_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/poolpilot/poolpilot/internal/modelgen"
	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/reload"
)

// appliedVersions hears each successful Apply's model version.
type appliedVersions struct {
	xds.NopObserver
	c chan string
}

func (o appliedVersions) Applied(ev xds.ApplyEvent) {
	if ev.Err == nil {
		o.c <- ev.ModelVersion
	}
}

// BenchmarkFileChangeToApplied measures the time from a model file write (a rename over
// it, as the load tool and editors write) to the server having applied the new model,
// debounce (reload.DefaultDebounce) included, on the 2,000-backend single-file model (200
// pools × 10 backends × 5 regions). Each iteration reverses one pool's priorities or
// restores them, a change every node group sees. "load-after-quiet" loads only when the
// quiet period has ended (PrepareAfter < 0); "prepare-during-quiet" is the default, which
// loads and prepares while it runs. p50-ms and max-ms are over the iterations of a run.
func BenchmarkFileChangeToApplied(b *testing.B) {
	spec := modelgen.Spec{Pools: 200, BackendsPerPool: 10, Regions: 5}
	data0, err := modelgen.YAML(spec)
	if err != nil {
		b.Fatal(err)
	}
	data1, _, err := modelgen.ReversePriorities(data0, modelgen.PoolName(0))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		after time.Duration
	}{{"load-after-quiet", -1}, {"prepare-during-quiet", 0}} {
		b.Run(c.name, func(b *testing.B) {
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			dir := b.TempDir()
			path := filepath.Join(dir, "model.yaml")
			write := func(data []byte) {
				tmp := filepath.Join(dir, ".model.yaml.tmp")
				if err := os.WriteFile(tmp, data, 0o600); err != nil {
					b.Fatal(err)
				}
				if err := os.Rename(tmp, path); err != nil {
					b.Fatal(err)
				}
			}
			write(data0)
			obs := appliedVersions{c: make(chan string, 4)}
			srv := xds.New(xds.Options{Logger: log, Observer: obs})
			defer srv.Close()
			r := reload.ForServer(path, srv, reload.Options{Logger: log})
			if res := r.Reload("startup"); !res.OK {
				b.Fatalf("startup: %v", res.Errors)
			}
			<-obs.c
			ctx, cancel := context.WithCancel(context.Background())
			ready := make(chan struct{})
			done := make(chan error, 1)
			go func() { done <- r.Watch(ctx, reload.WatchOptions{Logger: log, Ready: ready, PrepareAfter: c.after}) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					b.Error(err)
				}
			}()
			<-ready

			var lat []time.Duration
			i := 0
			for b.Loop() {
				i++
				data := data1
				if i%2 == 0 {
					data = data0
				}
				start := time.Now()
				write(data)
				select {
				case <-obs.c:
				case <-time.After(30 * time.Second):
					b.Fatal("no apply within 30s of the write")
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)-1])/1e6, "max-ms")
		})
	}
}
