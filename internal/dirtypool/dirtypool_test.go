package dirtypool

import "testing"

// TestPoolSizes: Get hands out the length asked for, in the smallest power-of-two
// capacity that holds it; Put keeps only such buffers, and a kept one comes back.
func TestPoolSizes(t *testing.T) {
	var p Pool
	for _, tc := range []struct{ n, cap int }{{0, 1 << 10}, {1, 1 << 10}, {1024, 1 << 10}, {1025, 1 << 11},
		{276 << 10, 512 << 10}, {16 << 20, 16 << 20}, {16<<20 + 1, 16<<20 + 1}} {
		b := p.Get(tc.n)
		if len(*b) != tc.n || cap(*b) != tc.cap {
			t.Errorf("Get(%d): len %d cap %d, want len %d cap %d", tc.n, len(*b), cap(*b), tc.n, tc.cap)
		}
	}
	// sync.Pool may drop what it is given (a collection, another P, the race detector's
	// random drops), so a few rounds: each puts a marked buffer and takes one back; the
	// pool must hand a put buffer back, resized, with its contents, within them.
	returned := false
	for round := range 100 {
		b := p.Get(3000)
		(*b)[0] = byte(round + 1)
		p.Put(b)
		again := p.Get(2500)
		if cap(*again) != 4096 || len(*again) != 2500 {
			t.Fatalf("Get(2500): len %d cap %d", len(*again), cap(*again))
		}
		if again == b {
			if (*again)[0] != byte(round+1) {
				t.Fatal("a pooled buffer was cleared")
			}
			returned = true
			break
		}
	}
	if !returned {
		t.Fatal("in 100 rounds the pool never handed back a buffer put into it")
	}
	odd := make([]byte, 10, 3000)
	p.Put(&odd) // not a power of two: dropped, no panic
}
