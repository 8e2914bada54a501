package model

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An unknown field, a dangling backend reference, a duplicate name and a bad duration
// are all reported at once, each with file:line.
func TestLoadReportsAllErrors(t *testing.T) {
	path := filepath.Join("testdata", "invalid-four-errors.yaml")
	_, err := Load(path)
	want := strings.Join([]string{
		path + `:4: backends[0].colour: unknown field "colour" (allowed: name, url, region, credentials, circuitBreaker, connectTimeout, tls)`,
		path + `:7: backends[0].circuitBreaker.rules[0].tripDuration: "PT3" is not a duration (want ISO-8601 like PT30S or Go like 30s): number "3" has no unit`,
		path + `:9: backends[1].name: duplicate name "primary": backends[0] already has it (` + path + `:2); backends and pools share one namespace`,
		path + `:13: apis[0].backend: no backend or pool named "missing-pool"`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
	es, ok := AsErrors(err)
	if !ok || len(es) != 4 || es[2].Pos.Line != 9 || es[2].Field != "backends[1].name" {
		t.Fatalf("AsErrors = %v %#v", ok, es)
	}
	// Wrapped errors are still found.
	if es2, ok := AsErrors(fmt.Errorf("reload: %w", err)); !ok || len(es2) != 4 {
		t.Errorf("AsErrors on a wrapped error: %v %d", ok, len(es2))
	}
	if es3, ok := AsErrors(errors.New("plain")); ok || len(es3) != 1 || es3[0].Msg != "plain" {
		t.Errorf("AsErrors on a plain error: %v %v", ok, es3)
	}
	if _, ok := AsErrors(nil); ok {
		t.Error("AsErrors(nil) must report false")
	}
}

// Errors from several files come together, sorted by file and line, and a syntax
// error in one file does not hide the others' errors.
func TestErrorsAcrossFiles(t *testing.T) {
	_, err := LoadFiles([]File{
		{"b.yaml", []byte("apis:\n  - {name: a, backend: nope}\n")},
		{"a.yaml", []byte("backends: [\n")},
		{"c.yaml", []byte("pools:\n  - name: p\n  - name: p\n    services: [{backend: x, weight: 0}]\n")},
	})
	want := strings.Join([]string{
		`a.yaml:1: YAML syntax: did not find expected node content`,
		`b.yaml:2: apis[0].backend: no backend or pool named "nope"`,
		`c.yaml:2: pools[0].services: needs at least one service: {backend: NAME, priority: 0–100, weight: 1–100}`,
		`c.yaml:3: pools[1].name: duplicate name "p": pools[0] already has it (c.yaml:2); backends and pools share one namespace`,
		`c.yaml:4: pools[1].services[0].backend: no backend named "x"`,
		`c.yaml:4: pools[1].services[0].weight: weight 0 is not valid in Envoy; use 1–100`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{Pos{"m.yaml", 3, 5}, "apis[0].name", "is required"}, "m.yaml:3: apis[0].name: is required"},
		{Error{Pos{"m.yaml", 0, 0}, "", "cannot read model: no such file"}, "m.yaml: cannot read model: no such file"},
		{Error{Pos{"", 7, 1}, "x", "bad"}, "line 7: x: bad"},
		{Error{Msg: "bare"}, "bare"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestLoadMissingPath(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.HasSuffix(err.Error(), "nope.yaml: cannot read model: no such file") {
		t.Fatalf("error = %v", err)
	}
}

func TestLoadTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(p, []byte("# "+strings.Repeat("x", MaxFileSize)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || err.Error() != p+": model file is larger than 4 MiB" {
		t.Fatalf("error = %v", err)
	}
}

// Aliases can repeat a large value many times: the walk is bounded, and so is the
// number of errors reported.
func TestAliasExpansionIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("backends:\n  - &b {name: b, url: http://b, region: r}\n")
	for range 70000 {
		b.WriteString("  - *b\n")
	}
	_, err := LoadBytes("aliases.yaml", []byte(b.String()))
	// The document and its list are 2 values, each backend 4 (itself, name, url, region):
	// backend 49999's url is value 200001.
	want := "aliases.yaml:2: backends[49999].url: the document expands to more than 200000 values (aliases included); stopped reading this document; simplify it"
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%.1000v\nwant:\n%s", err, want)
	}
}

// However many problems an input has, a load reports at most MaxErrors of them.
func TestErrorCountIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("backends:\n")
	for range 500 {
		b.WriteString("  - {name: b, url: http://b}\n")
	}
	_, err := LoadBytes("many.yaml", []byte(b.String()))
	es, ok := AsErrors(err)
	if !ok || len(es) != MaxErrors+1 {
		t.Fatalf("want %d errors and a count, got %d", MaxErrors, len(es))
	}
	if last := es[len(es)-1].Error(); last != "... and 399 more errors" {
		t.Errorf("last line = %q", last)
	}
}
