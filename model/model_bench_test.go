package model_test

import (
	"testing"

	"github.com/poolpilot/poolpilot/internal/modelgen"
	"github.com/poolpilot/poolpilot/model"
)

// BenchmarkLoad parses, validates and defaults generated models of 1k, 5k and 10k
// backends, split over files as a large model directory would be. See docs/benchmarks.md.
func BenchmarkLoad(b *testing.B) {
	for _, size := range modelgen.Sizes {
		b.Run(size.Name, func(b *testing.B) {
			files, err := modelgen.Files(size.Spec, 0)
			if err != nil {
				b.Fatal(err)
			}
			var bytes int64
			for _, f := range files {
				bytes += int64(len(f.Data))
			}
			b.SetBytes(bytes)
			b.ReportAllocs()
			stop := modelgen.PeakHeap()
			for b.Loop() {
				m, err := model.LoadFiles(files)
				if err != nil {
					b.Fatal(err)
				}
				if len(m.Backends) != size.Spec.Backends() {
					b.Fatalf("loaded %d backends, want %d", len(m.Backends), size.Spec.Backends())
				}
			}
			b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
		})
	}
}
