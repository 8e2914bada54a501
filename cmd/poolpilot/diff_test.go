package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// exampleModel is the failover example's text.
func exampleModel(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(exampleDir, "model.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edited returns s with each old replaced once by its new, failing if one is missing.
func edited(t *testing.T, s string, oldNew ...string) string {
	t.Helper()
	for i := 0; i+1 < len(oldNew); i += 2 {
		if !strings.Contains(s, oldNew[i]) {
			t.Fatalf("model has no %q", oldNew[i])
		}
		s = strings.Replace(s, oldNew[i], oldNew[i+1], 1)
	}
	return s
}

// swapped swaps the two members' priorities of the example's pool.
func swapped(t *testing.T, s string) string {
	return edited(t, s,
		"{backend: func-primary-sdc,   priority: 1,", "{backend: func-primary-sdc,   priority: 2,",
		"{backend: func-secondary-nwe, priority: 2,", "{backend: func-secondary-nwe, priority: 1,")
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	sdcFirst = "0: func-primary-sdc → 1: func-secondary-nwe"
	nweFirst = "0: func-secondary-nwe → 1: func-primary-sdc"
)

// TestDiffSwappedPriorities: with preferLocalRegion off, swapping the priorities reverses
// the order in every region, and diff says so for swedencentral and norwayeast.
func TestDiffSwappedPriorities(t *testing.T) {
	dir := t.TempDir()
	base := edited(t, exampleModel(t), "preferLocalRegion: true", "preferLocalRegion: false")
	oldPath := writeFile(t, dir, "old.yaml", base)
	newPath := writeFile(t, dir, "new.yaml", swapped(t, base))

	out, errOut, code := runCLI(t, "diff", oldPath, newPath)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, region := range []string{"swedencentral", "norwayeast"} {
		want := "region " + region + "\n  pool load-balanced-pool\n    - " + sdcFirst + "\n    + " + nweFirst + "\n"
		if !strings.Contains(out, want) {
			t.Errorf("stdout has no\n%s\nstdout:\n%s", want, out)
		}
		for _, client := range []string{"envoy", "grpc"} {
			want := "  " + region + "/" + client + "\n    changed Cluster load-balanced-pool\n"
			if !strings.Contains(out, want) {
				t.Errorf("stdout has no\n%s\nstdout:\n%s", want, out)
			}
		}
	}
	if !strings.HasSuffix(out, "6 of 6 node groups change\n") {
		t.Errorf("stdout does not end with the summary:\n%s", out)
	}
	if errOut != "" {
		t.Errorf("stderr: %s", errOut)
	}
}

// TestDiffSwapWithPreferLocalRegion: with preferLocalRegion on, each region's own backend
// stays first, so only nodes without a region see the swap.
func TestDiffSwapWithPreferLocalRegion(t *testing.T) {
	dir := t.TempDir()
	oldPath := filepath.Join(exampleDir, "model.yaml")
	newPath := writeFile(t, dir, "new.yaml", swapped(t, exampleModel(t)))
	out, errOut, code := runCLI(t, "diff", oldPath, newPath)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	want := "region (no region)\n  pool load-balanced-pool\n    - " + sdcFirst + "\n    + " + nweFirst + "\n"
	if !strings.HasPrefix(out, want) {
		t.Errorf("stdout does not start with\n%s\nstdout:\n%s", want, out)
	}
	if !strings.HasSuffix(out, "2 of 6 node groups change; unchanged regions: norwayeast, swedencentral\n") {
		t.Errorf("stdout does not end with the summary:\n%s", out)
	}
	if strings.Contains(out, "region swedencentral") || strings.Contains(out, "region norwayeast") {
		t.Errorf("a region whose order is unchanged is reported:\n%s", out)
	}
}

// TestDiffIdentical: the same model, as a directory and as its file, is no change.
func TestDiffIdentical(t *testing.T) {
	out, errOut, code := runCLI(t, "diff", exampleDir, filepath.Join(exampleDir, "model.yaml"))
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if want := "no change: all 6 node groups receive the same resources\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
}

// TestDiffDirectories compares a model split over two files with an edited single file.
func TestDiffDirectories(t *testing.T) {
	src := exampleModel(t)
	i := strings.Index(src, "\npools:")
	if i < 0 {
		t.Fatal("example has no pools section")
	}
	oldDir := filepath.Join(t.TempDir(), "old")
	writeFile(t, oldDir, "1-backends.yaml", src[:i+1])
	writeFile(t, oldDir, "2-rest.yaml", src[i+1:])
	writeFile(t, oldDir, "notes.txt", "not a model file")
	newDir := filepath.Join(t.TempDir(), "new")
	writeFile(t, newDir, "model.yaml", edited(t, src,
		"listeners:\n", "  - name: second-api\n    pathPrefix: /second/\n    backend: func-primary-sdc\nlisteners:\n",
		"apis: [resilient-api]}", "apis: [resilient-api]}\n  - {name: second, port: 10001, apis: [second-api]}"))

	out, errOut, code := runCLI(t, "diff", oldDir, newDir)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"  swedencentral/envoy\n    added   Cluster func-primary-sdc\n",
		"    added   RouteConfiguration second\n",
		"    added   Listener second\n",
		"  swedencentral/grpc\n    added   RouteConfiguration second-api\n", // its leaf cluster serves the pool already
		"    added   Listener second-api\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout has no %q\nstdout:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pool load-balanced-pool") {
		t.Errorf("reports a pool order change, but the order did not change:\n%s", out)
	}

	// And back: what was added is removed.
	out, _, code = runCLI(t, "diff", newDir, oldDir)
	if code != 1 || !strings.Contains(out, "    removed Listener second\n") {
		t.Errorf("reverse diff: exit %d, stdout:\n%s", code, out)
	}
}

// TestDiffInvalidSide: an invalid model is exit 2 with its errors at file:line, as
// validate prints them; both sides are checked.
func TestDiffInvalidSide(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(exampleDir, "model.yaml")
	bad := writeFile(t, dir, "bad.yaml", edited(t, exampleModel(t), "priority: 2, weight: 1}", "priority: 101, weight: 1}"))
	line := 0
	for i, l := range strings.Split(exampleModel(t), "\n") {
		if strings.Contains(l, "priority: 2, weight: 1}") {
			line = i + 1
		}
	}
	want := bad + ":" + strconv.Itoa(line) + ": pools[0].services[1].priority: 101 is out of range (0–100; lower is preferred)\n"
	for _, args := range [][]string{{good, bad}, {bad, good}} {
		out, errOut, code := runCLI(t, append([]string{"diff"}, args...)...)
		if code != 2 {
			t.Errorf("diff %v: exit %d, want 2", args, code)
		}
		if out != "" {
			t.Errorf("diff %v: stdout %q, want nothing", args, out)
		}
		if !strings.Contains(errOut, want) || !strings.Contains(errOut, "invalid: 1 error\n") {
			t.Errorf("diff %v: stderr has no %q:\n%s", args, want, errOut)
		}
	}
	missing := filepath.Join(dir, "missing.yaml")
	_, errOut, code := runCLI(t, "diff", bad, missing)
	if code != 2 || !strings.Contains(errOut, want) || !strings.Contains(errOut, missing+": cannot read model: no such file") {
		t.Errorf("two bad sides: exit %d, want 2 and both sides' errors; stderr:\n%s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "diff", good); code != 2 || !strings.Contains(errOut, "want OLD and NEW") {
		t.Errorf("one argument: exit %d, want 2; stderr:\n%s", code, errOut)
	}
}

// TestDiffVerboseRedactsSecrets: -v shows the changed lines of each resource, never a
// secret value, and a changed secret shows as changed.
func TestDiffVerboseRedactsSecrets(t *testing.T) {
	dir := t.TempDir()
	base := edited(t, exampleModel(t), "${FUNC_PRIMARY_KEY:-primary-demo-key}", "old-literal-key-1111")
	oldPath := writeFile(t, dir, "old.yaml", base)
	newPath := writeFile(t, dir, "new.yaml", edited(t, base, "old-literal-key-1111", "new-literal-key-2222"))

	out, errOut, code := runCLI(t, "diff", "-v", oldPath, newPath)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, secret := range []string{"1111", "2222", "secondary-demo-key"} {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("output carries a secret value (%s):\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "    changed Cluster load-balanced-pool\n      (a secret value changed; secret values are redacted)\n") {
		t.Errorf("the secret change is not reported:\n%s", out)
	}

	// A priority swap with -v shows the changed lines of the cluster's load assignment.
	base = edited(t, exampleModel(t), "preferLocalRegion: true", "preferLocalRegion: false")
	oldPath = writeFile(t, dir, "old2.yaml", base)
	newPath = writeFile(t, dir, "new2.yaml", swapped(t, base))
	out, _, code = runCLI(t, "diff", "--verbose", oldPath, newPath)
	for _, want := range []string{
		"      --- old Cluster load-balanced-pool\n      +++ new Cluster load-balanced-pool\n",
		"      -        region: swedencentral\n",
		"      +        region: norwayeast\n",
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("exit %d; stdout has no %q:\n%s", code, want, out)
		}
	}
	if strings.Contains(out, "primary-demo-key") {
		t.Errorf("-v prints a secret value:\n%s", out)
	}
}

// TestDiffDocExamples keeps the diff output quoted in README.md and docs/model.md true:
// it is what diff prints for the compose model with preferLocalRegion off and the
// priorities swapped, the edit both walk through.
func TestDiffDocExamples(t *testing.T) {
	compose := filepath.Join(exampleDir, "compose", "model.yaml")
	src, err := os.ReadFile(compose)
	if err != nil {
		t.Fatal(err)
	}
	after := swapped(t, edited(t, string(src), "\n    preferLocalRegion: true", "\n    preferLocalRegion: false"))
	newPath := writeFile(t, t.TempDir(), "model.yaml", after)
	out, errOut, code := runCLI(t, "diff", compose, newPath)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, doc := range []struct{ file, command, end string }{
		{"../../README.md", "go run ./cmd/poolpilot diff /tmp/before.yaml examples/failover/compose/model.yaml\n", "```"},
		{"../../docs/model.md", "$ poolpilot diff before.yaml model.yaml\n", "$ echo $?"},
	} {
		b, err := os.ReadFile(doc.file)
		if err != nil {
			t.Fatal(err)
		}
		_, quoted, ok := strings.Cut(string(b), doc.command)
		if !ok {
			t.Errorf("%s no longer quotes %q", doc.file, doc.command)
			continue
		}
		quoted, _, _ = strings.Cut(quoted, doc.end)
		if quoted != out {
			t.Errorf("%s quotes\n%s\nbut diff prints\n%s", doc.file, quoted, out)
		}
	}
}
