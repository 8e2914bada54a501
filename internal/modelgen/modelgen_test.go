package modelgen

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type doc struct {
	Backends []struct {
		Name, URL, Region string
	}
	Pools []struct {
		Name     string
		Services []struct {
			Backend  string
			Priority int
			Weight   int
		}
	}
	APIs      []struct{ Name, Backend string } `yaml:"apis"`
	Listeners []struct {
		Name string
		Port int
		APIs []string `yaml:"apis"`
	}
}

func parse(t *testing.T, data []byte) doc {
	t.Helper()
	var d doc
	if err := yaml.Unmarshal(data, &d); err != nil {
		t.Fatalf("generated YAML does not parse: %v", err)
	}
	return d
}

func TestYAMLSizes(t *testing.T) {
	s := Spec{Pools: 7, BackendsPerPool: 3, Regions: 2, Listeners: 2, Credentials: true}
	data, err := YAML(s)
	if err != nil {
		t.Fatal(err)
	}
	d := parse(t, data)
	if len(d.Backends) != 21 || len(d.Pools) != 7 || len(d.APIs) != 7 || len(d.Listeners) != 2 {
		t.Fatalf("got %d backends, %d pools, %d apis, %d listeners; want 21, 7, 7, 2",
			len(d.Backends), len(d.Pools), len(d.APIs), len(d.Listeners))
	}
	if n := len(d.Listeners[0].APIs) + len(d.Listeners[1].APIs); n != 7 {
		t.Errorf("listeners serve %d APIs, want 7", n)
	}
	seen := map[string]bool{}
	for _, b := range d.Backends {
		if seen[b.URL] {
			t.Errorf("duplicate backend URL %s", b.URL)
		}
		seen[b.URL] = true
		if !strings.HasPrefix(b.URL, "http://10.") || !strings.HasSuffix(b.URL, ":8080") {
			t.Errorf("backend %s: URL %s is not an http://10.x.y.z:8080 literal", b.Name, b.URL)
		}
	}
	if got := d.Backends[1].Region; got != "norwayeast" {
		t.Errorf("member 1 region = %q, want norwayeast", got)
	}
	if !strings.Contains(string(data), "x-functions-key") {
		t.Error("Credentials: no credentials header emitted")
	}
}

func TestSpecValidate(t *testing.T) {
	for _, s := range []Spec{
		{Pools: 0, BackendsPerPool: 1, Regions: 1},
		{Pools: 1, BackendsPerPool: 101, Regions: 1},
		{Pools: 1, BackendsPerPool: 1, Regions: 0},
		{Pools: 2, BackendsPerPool: 1, Regions: 1, Listeners: 3},
	} {
		if _, err := YAML(s); err == nil {
			t.Errorf("YAML(%+v): no error", s)
		}
	}
}

func TestRegionNames(t *testing.T) {
	r := RegionNames(12)
	if r[0] != "swedencentral" || r[1] != "norwayeast" || r[11] != "region-11" {
		t.Errorf("RegionNames(12) = %v", r)
	}
}

func TestReversePriorities(t *testing.T) {
	data, err := YAML(Spec{Pools: 3, BackendsPerPool: 4, Regions: 2})
	if err != nil {
		t.Fatal(err)
	}
	out, name, err := ReversePriorities(data, PoolName(1))
	if err != nil {
		t.Fatal(err)
	}
	if name != PoolName(1) {
		t.Errorf("name = %q", name)
	}
	before, after := parse(t, data), parse(t, out)
	for p := range before.Pools {
		for m, svc := range after.Pools[p].Services {
			want := before.Pools[p].Services[m].Priority
			if p == 1 {
				want = before.Pools[p].Services[len(after.Pools[p].Services)-1-m].Priority
			}
			if svc.Priority != want {
				t.Errorf("pool %d member %d priority %d, want %d", p, m, svc.Priority, want)
			}
		}
	}
	if len(after.Backends) != len(before.Backends) || len(after.APIs) != len(before.APIs) {
		t.Error("reversal changed more than priorities")
	}
	back, _, err := ReversePriorities(out, PoolName(1))
	if err != nil {
		t.Fatal(err)
	}
	if got := parse(t, back); got.Pools[1].Services[0].Priority != 1 {
		t.Errorf("reversing twice: first priority %d, want 1", got.Pools[1].Services[0].Priority)
	}

	first, name, err := ReversePriorities(data, "")
	if err != nil || name != PoolName(0) {
		t.Fatalf(`ReversePriorities(""): name %q, err %v`, name, err)
	}
	if parse(t, first).Pools[0].Services[0].Priority != 4 {
		t.Error(`ReversePriorities(""): first pool not reversed`)
	}
	if _, _, err := ReversePriorities(data, "nope"); err == nil || !strings.Contains(err.Error(), `"nope" not found`) {
		t.Errorf("unknown pool: err %v", err)
	}
}

func TestFilesSplit(t *testing.T) {
	s := Spec{Pools: 5, BackendsPerPool: 2, Regions: 2}
	files, err := Files(s, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 || files[0].Name != "model-000.yaml" || files[2].Name != "model-002.yaml" {
		t.Fatalf("got %d files %v", len(files), files)
	}
	var backends, pools, apis, listeners int
	for i, f := range files {
		d := parse(t, f.Data)
		backends += len(d.Backends)
		pools += len(d.Pools)
		apis += len(d.APIs)
		listeners += len(d.Listeners)
		if i < 2 && len(d.Listeners) != 0 {
			t.Errorf("%s holds listeners; only the last file should", f.Name)
		}
	}
	if backends != 10 || pools != 5 || apis != 5 || listeners != 1 {
		t.Errorf("files hold %d backends, %d pools, %d apis, %d listeners; want 10, 5, 5, 1",
			backends, pools, apis, listeners)
	}
}

func TestPeakHeapSeesAllocation(t *testing.T) {
	stop := PeakHeap()
	before := stop()
	stop = PeakHeap()
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	peak := stop()
	if peak < before+32<<20 {
		t.Errorf("peak %d after a 64 MiB allocation; before %d", peak, before)
	}
	_ = buf[len(buf)-1]
}
