package translator

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/poolpilot/poolpilot/envoy"
	"github.com/poolpilot/poolpilot/model"
)

// codeSet is a set of HTTP status codes, one bit per code. Every translation of every node
// group expands each breaker rule's and retry policy's ranges (500–599 is 100 codes): as a
// map this was the largest cost of a translation; as a comparable value it is a few words.
type codeSet [codeWords]uint64

// codeWords covers codes 0–639; model.Load admits 100–599 only.
const codeWords = 10

func codesOf(ranges []model.StatusRange) codeSet {
	var s codeSet
	for _, r := range ranges {
		s = s.union(span(r.Min, max(r.Max, r.Min)))
	}
	return s
}

// span is the set lo..hi.
func span(lo, hi int) codeSet {
	var s codeSet
	for c := max(lo, 0); c <= hi && c < codeWords*64; c++ {
		s[c/64] |= 1 << (c % 64)
	}
	return s
}

func (s codeSet) has(c int) bool {
	return c >= 0 && c < codeWords*64 && s[c/64]&(1<<(c%64)) != 0
}

func (s codeSet) union(o codeSet) codeSet {
	for i := range s {
		s[i] |= o[i]
	}
	return s
}

func (s codeSet) empty() bool { return s == codeSet{} }

func (s codeSet) len() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// sorted returns the codes in ascending order.
func (s codeSet) sorted() []int {
	var out []int
	for i, w := range s {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			out = append(out, i*64+b)
			w &^= 1 << b
		}
	}
	return out
}

// hasAll reports whether every code lo..hi is in s.
func (s codeSet) hasAll(lo, hi int) bool { return s.within(lo, hi) == span(lo, hi) }

// only reports whether s is exactly lo..hi.
func (s codeSet) only(lo, hi int) bool { return s == span(lo, hi) }

// within returns the codes of s in lo..hi.
func (s codeSet) within(lo, hi int) codeSet {
	r := span(lo, hi)
	for i := range s {
		s[i] &= r[i]
	}
	return s
}

// without returns s minus lo..hi.
func (s codeSet) without(lo, hi int) codeSet {
	r := span(lo, hi)
	for i := range s {
		s[i] &^= r[i]
	}
	return s
}

// ranges returns s as sorted, merged inclusive ranges.
func (s codeSet) ranges() []envoy.StatusRange {
	var out []envoy.StatusRange
	for _, c := range s.sorted() {
		if n := len(out); n > 0 && int(out[n-1].Max)+1 == c {
			out[n-1].Max = uint32(c)
			continue
		}
		out = append(out, envoy.StatusRange{Min: uint32(c), Max: uint32(c)})
	}
	return out
}

func describeCodes(s codeSet) string {
	var parts []string
	for _, r := range s.ranges() {
		if r.Min == r.Max {
			parts = append(parts, fmt.Sprint(r.Min))
		} else {
			parts = append(parts, fmt.Sprintf("%d–%d", r.Min, r.Max))
		}
	}
	return strings.Join(parts, ", ")
}

func hasReason(rs []model.ErrorReason, r model.ErrorReason) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}
