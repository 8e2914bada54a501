package apim

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
)

// The fixtures follow the shapes of:
//   - the ARM/Bicep template reference for Microsoft.ApiManagement/service/backends
//     (https://learn.microsoft.com/azure/templates/microsoft.apimanagement/service/backends,
//     API versions 2023-09-01-preview to 2024-05-01: credentials.header values are
//     arrays of strings, circuitBreaker.rules[].failureCondition, pool.services[] with
//     id/priority/weight; azureRegion from 2025-03-01-preview);
//   - the REST API's Backend - Get and Backend - List By Service responses
//     (https://learn.microsoft.com/rest/api/apimanagement/backend, {"value": [...]});
//   - the "Backends in API Management" article's Bicep for a circuit breaker and a
//     load-balanced pool (https://learn.microsoft.com/azure/api-management/backends),
//     as az bicep build compiles it (testdata/article/main.json);
//   - the retry policy reference
//     (https://learn.microsoft.com/azure/api-management/retry-policy: interval,
//     max-interval and delta in seconds, first-fast-retry).

var update = flag.Bool("update", false, "rewrite the want files of TestArticle")

func readFiles(t *testing.T, paths ...string) []File {
	t.Helper()
	var out []File
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, File{Name: p, Data: b})
	}
	return out
}

func failoverOpts() Options {
	return Options{
		PathPrefixes:      map[string]string{"resilient-api": "/resilient-api/"},
		PreferLocalRegion: true,
	}
}

// env gives each secret a distinct value, so a header that lands on the wrong backend
// shows in the rendered resources.
var env = map[string]string{"FUNC_PRIMARY_KEY": "primary-secret", "FUNC_SECONDARY_KEY": "secondary-secret"}

func lookupEnv(k string) (string, bool) { v, ok := env[k]; return v, ok }

// TestFailoverMatchesExample imports the failover scenario from the REST API's JSON and
// from an ARM template, and checks that each renders exactly the resources of
// examples/failover/model.yaml for every node group.
func TestFailoverMatchesExample(t *testing.T) {
	want, err := model.Load("../../examples/failover/model.yaml", model.WithLookupEnv(lookupEnv))
	if err != nil {
		t.Fatal(err)
	}
	wantWarnings := []string{
		`backend "func-primary-sdc" header x-functions-key uses the APIM named value {{func-primary-key}}: written as ${FUNC_PRIMARY_KEY}; set FUNC_PRIMARY_KEY to its value and allow it with --allow-env FUNC_PRIMARY_KEY`,
		`backend "func-secondary-nwe" header x-functions-key uses the APIM named value {{func-secondary-key}}: written as ${FUNC_SECONDARY_KEY}; set FUNC_SECONDARY_KEY to its value and allow it with --allow-env FUNC_SECONDARY_KEY`,
	}
	rest := failoverOpts()
	rest.Regions = map[string]string{"func-primary-sdc": "swedencentral", "func-secondary-nwe": "norwayeast"}
	arm := failoverOpts()
	arm.RegionSuffixes = map[string]string{"sdc": "swedencentral", "nwe": "norwayeast"}
	params := readFiles(t, "testdata/failover-arm/main.parameters.json")[0]
	if arm.Parameters, err = ReadParameters(params); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		files []string
		opts  Options
	}{
		{"rest", []string{"testdata/failover-rest/backends.json", "testdata/failover-rest/resilient-api.xml"}, rest},
		{"arm", []string{"testdata/failover-arm/main.json", "testdata/failover-arm/resilient-api.xml"}, arm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Import(readFiles(t, tc.files...), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Warnings, wantWarnings) {
				t.Errorf("warnings:\n  %s\nwant:\n  %s", strings.Join(res.Warnings, "\n  "), strings.Join(wantWarnings, "\n  "))
			}
			// The model goes through a real file, as `validate` and `serve` read it.
			path := filepath.Join(t.TempDir(), "model.yaml")
			if err := os.WriteFile(path, res.YAML, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := model.Load(path, model.WithLookupEnv(lookupEnv))
			if err != nil {
				t.Fatalf("the imported model does not load: %v\n%s", err, res.YAML)
			}
			for _, region := range []string{"swedencentral", "norwayeast", ""} {
				for _, client := range translator.ClientKinds {
					g := translator.Group{Region: region, Client: client}
					w, err := translator.Translate(want, g)
					if err != nil {
						t.Fatal(err)
					}
					gr, err := translator.Translate(got, g)
					if err != nil {
						t.Fatal(err)
					}
					for _, kind := range []struct {
						name      string
						want, got []types.Resource
					}{
						{"clusters", w.Clusters, gr.Clusters}, {"endpoints", w.Endpoints, gr.Endpoints},
						{"routes", w.Routes, gr.Routes}, {"listeners", w.Listeners, gr.Listeners},
					} {
						if a, b := marshal(t, kind.want), marshal(t, kind.got); a != b {
							t.Errorf("%s %s: imported model renders\n%s\nwant (examples/failover)\n%s", g, kind.name, b, a)
						}
					}
					if !slices.Equal(w.Warnings, gr.Warnings) {
						t.Errorf("%s: translator warnings %q, want %q", g, gr.Warnings, w.Warnings)
					}
				}
			}
		})
	}
}

func marshal(t *testing.T, rs []types.Resource) string {
	t.Helper()
	var out []json.RawMessage
	for _, r := range rs {
		b, err := protojson.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestArticle imports the article's template (with a listKeys secret, a reference()
// URL given by flag, an inline policy and an API path) and a REST GET with azureRegion,
// and compares the model and the warnings with the reviewed want files.
func TestArticle(t *testing.T) {
	opts := Options{URLs: map[string]string{"backend-3": "https://func-backend-3.azurewebsites.net"}}
	res, err := Import(readFiles(t, "testdata/article/main.json", "testdata/article/backend-get.json"), opts)
	if err != nil {
		t.Fatal(err)
	}
	warnings := strings.Join(res.Warnings, "\n") + "\n"
	for _, f := range []struct{ path, got string }{
		{"testdata/article/want.yaml", string(res.YAML)},
		{"testdata/article/want-warnings.txt", warnings},
	} {
		if *update {
			if err := os.WriteFile(f.path, []byte(f.got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatalf("%v (go test ./importer/apim -run TestArticle -update)", err)
		}
		if string(want) != f.got {
			t.Errorf("%s differs; review and run with -update\ngot:\n%s", f.path, f.got)
		}
	}
	if _, err := model.LoadBytes("want.yaml", res.YAML, model.WithLookupEnv(func(string) (string, bool) { return "v", true })); err != nil {
		t.Errorf("the imported model does not validate: %v", err)
	}
}
