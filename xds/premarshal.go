package xds

import (
	"crypto/sha256"
	"fmt"
	"sync"

	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// encoded is one resource type of a group, marshalled once: the content-hash version,
// and resources that re-marshal in a memcpy.
type encoded struct {
	version string
	items   []types.Resource
}

// validatedSet remembers which resource encodings passed validation, so that a resource
// shared by many node groups, or unchanged since the last model, is validated once.
type validatedSet struct {
	mu   sync.Mutex
	prev map[[32]byte]struct{}
	cur  map[[32]byte]struct{}
}

func (v *validatedSet) has(sum [32]byte) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.cur[sum]; ok {
		return true
	}
	if _, ok := v.prev[sum]; ok {
		v.cur[sum] = struct{}{}
		return true
	}
	return false
}

func (v *validatedSet) add(sum [32]byte) {
	v.mu.Lock()
	if v.cur == nil {
		v.cur = map[[32]byte]struct{}{}
	}
	v.cur[sum] = struct{}{}
	v.mu.Unlock()
}

// rotate starts an Apply: what the last Apply validated stays known, older entries go.
// A fleet breaker rebuild does not rotate: it rebuilds only the groups a trip changes, and
// adds their few new encodings (endpoint health) to the set, so the next Apply still
// knows every group's.
func (v *validatedSet) rotate() {
	v.mu.Lock()
	v.prev, v.cur = v.cur, map[[32]byte]struct{}{}
	v.mu.Unlock()
}

// encode marshals each resource once (deterministically) and uses the bytes three
// times: for the type's content-hash version, to validate each distinct encoding once,
// and for a premarshalled copy of the resource.
//
// The version is the same for the same resources on every replica and after every
// restart, so a proxy that reconnects elsewhere sees no change. Resources are hashed
// sorted by name, each length-prefixed so that no two different lists hash alike.
func encode(items []types.Resource, validate func(types.Resource) error, seen *validatedSet) (encoded, error) {
	sorted := sortedByName(items)
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	out := make([]types.Resource, len(sorted))
	for i, r := range sorted {
		b, err := opts.Marshal(r)
		if err != nil {
			return encoded{}, fmt.Errorf("marshal %s %q: %w", proto.MessageName(r), cache.GetResourceName(r), err)
		}
		if validate != nil {
			sum := sha256.Sum256(b)
			if !seen.has(sum) {
				if err := validate(r); err != nil {
					return encoded{}, err
				}
				seen.add(sum)
			}
		}
		writeField(h, []byte(proto.MessageName(r)))
		writeField(h, b)
		out[i] = premarshalled(r, b)
	}
	return encoded{version: shortHex(h), items: out}, nil
}

// premarshalled returns a message of r's type holding only r's name field, with the rest
// of r's encoding b kept as unknown fields. It marshals to exactly b with a copy:
// go-control-plane marshals every resource again for every response to every stream,
// which made re-marshalling most of the CPU of a fan-out to thousands of streams.
//
// The name stays a real field because the cache reads it (GetResourceName). protobuf-go
// writes fields in number order, so the name (field 1 of Cluster, ClusterLoadAssignment,
// Listener and RouteConfiguration) leads b; anything else keeps r as it is.
func premarshalled(r types.Resource, b []byte) types.Resource {
	m := r.ProtoReflect()
	fd := m.Descriptor().Fields().ByNumber(1)
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated || !m.Has(fd) {
		return r
	}
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != 1 || typ != protowire.BytesType {
		return r
	}
	_, m2 := protowire.ConsumeBytes(b[n:])
	if m2 < 0 {
		return r
	}
	w := m.Type().New()
	w.Set(fd, m.Get(fd))
	w.SetUnknown(protoreflect.RawFields(b[n+m2:]))
	return w.Interface()
}
