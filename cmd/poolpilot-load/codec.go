package main

import (
	"fmt"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/poolpilot/poolpilot/internal/dirtypool"
)

// The simulated nodes share the machine with the server they measure, so they decode
// only what a node's protocol needs: version, nonce, type and how many resources came;
// the resources themselves only for clusters and listeners, which name what to subscribe
// to next. A full decode of every load assignment at 5,000 streams took as much CPU as
// the server's own push. Requests go out through the normal proto encoding.

// sotwResponse is the part of a DiscoveryResponse a simulated node reads.
type sotwResponse struct {
	Version, Nonce, TypeURL string
	Count                   int          // resources in the response
	Resources               []*anypb.Any // decoded for parent types (CDS, LDS) only
	Size                    int          // bytes on the wire
	// Children are the child names of a parent type's response, when known (known
	// decided): then Resources is not decoded.
	Children []string
	Known    bool
	// lookup, when set (by the stream, kept across decodes), answers Children from what
	// another simulated node of the same group already decoded: nodes share the machine,
	// so each one copying every cluster of its first response was most of this tool's
	// CPU when 10,000 connect at once.
	lookup func(typeURL, version string) ([]string, bool)
}

// deltaResource is one resource of a DeltaDiscoveryResponse.
type deltaResource struct {
	Name, Version string
	Resource      *anypb.Any // decoded for parent types only, unless Known
	// Children are the child names of a parent resource, when Known.
	Children []string
	Known    bool
}

// deltaResponse is the part of a DeltaDiscoveryResponse a simulated node reads.
type deltaResponse struct {
	Nonce, TypeURL string
	Resources      []deltaResource
	Removed        []string
	Size           int
	// lookup, as sotwResponse's, per resource name and version.
	lookup func(typeURL, name, version string) ([]string, bool)
}

var readBuffers = &dirtypool.Pool{}

// liteCodec is gRPC's "proto" codec for requests, and the partial decoder above for
// responses.
type liteCodec struct{}

func (liteCodec) Name() string { return "proto" }

func (liteCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("lite codec: cannot marshal %T", v)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (liteCodec) Unmarshal(data mem.BufferSlice, v any) error {
	// Valid until we return; everything kept is copied.
	var b []byte
	if len(data) == 1 {
		b = data[0].ReadOnlyData()
	} else {
		// A response of many frames into one reused buffer: a fresh one per response was
		// a third of this tool's CPU when 10,000 nodes connect at once.
		buf := data.MaterializeToBuffer(readBuffers)
		defer buf.Free()
		b = buf.ReadOnlyData()
	}
	switch m := v.(type) {
	case *sotwResponse:
		return m.decode(b)
	case *deltaResponse:
		return m.decode(b)
	case proto.Message:
		return proto.Unmarshal(b, m)
	}
	return fmt.Errorf("lite codec: cannot unmarshal into %T", v)
}

// isParent reports whether a type's resources name the next subscription.
func isParent(typeURL string) bool { _, ok := child[typeURL]; return ok }

// bytesFields calls f with the number and payload of each top-level length-delimited
// field of a message (every field a simulated node reads is one); others are skipped.
func bytesFields(b []byte, f func(num protowire.Number, payload []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		payload, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if err := f(num, payload); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// decodeFields reads the type URL first into *typeURL (field 4 in both response kinds,
// which follows the resources on the wire but decides how to read them), then calls f
// with every length-delimited field and whether the type is a parent.
func decodeFields(b []byte, typeURL *string, f func(num protowire.Number, p []byte, parent bool) error) error {
	err := bytesFields(b, func(num protowire.Number, p []byte) error {
		if num == 4 {
			*typeURL = string(p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	parent := isParent(*typeURL)
	return bytesFields(b, func(num protowire.Number, p []byte) error { return f(num, p, parent) })
}

// parentAny decodes a resource's Any for a parent type; nil for other types.
func parentAny(parent bool, p []byte) (*anypb.Any, error) {
	if !parent {
		return nil, nil
	}
	a := &anypb.Any{}
	if err := proto.Unmarshal(p, a); err != nil { // copies: p is gRPC's buffer
		return nil, err
	}
	return a, nil
}

func (r *sotwResponse) decode(b []byte) error {
	*r = sotwResponse{Size: len(b), lookup: r.lookup}
	return decodeFields(b, &r.TypeURL, func(num protowire.Number, p []byte, parent bool) error {
		switch num {
		case 1:
			r.Version = string(p)
			if parent && r.lookup != nil {
				// The version precedes the resources on the wire (field order).
				r.Children, r.Known = r.lookup(r.TypeURL, r.Version)
			}
		case 2:
			r.Count++
			a, err := parentAny(parent && !r.Known, p)
			if err != nil {
				return err
			}
			if a != nil {
				r.Resources = append(r.Resources, a)
			}
		case 5:
			r.Nonce = string(p)
		}
		return nil
	})
}

func (r *deltaResponse) decode(b []byte) error {
	*r = deltaResponse{Size: len(b), lookup: r.lookup}
	return decodeFields(b, &r.TypeURL, func(num protowire.Number, p []byte, parent bool) error {
		switch num {
		case 2:
			var res deltaResource
			var raw []byte // the resource's Any, valid while decoding
			err := bytesFields(p, func(num protowire.Number, q []byte) error {
				switch num {
				case 1:
					res.Version = string(q)
				case 2:
					raw = q
				case 3:
					res.Name = string(q)
				}
				return nil
			})
			if err == nil && parent && raw != nil {
				if r.lookup != nil {
					res.Children, res.Known = r.lookup(r.TypeURL, res.Name, res.Version)
				}
				if !res.Known {
					res.Resource, err = parentAny(true, raw)
				}
			}
			if err != nil {
				return err
			}
			r.Resources = append(r.Resources, res)
		case 5:
			r.Nonce = string(p)
		case 6:
			r.Removed = append(r.Removed, string(p))
		}
		return nil
	})
}
