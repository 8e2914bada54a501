package xds

import (
	"slices"
	"testing"

	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/poolpilot/poolpilot/internal/modelgen"
	"github.com/poolpilot/poolpilot/translator"
)

func TestVersionIgnoresOrder(t *testing.T) {
	m, err := modelgen.Load(modelgen.Spec{Pools: 3, BackendsPerPool: 2, Regions: 2})
	if err != nil {
		t.Fatal(err)
	}
	res, err := translator.Translate(m, translator.Group{Region: "swedencentral", Client: translator.Envoy})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Clusters) < 2 {
		t.Fatalf("%d clusters; the order cannot matter with fewer than 2", len(res.Clusters))
	}
	version := func(items []types.Resource) string {
		t.Helper()
		enc, err := encode(items, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return enc.version
	}
	a := version(res.Clusters)
	reversed := append(res.Clusters[:0:0], res.Clusters...)
	slices.Reverse(reversed)
	if b := version(reversed); a != b || len(a) != versionLen {
		t.Errorf("versions %q and %q for the same clusters in another order", a, b)
	}
	if empty := version(nil); empty == a {
		t.Errorf("no clusters and some clusters share version %q", a)
	}
}
