package xds

import (
	"testing"
	"time"
)

// TestMemoryReleaseAfterBurst drives the release with a fake allocation counter: it
// releases once a burst has allocated enough and gone quiet, never during the burst,
// not again while idle, and not twice within minInterval.
func TestMemoryReleaseAfterBurst(t *testing.T) {
	var total uint64
	released := 0
	took := time.Second
	m := &memoryRelease{burst: 100, quiet: 10, quietTicks: 2, minInterval: time.Minute, costFactor: 20,
		allocated: func() uint64 { return total }, release: func() time.Duration { released++; return took }}
	now := time.Unix(1_000_000, 0)
	step := func(alloc uint64) bool {
		total += alloc
		now = now.Add(time.Second)
		return m.tick(now)
	}

	// Busy: allocating well above quiet every tick, past the burst size.
	for i := range 5 {
		if step(50) {
			t.Fatalf("released during the burst (tick %d)", i)
		}
	}
	if step(1) {
		t.Fatal("released after one quiet tick; want quietTicks (2)")
	}
	if !step(1) {
		t.Fatal("no release after the burst went quiet")
	}
	// Idle: nothing more to release.
	for i := range 120 {
		if step(1) {
			t.Fatalf("released again while idle (tick %d)", i)
		}
	}
	if released != 1 {
		t.Fatalf("released %d times, want 1", released)
	}

	// A second burst soon after a release waits for minInterval.
	m.lastRelease = now
	for range 3 {
		step(60)
	}
	step(1)
	if step(1) {
		t.Fatal("released twice within minInterval")
	}
	now = now.Add(time.Minute)
	if !step(1) {
		t.Fatal("no release once minInterval had passed")
	}
	// A small burst (below burst in total) is not worth a collection.
	now = now.Add(2 * time.Minute)
	step(30)
	step(1)
	if third, fourth := step(1), step(1); third || fourth {
		t.Fatal("released after allocating less than burst")
	}
	if released != 2 {
		t.Fatalf("released %d times, want 2", released)
	}

	// A slow release (10 s) spaces the next by costFactor × 10 s, beyond minInterval.
	took = 10 * time.Second
	for range 3 {
		step(60)
	}
	step(1)
	if !step(1) {
		t.Fatal("no release after a burst, long after the last")
	}
	now = now.Add(2 * time.Minute)
	for range 3 {
		step(60)
	}
	step(1)
	if step(1) {
		t.Fatal("released 2 min after a 10 s release; want costFactor (20) × 10 s between")
	}
	now = now.Add(2 * time.Minute)
	if !step(1) {
		t.Fatal("no release once costFactor × the last release's time had passed")
	}
}

// TestHeapAllocatedGrows checks the real counter moves with allocation.
func TestHeapAllocatedGrows(t *testing.T) {
	read := heapAllocated()
	before := read()
	sink := make([][]byte, 0, 64)
	for range 64 {
		sink = append(sink, make([]byte, 1<<16))
	}
	if after := read(); after <= before || len(sink) != 64 {
		t.Fatalf("heap allocated %d → %d after allocating 4 MiB; want it to grow", before, after)
	}
}
