package model

import (
	"maps"
	"slices"
)

// Backend returns the backend named name, or nil.
func (m *Model) Backend(name string) *Backend {
	return find(m.Backends, name, func(b *Backend) string { return b.Name })
}

// Pool returns the pool named name, or nil.
func (m *Model) Pool(name string) *Pool {
	return find(m.Pools, name, func(p *Pool) string { return p.Name })
}

// API returns the API named name, or nil.
func (m *Model) API(name string) *API {
	return find(m.APIs, name, func(a *API) string { return a.Name })
}

// Listener returns the listener named name, or nil.
func (m *Model) Listener(name string) *Listener {
	return find(m.Listeners, name, func(l *Listener) string { return l.Name })
}

// find is a linear search, for one-off lookups: it needs no index kept in step with the
// slices, so a Model built or changed by hand (in tests) just works. A pass that looks up
// every pool member or API builds an Index instead (a model may hold 10,000 backends).
func find[T any](elems []*T, name string, nameOf func(*T) string) *T {
	if name == "" {
		return nil
	}
	for _, e := range elems {
		if e != nil && nameOf(e) == name {
			return e
		}
	}
	return nil
}

// Regions returns the backends' regions, sorted, without duplicates or "".
func (m *Model) Regions() []string {
	var rs []string
	for _, b := range m.Backends {
		if b != nil && b.Region != "" {
			rs = append(rs, b.Region)
		}
	}
	slices.Sort(rs)
	return slices.Compact(rs)
}

// Redacted returns a deep copy of m whose secret values are "[redacted]", for output
// that people read (render without --show-secrets).
func (m *Model) Redacted() *Model {
	c := m.Clone()
	for _, b := range c.Backends {
		if b.Credentials == nil {
			continue
		}
		for k, s := range b.Credentials.Header {
			s.value = redacted
			b.Credentials.Header[k] = s
		}
	}
	return c
}

// Clone returns a deep copy of m; changing it does not change m.
func (m *Model) Clone() *Model {
	if m == nil {
		return nil
	}
	return &Model{
		Backends:  cloneEach(m.Backends, (*Backend).clone),
		Pools:     cloneEach(m.Pools, (*Pool).clone),
		APIs:      cloneEach(m.APIs, (*API).clone),
		Listeners: cloneEach(m.Listeners, (*Listener).clone),
	}
}

// cloneEach copies s and each of its elements with clone, which keeps nil as nil.
func cloneEach[T any](s []*T, clone func(*T) *T) []*T {
	if s == nil {
		return nil
	}
	out := make([]*T, len(s))
	for i, e := range s {
		out[i] = clone(e)
	}
	return out
}

// shallow copies *p, for elements without slices, maps or pointers; nil stays nil.
func shallow[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func (b *Backend) clone() *Backend {
	if b == nil {
		return nil
	}
	c := *b
	if b.Credentials != nil {
		c.Credentials = &Credentials{Header: maps.Clone(b.Credentials.Header)}
	}
	if b.CircuitBreaker != nil {
		c.CircuitBreaker = &CircuitBreaker{Rules: cloneEach(b.CircuitBreaker.Rules, (*BreakerRule).clone)}
	}
	return &c
}

func (r *BreakerRule) clone() *BreakerRule {
	if r == nil {
		return nil
	}
	c := *r
	c.FailureCondition.ErrorReasons = slices.Clone(r.FailureCondition.ErrorReasons)
	c.FailureCondition.StatusCodeRanges = slices.Clone(r.FailureCondition.StatusCodeRanges)
	return &c
}

func (p *Pool) clone() *Pool {
	if p == nil {
		return nil
	}
	c := *p
	c.Services = cloneEach(p.Services, shallow[PoolMember])
	return &c
}

func (a *API) clone() *API {
	if a == nil {
		return nil
	}
	c := *a
	c.Hosts = slices.Clone(a.Hosts)
	if a.Retry != nil {
		r := *a.Retry
		r.StatusCodeRanges = slices.Clone(a.Retry.StatusCodeRanges)
		r.ErrorReasons = slices.Clone(a.Retry.ErrorReasons)
		c.Retry = &r
	}
	return &c
}

func (l *Listener) clone() *Listener {
	if l == nil {
		return nil
	}
	c := *l
	c.APIs = slices.Clone(l.APIs)
	return &c
}
