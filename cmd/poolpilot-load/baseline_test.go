package main

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
)

// A resource that does not marshal (a string field that is not UTF-8) fails the
// baseline's snapshot instead of hashing as if it were empty.
func TestContentVersionMarshalError(t *testing.T) {
	good, err := contentVersion([]types.Resource{&clusterv3.Cluster{Name: "a"}})
	if err != nil || len(good) != 16 {
		t.Fatalf("contentVersion of a cluster: %q, %v", good, err)
	}
	if v, err := contentVersion([]types.Resource{&clusterv3.Cluster{Name: "a\xff"}}); err == nil {
		t.Errorf("contentVersion of a cluster named with invalid UTF-8: %q, no error", v)
	}
}
