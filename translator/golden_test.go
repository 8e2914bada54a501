package translator

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/poolpilot/poolpilot/envoy"
	"github.com/poolpilot/poolpilot/internal/protoyaml"
	"github.com/poolpilot/poolpilot/model"
)

var update = flag.Bool("update", false, "rewrite testdata/out from the translator's output")

// goldenRegions are the node regions every case is translated for; "" is a node that
// reports no region.
var goldenRegions = []string{"swedencentral", "norwayeast", ""}

// goldenGroups are the node groups every case is translated for: each golden region ×
// each client kind, and the legacy-Envoy group in swedencentral.
func goldenGroups() []Group {
	var out []Group
	for _, region := range goldenRegions {
		for _, client := range ClientKinds {
			out = append(out, Group{Region: region, Client: client})
		}
	}
	return append(out, Group{Region: "swedencentral", Client: Envoy, LegacyEnvoy: true})
}

// goldenParts are the golden files of one case and group, in xDS order; a
// "<case>.<key>.warnings.yaml" file holds the warnings when there are any.
var goldenParts = []string{"clusters", "endpoints", "routes", "listeners"}

// goldenFile is testdata/out/<case>.<group key, "/" as ".">.<part>.yaml.
func goldenFile(name string, g Group, part string) string {
	return filepath.Join("testdata", "out", name+"."+strings.ReplaceAll(g.Key(), "/", ".")+"."+part+".yaml")
}

// loadCase loads testdata/in/<file> with no environment: ${VAR:-default} takes the default.
func loadCase(t testing.TB, path string) *model.Model {
	t.Helper()
	m, err := model.Load(path, model.WithLookupEnv(func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return m
}

func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/in/*.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	written := map[string]bool{}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		m := loadCase(t, in)
		// A case with a sidecar <case>.tripped is also translated with that breaker
		// state, into <case>.tripped.<group>.<part>.yaml.
		states := []goldenState{{name: name}}
		if st, ok := loadTripped(t, strings.TrimSuffix(in, ".yaml")+".tripped", m); ok {
			states = append(states, goldenState{name: name + ".tripped", trips: st})
		}
		for _, st := range states {
			for _, g := range goldenGroups() {
				tripped := st.trippedFor(g)
				t.Run(st.name+"."+g.Key(), func(t *testing.T) {
					res, err := TranslateWith(m, g, tripped)
					if err != nil {
						t.Fatalf("Translate: %v", err)
					}
					checkValid(t, res)
					if g.Client == Envoy {
						checkEnvoy(t, res)
					}
					got := renderParts(t, res)
					again, err := TranslateWith(m, g, tripped)
					if err != nil || !reflect.DeepEqual(got, renderParts(t, again)) {
						t.Fatalf("a second Translate of the same model differs (err %v)", err)
					}
					for _, part := range append(slices.Clone(goldenParts), "warnings") {
						out := goldenFile(st.name, g, part)
						b, ok := got[part]
						if ok {
							written[out] = true
						}
						if *update {
							if !ok {
								err = os.Remove(out)
								if errors.Is(err, fs.ErrNotExist) {
									err = nil
								}
							} else {
								err = os.WriteFile(out, b, 0o644)
							}
							if err != nil {
								t.Fatal(err)
							}
							continue
						}
						want, err := os.ReadFile(out)
						switch {
						case !ok && err == nil:
							t.Errorf("%s exists, but the translation has no %s; review and run go test ./translator -update", out, part)
						case !ok:
						case err != nil:
							t.Errorf("%v (run go test ./translator -update)", err)
						case !bytes.Equal(b, want):
							t.Errorf("%s differs from the translator's output; review and run go test ./translator -update\n%s", out, firstDiff(want, b))
						}
					}
				})
			}
		}
	}
	// Every golden file belongs to a case and group still translated.
	outs, err := filepath.Glob(filepath.Join("testdata", "out", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range outs {
		if written[out] {
			continue
		}
		if *update {
			if err := os.Remove(out); err != nil {
				t.Error(err)
			}
			continue
		}
		t.Errorf("%s is no case's golden file; run go test ./translator -update", out)
	}
}

// goldenState is a breaker state a case is translated with.
type goldenState struct {
	name  string
	trips []goldenTrip
}

// goldenTrip is one line of a .tripped file: "backend" (fleet scope) or "backend region"
// (region scope: only that region's groups see it).
type goldenTrip struct{ backend, region string }

func (s goldenState) trippedFor(g Group) Tripped {
	if len(s.trips) == 0 {
		return nil
	}
	out := Tripped{}
	for _, tr := range s.trips {
		if tr.region == "" || tr.region == g.Region {
			out[tr.backend] = true
		}
	}
	return out
}

// loadTripped reads a .tripped file of case m; blank lines and # comments are skipped. A
// backend or region m does not name is an error: it would trip nothing, and the tripped
// golden files would silently repeat the untripped ones.
func loadTripped(t *testing.T, path string, m *model.Model) ([]goldenTrip, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []goldenTrip
	for i, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) > 2 {
			t.Fatalf("%s:%d: want \"backend [region]\", got %q", path, i+1, line)
		}
		tr := goldenTrip{backend: f[0]}
		if len(f) == 2 {
			tr.region = f[1]
		}
		if model.NewIndex(m).Backend(tr.backend) == nil {
			t.Fatalf("%s:%d: the case has no backend %q", path, i+1, tr.backend)
		}
		if tr.region != "" && (Group{Region: tr.region}).Resolve(KnownOf(m)).Region != tr.region {
			t.Fatalf("%s:%d: the case has no region %q", path, i+1, tr.region)
		}
		out = append(out, tr)
	}
	return out, true
}

// checkValid runs envoy.Validate on every resource, independently of Translate's own check.
func checkValid(t *testing.T, res *Resources) {
	t.Helper()
	for _, r := range all(res) {
		if err := envoy.Validate(r); err != nil {
			t.Errorf("%s %q: %v", kindOf(r), nameOf(r), err)
		}
	}
}

// checkEnvoy runs envoy.Check on every resource: no SAN matching without a CA, no field
// Envoy does not implement, every credential header removed before it is set.
func checkEnvoy(t *testing.T, res *Resources) {
	t.Helper()
	for _, r := range all(res) {
		if err := envoy.Check(r); err != nil {
			t.Errorf("%s %q: %v", kindOf(r), nameOf(r), err)
		}
	}
}

func all(res *Resources) []types.Resource {
	var out []types.Resource
	for _, rs := range [][]types.Resource{res.Clusters, res.Endpoints, res.Routes, res.Listeners} {
		out = append(out, rs...)
	}
	return out
}

// renderParts is the golden form of res: per part (resource type, and "warnings" if
// there are any), the section `render -o yaml` prints for it, so the golden files of a
// group joined in goldenParts order are exactly what render prints.
func renderParts(t testing.TB, res *Resources) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for i, rs := range [][]types.Resource{res.Clusters, res.Endpoints, res.Routes, res.Listeners} {
		items := make([]json.RawMessage, 0, len(rs))
		for _, r := range rs {
			j, err := protoyaml.MarshalJSON(r)
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, j)
		}
		out[goldenParts[i]] = section(t, goldenParts[i], items)
	}
	if len(res.Warnings) > 0 {
		out["warnings"] = section(t, "warnings", res.Warnings)
	}
	return out
}

// section is {name: v} as YAML.
func section(t testing.TB, name string, v any) []byte {
	t.Helper()
	j, err := json.Marshal(map[string]any{name: v})
	if err != nil {
		t.Fatal(err)
	}
	y, err := protoyaml.JSONToYAML(j)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n- " + w + "\n+ " + g
		}
	}
	return ""
}
