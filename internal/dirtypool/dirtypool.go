// Package dirtypool is a gRPC buffer pool whose buffers are not cleared when handed out,
// for users that overwrite every byte they use. gRPC's own pools clear a buffer's whole
// capacity on every Get (internal/mem/buffer_pool.go, v1.85.0), which for large messages
// costs as much as the copy the buffer is for.
package dirtypool

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

const (
	minTier = 10 // 1 KiB: smaller messages are not pooled by gRPC either
	maxTier = 24 // 16 MiB: larger ones get a buffer of their own
)

// Pool holds power-of-two buffers from 1 KiB to 16 MiB. The zero value is ready.
type Pool struct {
	tiers [maxTier + 1]sync.Pool
}

var _ mem.BufferPool = (*Pool)(nil)

// Get returns a buffer of length n whose contents are whatever they were.
func (p *Pool) Get(n int) *[]byte {
	tier := max(bits.Len(uint(max(n, 1)-1)), minTier)
	if tier > maxTier {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.tiers[tier].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<tier)
	return &b
}

// Put returns a buffer Get handed out; any other is dropped.
func (p *Pool) Put(b *[]byte) {
	c := cap(*b)
	tier := bits.Len(uint(c)) - 1
	if c == 0 || c != 1<<tier || tier < minTier || tier > maxTier {
		return
	}
	p.tiers[tier].Put(b)
}
