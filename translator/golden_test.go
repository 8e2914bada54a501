package translator

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/poolpilot/poolpilot/envoy"
	"github.com/poolpilot/poolpilot/model"
	"google.golang.org/protobuf/encoding/protojson"
)

var update = flag.Bool("update", false, "rewrite testdata/out from the translator's output")

// goldenRegions are the node regions every case is translated for; "" is a node that
// reports no region.
var goldenRegions = []string{"swedencentral", "norwayeast", ""}

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
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		m := loadCase(t, in)
		var groups []Group
		for _, region := range goldenRegions {
			for _, client := range []ClientKind{Envoy, GRPC} {
				groups = append(groups, Group{Region: region, Client: client})
			}
		}
		groups = append(groups, Group{Region: "swedencentral", Client: Envoy, LegacyEnvoy: true})
		// A case with a sidecar <case>.tripped is also translated with that breaker
		// state, into <case>.tripped.<region>.<client>.json.
		states := []goldenState{{name: name}}
		if st, ok := loadTripped(t, strings.TrimSuffix(in, ".yaml")+".tripped"); ok {
			states = append(states, goldenState{name: name + ".tripped", trips: st})
		}
		for _, st := range states {
			for _, g := range groups {
				out := filepath.Join("testdata", "out", goldenName(st.name, g))
				tripped := st.trippedFor(g)
				t.Run(filepath.Base(out), func(t *testing.T) {
					res, err := TranslateWith(m, g, tripped)
					if err != nil {
						t.Fatalf("Translate: %v", err)
					}
					checkValid(t, res)
					if g.Client == Envoy {
						checkEnvoy(t, res)
					}
					got := render(t, res)
					again, err := TranslateWith(m, g, tripped)
					if err != nil || !bytes.Equal(got, render(t, again)) {
						t.Fatalf("a second Translate of the same model differs (err %v)", err)
					}
					if *update {
						if err := os.WriteFile(out, got, 0o644); err != nil {
							t.Fatal(err)
						}
						return
					}
					want, err := os.ReadFile(out)
					if err != nil {
						t.Fatalf("%v (run go test ./translator -update)", err)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("%s differs from the translator's output; review and run go test ./translator -update\n%s", out, firstDiff(want, got))
					}
				})
			}
		}
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

// loadTripped reads a .tripped file; blank lines and # comments are skipped.
func loadTripped(t *testing.T, path string) ([]goldenTrip, bool) {
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
		out = append(out, tr)
	}
	return out, true
}

func goldenName(name string, g Group) string {
	region := g.Region
	if region == "" {
		region = "noregion"
	}
	client := string(g.Client)
	if g.LegacyEnvoy {
		client += "-legacy"
	}
	return name + "." + region + "." + client + ".json"
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

// render is the golden form: protojson per resource, re-indented by encoding/json so the
// bytes do not depend on protojson's deliberately unstable whitespace.
func render(t testing.TB, res *Resources) []byte {
	t.Helper()
	type doc struct {
		Clusters  []json.RawMessage `json:"clusters"`
		Endpoints []json.RawMessage `json:"endpoints"`
		Routes    []json.RawMessage `json:"routes"`
		Listeners []json.RawMessage `json:"listeners"`
		Warnings  []string          `json:"warnings"`
	}
	conv := func(rs []types.Resource) []json.RawMessage {
		out := []json.RawMessage{}
		for _, r := range rs {
			b, err := protojson.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	d := doc{conv(res.Clusters), conv(res.Endpoints), conv(res.Routes), conv(res.Listeners), res.Warnings}
	if d.Warnings == nil {
		d.Warnings = []string{}
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
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
