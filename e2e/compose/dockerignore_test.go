package compose

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDockerignoreKeepsBuildInputs lists every file the Dockerfile's `go build` reads
// (go.mod, go.sum, and the Go and embedded files of every package in this module that the
// two binaries import) and fails if .dockerignore leaves one out of the build context.
// Without it, a new package excluded by accident breaks `docker build` only on a machine
// with a Docker engine, which CI does not have.
func TestDockerignoreKeepsBuildInputs(t *testing.T) {
	root := repoRoot(t)
	patterns := readDockerignore(t, filepath.Join(root, ".dockerignore"))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The same packages the Dockerfile builds.
	args := append([]string{"list", "-deps", "-json=Dir,Module,GoFiles,EmbedFiles"}, dockerBuildPackages(t)...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	inputs := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var p struct {
			Dir                 string
			Module              *struct{ Main bool }
			GoFiles, EmbedFiles []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue // standard library or a module from the module cache
		}
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			inputs = append(inputs, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if len(inputs) < 4 {
		t.Fatalf("go list found only %v: expected the module's packages", inputs)
	}
	for _, f := range inputs {
		if p, excluded := dockerignored(patterns, f); excluded {
			t.Errorf(".dockerignore pattern %q leaves %s out of the build context, but the image build needs it", p, f)
		}
	}
}

// readDockerignore returns the file's patterns. It accepts only the forms dockerignored
// understands (plain names and globs, optionally "**/"-prefixed; no "!" exceptions), so a
// pattern this test would misread fails the test instead of passing it silently.
func readDockerignore(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var patterns []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rest := strings.TrimPrefix(line, "**/")
		if strings.HasPrefix(line, "!") || strings.Contains(rest, "**") || strings.HasPrefix(line, "/") {
			t.Fatalf("%s:%d: pattern %q: this test understands plain paths and \"**/\" prefixes only; extend dockerignored first", file, n, line)
		}
		if _, err := path.Match(rest, ""); err != nil {
			t.Fatalf("%s:%d: pattern %q: %v", file, n, line, err)
		}
		patterns = append(patterns, strings.TrimSuffix(line, "/"))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return patterns
}

// dockerignored reports whether the slash-separated relative path f is excluded: a
// pattern excludes a path it matches and everything under it (as Docker does); "**/p"
// matches p at any depth.
func dockerignored(patterns []string, f string) (string, bool) {
	parts := strings.Split(f, "/")
	for _, p := range patterns {
		anyDepth := strings.HasPrefix(p, "**/")
		p1 := strings.TrimPrefix(p, "**/")
		n := strings.Count(p1, "/") + 1
		for start := 0; start+n <= len(parts); start++ {
			if start > 0 && !anyDepth {
				break
			}
			// n components from start; a match on a directory excludes the files under it.
			if ok, _ := path.Match(p1, strings.Join(parts[start:start+n], "/")); ok {
				return p, true
			}
		}
	}
	return "", false
}

func TestDockerignoredMatcher(t *testing.T) {
	patterns := []string{".git", "docs", "**/*_test.go", "**/testdata", "*.md", "examples/failover/envoy"}
	for _, c := range []struct {
		f    string
		want bool
	}{
		{".git/config", true},
		{"docs/failover.md", true},
		{"model/types.go", false},
		{"model/types_test.go", true},
		{"types_test.go", true},
		{"translator/testdata/in/a.yaml", true},
		{"README.md", true},
		{"docs2/x.go", false},
		{"examples/README.md", false}, // "*.md" is anchored at the root, as in Docker
		{"examples/failover/envoy/norwayeast.yaml", true},
		{"examples/failover/model.yaml", false},
		{"examples/embed.go", false},
	} {
		if _, got := dockerignored(patterns, c.f); got != c.want {
			t.Errorf("dockerignored(%s) = %v, want %v", c.f, got, c.want)
		}
	}
}
