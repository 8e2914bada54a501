package modelgen

import (
	"testing"

	"github.com/poolpilot/poolpilot/model"
)

// The generator is only useful if the real loader accepts what it writes.
func TestLoaderAcceptsGeneratedModels(t *testing.T) {
	for _, s := range []Spec{
		{Pools: 1, BackendsPerPool: 1, Regions: 1},
		{Pools: 30, BackendsPerPool: 10, Regions: 5, Listeners: 3, Credentials: true},
		{Pools: 450, BackendsPerPool: 3, Regions: 2},
	} {
		m, err := Load(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if len(m.Backends) != s.Backends() || len(m.Pools) != s.Pools || len(m.APIs) != s.Pools {
			t.Errorf("%s: loaded %d backends, %d pools, %d apis", s, len(m.Backends), len(m.Pools), len(m.APIs))
		}
		if !m.Backends[0].Endpoint.IsIP || m.Backends[0].Endpoint.Port != 8080 {
			t.Errorf("%s: backend endpoint %+v, want an IP literal on 8080", s, m.Backends[0].Endpoint)
		}
	}
}

func TestLoaderAcceptsReversedModel(t *testing.T) {
	data, err := YAML(Spec{Pools: 3, BackendsPerPool: 4, Regions: 2})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := ReversePriorities(data, PoolName(2))
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.LoadBytes("m.yaml", out)
	if err != nil {
		t.Fatalf("reversed model does not load: %v", err)
	}
	if got := m.Pools[2].Services[0].Priority; got != 4 {
		t.Errorf("reversed pool's first priority = %d, want 4", got)
	}
}

// Files' default split keeps every file under the loader's limit, whatever the pool size.
func TestFilesFitTheLoader(t *testing.T) {
	for _, s := range []Spec{
		{Pools: 1000, BackendsPerPool: 10, Regions: 5, Credentials: true},
		{Pools: 100, BackendsPerPool: 100, Regions: 5, Listeners: 100, Credentials: true},
	} {
		files, err := Files(s, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if len(f.Data) > model.MaxFileSize {
				t.Errorf("%s: %s is %d bytes; the loader takes at most %d", s, f.Name, len(f.Data), model.MaxFileSize)
			}
		}
	}
}
