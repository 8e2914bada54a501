package xds

import (
	"reflect"

	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// subscription is one stream's subscription to one type, as the cache reads it: the
// names it subscribes to, whether it is a wildcard, and what the stream was sent. It
// follows go-control-plane's (pkg/server/stream/v3/subscription.go), with one
// difference that is the reason it exists: its maps are never written once made. An
// update makes new maps (copy on write), so one map can serve every stream that holds
// the same thing: the snapshot's own resource names and version maps (sharedNames,
// partialTable.all, deltaTable.versions). go-control-plane's server edits a stream's
// maps in place, so each of its streams held its own copies, one entry per resource of
// the type per stream: about 250 bytes per resource per proxy, 300 KB per proxy at a
// 10,000-backend model.
type subscription struct {
	wildcard bool
	// legacy: the stream has named no resource yet, so an empty request is still a
	// wildcard (the protocol's legacy wildcard, which go-control-plane keeps by default).
	legacy   bool
	names    map[string]struct{}
	returned map[string]string
}

var _ cache.Subscription = subscription{}

func (s subscription) ReturnedResources() map[string]string     { return s.returned }
func (s subscription) SubscribedResources() map[string]struct{} { return s.names }
func (s subscription) IsWildcard() bool                         { return s.wildcard }

// explicitWildcard is the resource name that subscribes to every resource of the type.
const explicitWildcard = "*"

// sharing finds the shared set equal to a subscription's names, or nil when there is
// none; the subscription then keeps a set of its own.
type sharing struct {
	// set is given the subscription's set of names.
	set func(set map[string]struct{}) map[string]struct{}
	// list is given a state-of-the-world request's names, before any set is built: it
	// finds the shared set when they name each of its names once, so the ACKs of a
	// stream subscribing to every name build no set at all. within reports that returned
	// (the stream's) is known to hold only names of that set, which spares checking it.
	list func(names []string, returned map[string]string) (set map[string]struct{}, within bool)
}

func (sh sharing) ofSet(set map[string]struct{}) map[string]struct{} {
	if sh.set == nil {
		return nil
	}
	return sh.set(set)
}

func (sh sharing) ofList(names []string, returned map[string]string) (map[string]struct{}, bool) {
	if sh.list == nil {
		return nil, false
	}
	return sh.list(names, returned)
}

// newSotwSubscription is the subscription a state-of-the-world stream's first request
// of a type makes.
func newSotwSubscription(names []string, legacy bool, share sharing) subscription {
	s := subscription{wildcard: len(names) == 0 && legacy, legacy: legacy,
		names: map[string]struct{}{}, returned: map[string]string{}}
	s.setSotw(names, share)
	return s
}

// setSotw sets the subscription to a state-of-the-world request's names: the request
// names all it subscribes to. Returned names no longer subscribed are forgotten, so a
// later subscription to one sends it again.
func (s *subscription) setSotw(names []string, share sharing) {
	if s.legacy {
		if len(names) == 0 {
			return
		}
		s.legacy = false
	}
	explicit := false
	set, within := share.ofList(names, s.returned)
	if set == nil {
		set = make(map[string]struct{}, len(names))
		for _, name := range names {
			if name == explicitWildcard {
				explicit = true
			} else {
				set[name] = struct{}{}
			}
		}
		if shared := share.ofSet(set); shared != nil {
			set = shared
		}
	}
	if !explicit && !within {
		s.returned = keepOnly(s.returned, set)
	}
	s.wildcard = explicit
	s.names = set
}

// keepOnly is m without the names not in set: m itself when it has none.
func keepOnly(m map[string]string, set map[string]struct{}) map[string]string {
	drop := 0
	for name := range m {
		if _, ok := set[name]; !ok {
			drop++
		}
	}
	if drop == 0 {
		return m
	}
	out := make(map[string]string, len(m)-drop)
	for name, v := range m {
		if _, ok := set[name]; ok {
			out[name] = v
		}
	}
	return out
}

// newDeltaSubscription is the subscription a delta stream's first request of a type
// makes; initial are the versions the client says it holds.
func newDeltaSubscription(subscribe, unsubscribe []string, initial map[string]string, legacy bool, share sharing) subscription {
	s := subscription{wildcard: len(subscribe) == 0 && legacy, legacy: legacy,
		names: map[string]struct{}{}, returned: initial}
	if s.returned == nil {
		s.returned = map[string]string{}
	}
	s.updateDelta(subscribe, unsubscribe, share)
	return s
}

// updateDelta applies a delta request's subscribe and unsubscribe lists, as
// go-control-plane does (UpdateResourceSubscriptions): a name unsubscribed while the
// stream is a wildcard is marked returned at version "", so the next response says
// whether it still exists; another unsubscribed name is forgotten.
func (s *subscription) updateDelta(subscribe, unsubscribe []string, share sharing) {
	if s.legacy {
		// Only a subscription ends the legacy wildcard (the protocol, as of Envoy 1.36).
		if len(subscribe) == 0 {
			return
		}
		s.legacy = false
	}
	names, returned := cow[struct{}]{m: s.names}, cow[string]{m: s.returned}
	for _, name := range subscribe {
		if name == explicitWildcard {
			s.wildcard = true
			continue
		}
		names.set(name, struct{}{})
	}
	for _, name := range unsubscribe {
		if name == explicitWildcard {
			s.wildcard = false
			continue
		}
		if _, ok := names.m[name]; ok && s.wildcard {
			returned.set(name, "")
		} else {
			returned.delete(name)
		}
		names.delete(name)
	}
	if names.copied {
		if shared := share.ofSet(names.m); shared != nil {
			names.m = shared
		}
	}
	s.names, s.returned = names.m, returned.m
}

// cow is a map copied before its first change.
type cow[V comparable] struct {
	m      map[string]V
	copied bool
}

func (c *cow[V]) set(k string, v V) {
	if old, ok := c.m[k]; ok && old == v {
		return
	}
	c.own()
	c.m[k] = v
}

func (c *cow[V]) delete(k string) {
	if _, ok := c.m[k]; !ok {
		return
	}
	c.own()
	delete(c.m, k)
}

func (c *cow[V]) own() {
	if c.copied {
		return
	}
	out := make(map[string]V, len(c.m)+1)
	for k, v := range c.m {
		out[k] = v
	}
	c.m, c.copied = out, true
}

// sameMap reports whether a and b are the same map (not merely equal ones).
func sameMap[M ~map[string]V, V any](a, b M) bool {
	return a != nil && b != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
