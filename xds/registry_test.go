package xds

import (
	"fmt"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/poolpilot/poolpilot/translator"
)

func registryNode(id, region string) *corev3.Node {
	return &corev3.Node{Id: id, UserAgentName: "envoy", Locality: &corev3.Locality{Region: region}}
}

// TestRegistryNodeGroup follows a node's streams through the registry's node index: the
// newest open stream of the node answers, a closed stream no longer does, and a stream
// whose node is not known yet is not found.
func TestRegistryNodeGroup(t *testing.T) {
	r := newRegistry()
	known := translator.KnownRegions("swedencentral", "norwayeast")
	now := time.Unix(0, 0)
	open := func(k streamKey, node *corev3.Node) {
		t.Helper()
		r.open(k, now, nil)
		if node == nil {
			return
		}
		if _, _, first, err := r.setNode(k, node, known); err != nil || !first {
			t.Fatalf("setNode(%v): first %v, error %v", k, first, err)
		}
	}
	want := func(id string, region string, ok bool) {
		t.Helper()
		g, found := r.nodeGroup(id)
		if found != ok || (ok && g.Region != region) {
			t.Fatalf("nodeGroup(%q) = %+v, %v; want region %q, %v", id, g, found, region, ok)
		}
	}

	a1, a2, b, c := streamKey{SotW, 1}, streamKey{Delta, 2}, streamKey{SotW, 3}, streamKey{SotW, 4}
	open(a1, registryNode("a", "swedencentral"))
	open(a2, registryNode("a", "norwayeast"))
	open(b, registryNode("b", "norwayeast"))
	open(c, nil) // no request yet
	want("a", "norwayeast", true)
	want("b", "norwayeast", true)
	want("c", "", false)

	r.close(a2)
	want("a", "swedencentral", true)
	r.close(a1)
	want("a", "", false)
	want("b", "norwayeast", true)
	r.close(b)
	r.close(c)
	want("b", "", false)
	if len(r.byNode) != 0 {
		t.Fatalf("the node index keeps %d nodes after every stream closed", len(r.byNode))
	}
}

// BenchmarkRegistryNodeGroup is the registry's share of one load report (HasStream) on a
// server with a fleet's worth of open streams.
func BenchmarkRegistryNodeGroup(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprint(n, "streams"), func(b *testing.B) {
			r := newRegistry()
			known := translator.KnownRegions("swedencentral")
			for i := range n {
				k := streamKey{SotW, int64(i)}
				r.open(k, time.Unix(0, 0), nil)
				if _, _, _, err := r.setNode(k, registryNode(fmt.Sprint("envoy-", i), "swedencentral"), known); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				if _, ok := r.nodeGroup(fmt.Sprint("envoy-", i%n)); !ok {
					b.Fatal("node not found")
				}
			}
		})
	}
}
