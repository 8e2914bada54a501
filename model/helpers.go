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

// find is a linear search: models are small, and a Model built by hand (in tests)
// works without an index.
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
	c := &Model{}
	for _, b := range m.Backends {
		c.Backends = append(c.Backends, b.clone())
	}
	for _, p := range m.Pools {
		c.Pools = append(c.Pools, p.clone())
	}
	for _, a := range m.APIs {
		c.APIs = append(c.APIs, a.clone())
	}
	for _, l := range m.Listeners {
		c.Listeners = append(c.Listeners, l.clone())
	}
	return c
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
		cb := &CircuitBreaker{}
		for _, r := range b.CircuitBreaker.Rules {
			if r == nil {
				cb.Rules = append(cb.Rules, nil)
				continue
			}
			rc := *r
			rc.FailureCondition.ErrorReasons = slices.Clone(r.FailureCondition.ErrorReasons)
			rc.FailureCondition.StatusCodeRanges = slices.Clone(r.FailureCondition.StatusCodeRanges)
			cb.Rules = append(cb.Rules, &rc)
		}
		c.CircuitBreaker = cb
	}
	return &c
}

func (p *Pool) clone() *Pool {
	if p == nil {
		return nil
	}
	c := *p
	c.Services = nil
	for _, s := range p.Services {
		if s == nil {
			c.Services = append(c.Services, nil)
			continue
		}
		sc := *s
		c.Services = append(c.Services, &sc)
	}
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
