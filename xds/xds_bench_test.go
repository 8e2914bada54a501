package xds_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/poolpilot/poolpilot/internal/modelgen"
	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds"
)

// BenchmarkApply is the "translate and snapshot" target: one Apply of a loaded
// model translates every node group (5 regions and none, Envoy and gRPC: 12 groups),
// hashes each type for its version and sets every snapshot. Each iteration applies the
// model with one pool's priorities reversed, then back, as a reload would.
func BenchmarkApply(b *testing.B) {
	for _, size := range modelgen.Sizes {
		b.Run(size.Name, func(b *testing.B) {
			files, err := modelgen.ModelFiles(size.Spec, 0)
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
			s := xds.New(xds.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Translate: translator.Translate})
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
