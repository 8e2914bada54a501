package xds

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// memoryRelease hands the heap a burst leaves behind back to the OS once the burst is over.
//
// Thousands of proxies connecting at once each receive their full configuration (hundreds
// of KiB per proxy): the heap grows to several times what the idle streams keep, and the
// runtime returns that peak to the OS only slowly, so an idle server's RSS stays 2–4× its
// live heap for minutes. Once a burst has allocated a lot and allocation has gone quiet,
// one forced collection and scavenge returns it; rate-limited, so a busy server never
// collects for this more than once per minInterval (or more than 1/costFactor of a
// core), and an idle one not at all.
type memoryRelease struct {
	// burst is how much busy ticks must have allocated since the last release for another.
	burst uint64
	// quiet is the allocation per tick below which the server counts as quiet; quietTicks
	// consecutive quiet ticks end a burst.
	quiet      uint64
	quietTicks int
	// minInterval is the least time between two releases; after a release that took d,
	// the next waits at least costFactor × d, so releasing costs at most 1/costFactor of
	// one core however often bursts come.
	minInterval time.Duration
	costFactor  int

	// allocated reads the bytes allocated since the process started; release returns
	// the free heap to the OS and says how long that took. Tests replace both.
	allocated func() uint64
	release   func() time.Duration

	lastTotal   uint64        // allocated() at the last tick
	sinceFree   uint64        // allocated in busy ticks since the last release
	quietSeen   int           // consecutive quiet ticks
	lastRelease time.Time     // zero: never
	wait        time.Duration // before the next release may run
}

func newMemoryRelease() *memoryRelease {
	m := &memoryRelease{
		burst:       64 << 20,
		quiet:       4 << 20,
		quietTicks:  2,
		minInterval: 10 * time.Second,
		costFactor:  20,
		allocated:   heapAllocated(),
		release: func() time.Duration {
			start := time.Now()
			// Two collections: gRPC keeps its encode buffers in a sync.Pool, which
			// survives one collection (victim cache) and is freed by the second.
			runtime.GC()
			debug.FreeOSMemory()
			return time.Since(start)
		},
	}
	m.lastTotal = m.allocated()
	return m
}

// tick accounts one interval ending at now and releases if a burst has just ended. It
// reports whether it released.
func (m *memoryRelease) tick(now time.Time) bool {
	total := m.allocated()
	delta := total - m.lastTotal
	m.lastTotal = total
	if delta < m.quiet {
		// A trickle (keepalives, an occasional request) is no burst: counting it would
		// collect an idle server every so often for nothing.
		m.quietSeen++
	} else {
		m.quietSeen = 0
		m.sinceFree += delta
	}
	if m.sinceFree < m.burst || m.quietSeen < m.quietTicks {
		return false
	}
	if !m.lastRelease.IsZero() && now.Sub(m.lastRelease) < m.wait {
		return false
	}
	took := m.release()
	m.lastRelease = now
	m.wait = max(m.minInterval, time.Duration(m.costFactor)*took)
	m.sinceFree = 0
	// The release's own collections allocate little, but start counting afresh.
	m.lastTotal = m.allocated()
	return true
}

// run ticks every interval until ctx ends.
func (m *memoryRelease) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.tick(now)
		}
	}
}

// heapAllocated reads the cumulative bytes allocated on the heap; one goroutine may call
// the function it returns.
func heapAllocated() func() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	return func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
}
