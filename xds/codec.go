package xds

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/poolpilot/poolpilot/internal/dirtypool"
)

// responseCodec is gRPC's proto codec, except that a message too large for gRPC to send
// unpooled is marshalled into a pooled buffer that is not cleared first. gRPC's default
// pool clears a buffer's whole capacity before handing it out (mem.DefaultBufferPool,
// internal/mem/buffer_pool.go, sizedBufferPool.Get, v1.85.0): for a proxy's first
// response, ~276 KiB at 200 pools, that is the 1 MiB tier cleared for every stream, a
// tenth of the server's CPU when 10,000 proxies connect at once. The marshal writes every
// byte it hands on, and a response that does not fill the buffer exactly is sent from a
// buffer of its own, so no stale byte can leave.
type responseCodec struct{ proto encoding.CodecV2 }

func newResponseCodec() responseCodec { return responseCodec{proto: encoding.GetCodecV2("proto")} }

func (responseCodec) Name() string { return "proto" }

func (c responseCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return c.proto.Unmarshal(data, v)
}

func (c responseCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return c.proto.Marshal(v)
	}
	// UseCachedSize: Size has just computed every size, as gRPC's codec does.
	marshal := proto.MarshalOptions{UseCachedSize: true}
	size := proto.Size(m)
	if mem.IsBelowBufferPoolingThreshold(size) {
		// gRPC's own path for these, without computing the size a second time: most
		// responses of a change are this small.
		b, err := marshal.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	buf := responseBuffers.Get(size)
	b, err := marshal.MarshalAppend((*buf)[:0], m)
	if err != nil {
		responseBuffers.Put(buf)
		return nil, err
	}
	if len(b) != size || cap(b) != cap(*buf) {
		// The message changed size under the marshal and b is not the pooled buffer, or
		// not all of it was written: send b itself.
		responseBuffers.Put(buf)
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	*buf = b
	return mem.BufferSlice{mem.NewBuffer(buf, responseBuffers)}, nil
}

var responseBuffers = &dirtypool.Pool{}
