package main

import (
	"errors"
	"go/build"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// allowedImports are the module packages each layer may import (docs/architecture.md):
// cmd → {xds/admin, xds/reload} → xds → translator → {model, envoy}; breaker imports only
// model; model and envoy import no module package.
var allowedImports = map[string][]string{
	"model":         {},
	"envoy":         {},
	"model/schema":  {"model"},
	"breaker":       {"model"},
	"translator":    {"model", "envoy"},
	"xds/redact":    {"model"},
	"xds/lrs":       {"breaker"},
	"xds":           {"model", "translator", "breaker", "xds/lrs", "xds/redact", "internal/dirtypool"},
	"xds/reload":    {"model", "xds"},
	"xds/admin":     {"model", "translator", "breaker", "xds", "xds/reload", "xds/redact"},
	"importer/apim": {"model"},

	// Test fixtures, tools' helpers and leaves.
	"xds/internal/adstest":           {"xds/redact"},
	"xds/internal/livetest":          {"model", "translator", "xds", "xds/admin", "xds/reload", "xds/internal/adstest"},
	"internal/breakertest":           {},
	"internal/dirtypool":             {},
	"internal/modelgen":              {"model"},
	"internal/protoyaml":             {},
	"internal/testcerts":             {},
	"examples":                       {},
	"examples/backend":               {"examples/backend/internal/demo"},
	"examples/backend/internal/demo": {},
	"docs":                           {},
}

// unruled are the trees whose packages may import any module package: the commands and
// the end-to-end tests, which wire everything together.
var unruled = []string{"cmd", "e2e"}

// TestImportDirection: no layer imports a module package its row does not allow, and
// every package outside cmd/ and e2e/ has a row, so a new one cannot go unchecked.
func TestImportDirection(t *testing.T) {
	const module = "github.com/poolpilot/poolpilot/"
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		name := d.Name()
		if rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" ||
			slices.Contains(unruled, rel)) {
			return filepath.SkipDir
		}
		if _, err := build.Default.ImportDir(path, 0); err != nil {
			var none *build.NoGoError
			if errors.As(err, &none) {
				return nil
			}
			return err
		}
		if _, ok := allowedImports[rel]; !ok {
			t.Errorf("package %s has no row in allowedImports: add one (docs/architecture.md)", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for pkg, allowed := range allowedImports {
		p, err := build.Default.ImportDir(filepath.Join("..", "..", pkg), 0)
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		for _, imp := range p.Imports {
			rel, ok := strings.CutPrefix(imp, module)
			if ok && !slices.Contains(allowed, rel) {
				t.Errorf("%s imports %s; it may import only %v (docs/architecture.md)", pkg, rel, allowed)
			}
		}
	}
}
