package reload

import (
	"fmt"
	"slices"
	"strings"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/xds"
)

// A reload that would remove most of what the fleet serves is far more often a save cut
// short, a file lost from a multi-file model or a wrong ConfigMap than an intended change,
// and applying it empties every proxy at once. So a reload that removes more than half of
// the listeners, or more than half of the APIs, of the model being served (by count; all
// of them included) is refused, unless the operator allows it (serve --allow-shrink). The
// startup load has nothing to protect and is never refused: restarting serve with the
// smaller model is the other way to shrink on purpose.

// ShrinkError is a reload refused because it removes most of the served model.
type ShrinkError struct {
	What             string // "listeners" or "APIs"
	Served, Reloaded int
	Removed          []string
}

func (e *ShrinkError) Error() string {
	return fmt.Sprintf("reload refused: the model has %d of the %d %s being served (fewer than half; missing: %s); "+
		"if this is intended, restart serve with this model or run it with --allow-shrink",
		e.Reloaded, e.Served, e.What, xds.ClipText(strings.Join(e.Removed, ", "), 512))
}

// checkShrink refuses next if it removes more than half of cur's listeners or APIs.
func checkShrink(cur, next *model.Model) error {
	if cur == nil || next == nil {
		return nil
	}
	if err := shrunk("listeners", names(cur.Listeners, listenerName), names(next.Listeners, listenerName)); err != nil {
		return err
	}
	return shrunk("APIs", names(cur.APIs, apiName), names(next.APIs, apiName))
}

func shrunk(what string, cur, next map[string]bool) error {
	// Counted, not matched by name, so renaming every API is no shrink. More than half
	// removed: 2 × kept < served (1 of 1, 2 of 3, 3 of 4 or 5, …).
	if 2*len(next) >= len(cur) {
		return nil
	}
	var removed []string
	for n := range cur {
		if !next[n] {
			removed = append(removed, n)
		}
	}
	slices.Sort(removed)
	return &ShrinkError{What: what, Served: len(cur), Reloaded: len(next), Removed: removed}
}

func listenerName(l *model.Listener) string { return l.Name }
func apiName(a *model.API) string           { return a.Name }

func names[T any](items []*T, name func(*T) string) map[string]bool {
	out := make(map[string]bool, len(items))
	for _, it := range items {
		if it != nil {
			out[name(it)] = true
		}
	}
	return out
}
