package translator_test

import (
	"testing"

	"github.com/poolpilot/poolpilot/internal/modelgen"
	"github.com/poolpilot/poolpilot/translator"
)

// groups is every node group Apply builds for a model of these regions: each region and
// "" (nodes without one), for Envoy and for gRPC clients.
func groups(regions []string) []translator.Group {
	var out []translator.Group
	for _, r := range append([]string{""}, regions...) {
		out = append(out, translator.Group{Region: r, Client: translator.Envoy},
			translator.Group{Region: r, Client: translator.GRPC})
	}
	return out
}

// BenchmarkTranslateGroup translates one Envoy node group of 1k, 5k and 10k backends.
func BenchmarkTranslateGroup(b *testing.B) {
	for _, size := range modelgen.Sizes {
		b.Run(size.Name, func(b *testing.B) {
			m, err := modelgen.Load(size.Spec)
			if err != nil {
				b.Fatal(err)
			}
			g := translator.Group{Region: modelgen.RegionNames(1)[0], Client: translator.Envoy}
			b.ReportAllocs()
			stop := modelgen.PeakHeap()
			for b.Loop() {
				res, err := translator.Translate(m, g)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Clusters) < size.Spec.Pools {
					b.Fatalf("%d clusters for %d pools", len(res.Clusters), size.Spec.Pools)
				}
			}
			b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
		})
	}
}

// BenchmarkTranslateAll translates every node group Apply builds (R regions + "", for
// Envoy and gRPC: 12 groups for 5 regions), one after the other.
func BenchmarkTranslateAll(b *testing.B) {
	for _, size := range modelgen.Sizes {
		b.Run(size.Name, func(b *testing.B) {
			m, err := modelgen.Load(size.Spec)
			if err != nil {
				b.Fatal(err)
			}
			gs := groups(modelgen.RegionNames(size.Spec.Regions))
			b.ReportAllocs()
			stop := modelgen.PeakHeap()
			for b.Loop() {
				for _, g := range gs {
					if _, err := translator.Translate(m, g); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(len(gs)), "groups")
		})
	}
}
