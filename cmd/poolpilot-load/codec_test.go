package main

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func wire(t *testing.T, m proto.Message) mem.BufferSlice {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	// Two buffers, as gRPC hands over a message split across frames.
	return mem.BufferSlice{mem.SliceBuffer(b[:len(b)/2]), mem.SliceBuffer(b[len(b)/2:])}
}

func TestLiteCodecSotw(t *testing.T) {
	for _, tc := range []struct {
		typeURL string
		res     []proto.Message
		decoded bool
	}{
		{resourcev3.ClusterType, []proto.Message{&clusterv3.Cluster{Name: "a"}, &clusterv3.Cluster{Name: "b"}}, true},
		{resourcev3.EndpointType, []proto.Message{&endpointv3.ClusterLoadAssignment{ClusterName: "a"}}, false},
	} {
		in := &discovery.DiscoveryResponse{VersionInfo: "v7", Nonce: "n3", TypeUrl: tc.typeURL}
		for _, r := range tc.res {
			in.Resources = append(in.Resources, mustAny(t, r))
		}
		var out sotwResponse
		if err := (liteCodec{}).Unmarshal(wire(t, in), &out); err != nil {
			t.Fatal(err)
		}
		if out.Version != "v7" || out.Nonce != "n3" || out.TypeURL != tc.typeURL || out.Count != len(tc.res) ||
			out.Size != proto.Size(in) {
			t.Errorf("%s: decoded %+v", shortType(tc.typeURL), out)
		}
		if got := len(out.Resources) > 0; got != tc.decoded {
			t.Errorf("%s: resources decoded = %v, want %v", shortType(tc.typeURL), got, tc.decoded)
		}
		if tc.decoded && !proto.Equal(out.Resources[1], in.Resources[1]) {
			t.Errorf("%s: resource 1 = %v", shortType(tc.typeURL), out.Resources[1])
		}
	}
}

func TestLiteCodecDelta(t *testing.T) {
	in := &discovery.DeltaDiscoveryResponse{Nonce: "n1", TypeUrl: resourcev3.ClusterType, RemovedResources: []string{"gone"},
		Resources: []*discovery.Resource{{Name: "a", Version: "h1", Resource: mustAny(t, &clusterv3.Cluster{Name: "a"})}}}
	var out deltaResponse
	if err := (liteCodec{}).Unmarshal(wire(t, in), &out); err != nil {
		t.Fatal(err)
	}
	if out.Nonce != "n1" || out.TypeURL != resourcev3.ClusterType || len(out.Removed) != 1 || out.Removed[0] != "gone" ||
		len(out.Resources) != 1 || out.Resources[0].Name != "a" || out.Resources[0].Version != "h1" ||
		!proto.Equal(out.Resources[0].Resource, in.Resources[0].Resource) || out.Size != proto.Size(in) {
		t.Errorf("decoded %+v", out)
	}
	// The buffer a response is read into is reused: what the first kept must survive
	// the next response read into it.
	kept := out.Resources[0]
	other := &discovery.DeltaDiscoveryResponse{Nonce: "n2", TypeUrl: resourcev3.ClusterType,
		Resources: []*discovery.Resource{{Name: "zzzz", Version: "h9", Resource: mustAny(t, &clusterv3.Cluster{Name: "zzzz"})}}}
	for range 20 {
		var next deltaResponse
		if err := (liteCodec{}).Unmarshal(wire(t, other), &next); err != nil {
			t.Fatal(err)
		}
	}
	if kept.Name != "a" || kept.Version != "h1" || !proto.Equal(kept.Resource, in.Resources[0].Resource) {
		t.Errorf("a decoded resource changed when the next response was read: %+v", kept)
	}
	var req discovery.DiscoveryRequest
	b, err := (liteCodec{}).Marshal(&discovery.DiscoveryRequest{VersionInfo: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := (liteCodec{}).Unmarshal(b, &req); err != nil || req.GetVersionInfo() != "x" {
		t.Errorf("request round trip: %v, %v", &req, err)
	}
	if err := (liteCodec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0xff})}, &out); err == nil {
		t.Error("garbage decoded without error")
	}
}

// TestLiteCodecSkipsKnownParents: a parent response (or delta resource) whose child names
// another node already decoded is not copied; an unknown one is, as before.
func TestLiteCodecSkipsKnownParents(t *testing.T) {
	in := &discovery.DiscoveryResponse{VersionInfo: "v1", TypeUrl: resourcev3.ClusterType,
		Resources: []*anypb.Any{mustAny(t, &clusterv3.Cluster{Name: "a"})}}
	for _, known := range []bool{true, false} {
		out := sotwResponse{lookup: func(typeURL, version string) ([]string, bool) {
			if typeURL != resourcev3.ClusterType || version != "v1" {
				t.Errorf("looked up %s %s", typeURL, version)
			}
			return []string{"a"}, known
		}}
		if err := (liteCodec{}).Unmarshal(wire(t, in), &out); err != nil {
			t.Fatal(err)
		}
		if out.Known != known || (len(out.Resources) == 0) != known || out.Count != 1 || out.lookup == nil {
			t.Errorf("sotw, known %v: decoded %+v", known, out)
		}
	}
	din := &discovery.DeltaDiscoveryResponse{TypeUrl: resourcev3.ClusterType, Resources: []*discovery.Resource{
		{Name: "a", Version: "h1", Resource: mustAny(t, &clusterv3.Cluster{Name: "a"})},
		{Name: "b", Version: "h2", Resource: mustAny(t, &clusterv3.Cluster{Name: "b"})}}}
	out := deltaResponse{lookup: func(typeURL, name, version string) ([]string, bool) {
		return []string{name}, name == "a" && version == "h1"
	}}
	if err := (liteCodec{}).Unmarshal(wire(t, din), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Resources) != 2 || !out.Resources[0].Known || out.Resources[0].Resource != nil ||
		out.Resources[1].Known || !proto.Equal(out.Resources[1].Resource, din.Resources[1].Resource) {
		t.Errorf("delta: decoded %+v", out.Resources)
	}
}
