package modelgen

import (
	"runtime/metrics"
	"sync"
	"time"
)

// Sizes are the model sizes the benchmarks measure: 1k, 5k and 10k backends in pools of
// ten, over five regions (the 10,000 backends / 1,000 pools / 5 regions target of docs/benchmarks.md).
var Sizes = []struct {
	Name string
	Spec Spec
}{
	{"1k", Spec{Pools: 100, BackendsPerPool: 10, Regions: 5}},
	{"5k", Spec{Pools: 500, BackendsPerPool: 10, Regions: 5}},
	{"10k", Spec{Pools: 1000, BackendsPerPool: 10, Regions: 5}},
}

// heapSamples add up to the Go heap in use as runtime.MemStats.HeapInuse counts it: spans with
// objects (live or not yet swept) plus their free slots.
var heapSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/unused:bytes"},
}

// PeakHeap samples the heap in use every millisecond until stop is called, which returns
// the highest value seen. runtime/metrics reads without stopping the world, unlike
// runtime.ReadMemStats, so sampling does not distort what it measures.
func PeakHeap() (stop func() uint64) {
	var (
		mu   sync.Mutex
		peak uint64
		done = make(chan struct{})
		end  = make(chan struct{})
	)
	samples := make([]metrics.Sample, len(heapSamples))
	copy(samples, heapSamples)
	read := func() {
		metrics.Read(samples)
		var v uint64
		for _, s := range samples {
			if s.Value.Kind() == metrics.KindUint64 {
				v += s.Value.Uint64()
			}
		}
		mu.Lock()
		peak = max(peak, v)
		mu.Unlock()
	}
	read()
	go func() {
		defer close(end)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				read()
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-end
		read()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}
