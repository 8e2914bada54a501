package xds_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/poolpilot/poolpilot/internal/modelgen"
	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/xds"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// BenchmarkApply measures "translate and snapshot" (docs/benchmarks.md): one Apply of a loaded
// model translates every node group (5 regions and none, Envoy and gRPC: 12 groups),
// hashes each type for its version and sets every snapshot. Each iteration applies the
// model with one pool's priorities reversed, then back, as a reload would. The server
// uses its default translation (translator.Translate unless configured otherwise).
func BenchmarkApply(b *testing.B) {
	for _, size := range modelgen.Sizes {
		b.Run(size.Name, func(b *testing.B) {
			files, err := modelgen.Files(size.Spec, 0)
			if err != nil {
				b.Fatal(err)
			}
			m0, err := model.LoadFiles(files)
			if err != nil {
				b.Fatal(err)
			}
			flipped, _, err := modelgen.ReversePriorities(files[0].Data, modelgen.PoolName(0))
			if err != nil {
				b.Fatal(err)
			}
			files[0].Data = flipped
			m1, err := model.LoadFiles(files)
			if err != nil {
				b.Fatal(err)
			}
			s := xds.New(xds.Options{Logger: discard})
			defer s.Close()
			models := []*model.Model{m0, m1}
			b.ReportAllocs()
			stop := modelgen.PeakHeap()
			i := 0
			for b.Loop() {
				if err := s.Apply(models[i%2]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(len(s.Status().Groups)), "groups")
		})
	}
}

// BenchmarkApplyFresh is the first Apply of a new server (startup): nothing translated
// or validated before.
func BenchmarkApplyFresh(b *testing.B) {
	for _, size := range modelgen.Sizes {
		b.Run(size.Name, func(b *testing.B) {
			m, err := modelgen.Load(size.Spec)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			stop := modelgen.PeakHeap()
			for b.Loop() {
				s := xds.New(xds.Options{Logger: discard})
				if err := s.Apply(m); err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
			b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
		})
	}
}
