package model

// Index finds a model's elements by name in O(1). Model.Backend and friends scan, which
// is fine once but quadratic when every pool member is looked up; build an Index once per
// pass (validation, one translation) instead. Like the scans, the first of duplicates wins
// and "" finds nothing (an element without a name is an error, never a target).
type Index struct {
	backends map[string]*Backend
	pools    map[string]*Pool
	apis     map[string]*API
}

// NewIndex indexes m as it is now; it does not see later changes to m.
func NewIndex(m *Model) *Index {
	return &Index{
		backends: byName(m.Backends, func(b *Backend) string { return b.Name }),
		pools:    byName(m.Pools, func(p *Pool) string { return p.Name }),
		apis:     byName(m.APIs, func(a *API) string { return a.Name }),
	}
}

func byName[T any](elems []*T, nameOf func(*T) string) map[string]*T {
	out := make(map[string]*T, len(elems))
	for _, e := range elems {
		if e == nil || nameOf(e) == "" {
			continue
		}
		if _, dup := out[nameOf(e)]; !dup {
			out[nameOf(e)] = e
		}
	}
	return out
}

// Backend returns the backend named name, or nil.
func (ix *Index) Backend(name string) *Backend { return ix.backends[name] }

// Pool returns the pool named name, or nil.
func (ix *Index) Pool(name string) *Pool { return ix.pools[name] }

// API returns the API named name, or nil.
func (ix *Index) API(name string) *API { return ix.apis[name] }
