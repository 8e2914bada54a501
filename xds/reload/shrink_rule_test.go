package reload

import (
	"errors"
	"slices"
	"testing"
)

// TestShrinkRule: more than half removed, by count, of listeners or APIs; a refusal names
// the removed ones, sorted.
func TestShrinkRule(t *testing.T) {
	names := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, string(rune('a'+i)))
		}
		return out
	}
	set := func(n int) map[string]bool {
		out := map[string]bool{}
		for _, s := range names(0, n) {
			out[s] = true
		}
		return out
	}
	for _, c := range []struct {
		served, next int
		refused      bool
	}{{0, 0, false}, {1, 0, true}, {1, 1, false}, {2, 1, false}, {3, 1, true}, {4, 2, false}, {5, 2, true}, {10, 4, true}} {
		err := shrunk("APIs", set(c.served), set(c.next))
		if (err != nil) != c.refused {
			t.Errorf("%d → %d: %v; want refused %v", c.served, c.next, err, c.refused)
		}
		var se *ShrinkError
		if c.refused && (!errors.As(err, &se) || !slices.Equal(se.Removed, names(c.next, c.served))) {
			t.Errorf("%d → %d: %#v; want removed %v", c.served, c.next, err, names(c.next, c.served))
		}
	}
}
