package main

import (
	"go/build"
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
	"xds":           {"model", "translator", "breaker", "xds/lrs", "xds/redact"},
	"xds/reload":    {"model", "xds"},
	"xds/admin":     {"model", "translator", "breaker", "xds", "xds/reload", "xds/redact"},
	"importer/apim": {"model"},
}

// TestImportDirection: no layer imports a module package its row does not allow.
func TestImportDirection(t *testing.T) {
	const module = "github.com/poolpilot/poolpilot/"
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
