package xds

import (
	"strings"
	"testing"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestResponseCodecWritesEveryByte: a large response marshalled into a reused pooled
// buffer full of other bytes decodes to the message, with nothing of the old bytes in
// it; a small one takes gRPC's own path. Both decode through the codec as through proto.
func TestResponseCodecWritesEveryByte(t *testing.T) {
	c := newResponseCodec()
	big := &discovery.DiscoveryResponse{VersionInfo: "v1", TypeUrl: resourcev3.EndpointType, Nonce: "7"}
	for i := range 300 {
		big.Resources = append(big.Resources, &anypb.Any{TypeUrl: resourcev3.EndpointType,
			Value: []byte(strings.Repeat(string(rune('a'+i%26)), 900))})
	}
	size := proto.Size(big)
	// Leave a buffer of the size's tier full of a byte the message never holds.
	for range 4 {
		b := responseBuffers.Get(size)
		stale := (*b)[:cap(*b)]
		for i := range stale {
			stale[i] = 0xEE
		}
		responseBuffers.Put(b)
	}
	for _, msg := range []*discovery.DiscoveryResponse{big, {VersionInfo: "small"}} {
		data, err := c.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		wire := data.Materialize()
		data.Free()
		if len(wire) != proto.Size(msg) {
			t.Fatalf("marshalled %d bytes, the message has %d", len(wire), proto.Size(msg))
		}
		want, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		if string(wire) != string(want) {
			t.Fatalf("%q: the codec's bytes differ from proto.Marshal's", msg.GetVersionInfo())
		}
		var back discovery.DiscoveryResponse
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &back); err != nil || !proto.Equal(&back, msg) {
			t.Fatalf("%q: decodes to %v (%v)", msg.GetVersionInfo(), back.GetVersionInfo(), err)
		}
	}
}
