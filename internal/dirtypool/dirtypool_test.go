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
	b := p.Get(3000)
	(*b)[0] = 42
	p.Put(b)
	// sync.Pool may drop what it holds (a GC, another P), so only a returned buffer is
	// checked: it is the one put, its contents kept, resized to the new length.
	for range 100 {
		again := p.Get(2500)
		if cap(*again) != 4096 || len(*again) != 2500 {
			t.Fatalf("Get(2500): len %d cap %d", len(*again), cap(*again))
		}
		if again == b {
			if (*again)[0] != 42 {
				t.Fatal("a pooled buffer was cleared")
			}
			return
		}
	}
	odd := make([]byte, 10, 3000)
	p.Put(&odd) // not a power of two: dropped, no panic
}
