package translator

import (
	"sort"

	"github.com/poolpilot/poolpilot/envoy"
	"github.com/poolpilot/poolpilot/model"
)

// codeSet is a set of HTTP status codes, 100–599.
type codeSet map[int]bool

func codesOf(ranges []model.StatusRange) codeSet {
	s := codeSet{}
	for _, r := range ranges {
		hi := r.Max
		if hi < r.Min {
			hi = r.Min
		}
		for c := r.Min; c <= hi; c++ {
			s[c] = true
		}
	}
	return s
}

// sorted returns the codes in ascending order.
func (s codeSet) sorted() []int {
	out := make([]int, 0, len(s))
	for c := range s {
		out = append(out, c)
	}
	sort.Ints(out)
	return out
}

// hasAll reports whether every code lo..hi is in s.
func (s codeSet) hasAll(lo, hi int) bool {
	for c := lo; c <= hi; c++ {
		if !s[c] {
			return false
		}
	}
	return true
}

// only reports whether s is exactly lo..hi.
func (s codeSet) only(lo, hi int) bool { return len(s) == hi-lo+1 && s.hasAll(lo, hi) }

// within returns the codes of s in lo..hi.
func (s codeSet) within(lo, hi int) codeSet {
	out := codeSet{}
	for c := range s {
		if c >= lo && c <= hi {
			out[c] = true
		}
	}
	return out
}

// without returns s minus lo..hi.
func (s codeSet) without(lo, hi int) codeSet {
	out := codeSet{}
	for c := range s {
		if c < lo || c > hi {
			out[c] = true
		}
	}
	return out
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

func hasReason(rs []model.ErrorReason, r model.ErrorReason) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}
