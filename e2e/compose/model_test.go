package compose

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/poolpilot/poolpilot/model"
)

// TestComposeModelFollowsExample keeps the compose model a copy of the scenario's model
// that differs only in the backend URLs, so the walkthrough's numbers (retry count,
// breaker count, trip duration) hold for both.
func TestComposeModelFollowsExample(t *testing.T) {
	root := repoRoot(t)
	var example, compose map[string]any
	readYAML(t, filepath.Join(root, "examples", "failover", "model.yaml"), &example)
	readYAML(t, filepath.Join(root, "examples", "failover", "compose", "model.yaml"), &compose)
	eu, cu := dropURLs(t, example), dropURLs(t, compose)
	if len(eu) != len(cu) {
		t.Fatalf("example has %d backends, compose model %d", len(eu), len(cu))
	}
	for i := range eu {
		if eu[i] == cu[i] {
			t.Errorf("backend %d: compose model uses the example's url %q; want the compose service", i, eu[i])
		}
	}
	if !reflect.DeepEqual(example, compose) {
		t.Errorf("examples/failover/compose/model.yaml differs from examples/failover/model.yaml in more than the backend urls:\nexample: %v\ncompose: %v", example, compose)
	}
}

// dropURLs removes every backend's url from the decoded model and returns them in order.
func dropURLs(t *testing.T, m map[string]any) []string {
	t.Helper()
	backends, ok := m["backends"].([]any)
	if !ok {
		t.Fatalf("model has no backends list")
	}
	var urls []string
	for _, b := range backends {
		bm, ok := b.(map[string]any)
		if !ok {
			t.Fatalf("backend is %T, want a mapping", b)
		}
		u, _ := bm["url"].(string)
		urls = append(urls, u)
		delete(bm, "url")
	}
	return urls
}

// TestComposeModelLoads loads the folder poolpilot serves in compose, and checks that the
// compose/ and envoy/ subfolders do not leak into the example when examples/failover is
// loaded as a directory (model directories are not recursive).
func TestComposeModelLoads(t *testing.T) {
	root := repoRoot(t)
	m, err := model.Load(filepath.Join(root, "examples", "failover", "compose"))
	if err != nil {
		t.Fatalf("examples/failover/compose: %v", err)
	}
	if len(m.Backends) != 2 || len(m.Pools) != 1 || len(m.APIs) != 1 || len(m.Listeners) != 1 {
		t.Errorf("compose model has %d backends, %d pools, %d apis, %d listeners; want 2, 1, 1, 1",
			len(m.Backends), len(m.Pools), len(m.APIs), len(m.Listeners))
	}
	for _, b := range m.Backends {
		if b.Endpoint.Scheme != "http" || b.Endpoint.IsIP || b.Endpoint.Port != 8080 {
			t.Errorf("backend %s endpoint %+v: want http, a compose service name, port 8080", b.Name, b.Endpoint)
		}
	}
	files, err := model.ReadFiles(filepath.Join(root, "examples", "failover"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || filepath.Base(files[0].Name) != "model.yaml" {
		var names []string
		for _, f := range files {
			names = append(names, f.Name)
		}
		t.Errorf("loading examples/failover as a directory reads %v, want only model.yaml", names)
	}
}
