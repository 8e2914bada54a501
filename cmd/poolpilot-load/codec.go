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
}

// deltaResource is one resource of a DeltaDiscoveryResponse.
type deltaResource struct {
	Name, Version string
	Resource      *anypb.Any // decoded for parent types only
}

// deltaResponse is the part of a DeltaDiscoveryResponse a simulated node reads.
type deltaResponse struct {
	Nonce, TypeURL string
	Resources      []deltaResource
	Removed        []string
	Size           int
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

// decodeFields reads the type URL first (field 4 in both response kinds, which follows
// the resources on the wire but decides how to read them), then calls f with every
// length-delimited field and whether the type is a parent.
func decodeFields(b []byte, f func(num protowire.Number, p []byte, parent bool) error) (typeURL string, err error) {
	err = bytesFields(b, func(num protowire.Number, p []byte) error {
		if num == 4 {
			typeURL = string(p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	parent := isParent(typeURL)
	return typeURL, bytesFields(b, func(num protowire.Number, p []byte) error { return f(num, p, parent) })
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

func (r *sotwResponse) decode(b []byte) (err error) {
	*r = sotwResponse{Size: len(b)}
	r.TypeURL, err = decodeFields(b, func(num protowire.Number, p []byte, parent bool) error {
		switch num {
		case 1:
			r.Version = string(p)
		case 2:
			r.Count++
			a, err := parentAny(parent, p)
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
	return err
}

func (r *deltaResponse) decode(b []byte) (err error) {
	*r = deltaResponse{Size: len(b)}
	r.TypeURL, err = decodeFields(b, func(num protowire.Number, p []byte, parent bool) error {
		switch num {
		case 2:
			var res deltaResource
			err := bytesFields(p, func(num protowire.Number, q []byte) error {
				var err error
				switch num {
				case 1:
					res.Version = string(q)
				case 2:
					res.Resource, err = parentAny(parent, q)
				case 3:
					res.Name = string(q)
				}
				return err
			})
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
	return err
}
