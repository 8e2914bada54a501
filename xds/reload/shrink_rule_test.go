package reload

import "testing"

// TestShrinkRule: more than half removed, by count, of listeners or APIs.
func TestShrinkRule(t *testing.T) {
	set := func(n int) map[string]bool {
		out := map[string]bool{}
		for i := range n {
			out[string(rune('a'+i))] = true
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
	}
}
