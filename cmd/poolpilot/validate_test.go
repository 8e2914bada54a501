package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/poolpilot/poolpilot/model"
)

const exampleDir = "../../examples/failover"

func TestValidateExample(t *testing.T) {
	for _, path := range []string{exampleDir, filepath.Join(exampleDir, "model.yaml")} {
		out, errOut, code := runCLI(t, "validate", path)
		if code != 0 {
			t.Fatalf("validate %s: exit %d\n%s", path, code, errOut)
		}
		if want := "ok: 2 backends, 1 pool, 1 api, 1 listener\n"; out != want {
			t.Errorf("validate %s: stdout %q, want %q", path, out, want)
		}
	}
}

// TestValidateReportsEveryError checks that all four problems of one file are printed,
// each on its own line with the file and the line it is on.
func TestValidateReportsEveryError(t *testing.T) {
	path := filepath.Join("testdata", "four-errors.yaml")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The expected lines are the ones marked "# ERR" in the file.
	var wantLines []int
	for i, l := range strings.Split(string(src), "\n") {
		if strings.Contains(l, "# ERR") {
			wantLines = append(wantLines, i+1)
		}
	}
	if len(wantLines) != 4 {
		t.Fatalf("testdata has %d ERR markers, want 4", len(wantLines))
	}

	out, errOut, code := runCLI(t, "validate", path)
	if code != exitError {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, exitError, out, errOut)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	var errLines []string
	for _, l := range lines {
		if strings.HasPrefix(l, path+":") {
			errLines = append(errLines, l)
		}
	}
	for i, line := range wantLines {
		prefix := path + ":" + strconv.Itoa(line) + ":"
		found := false
		for _, l := range errLines {
			if strings.HasPrefix(l, prefix) {
				found = true
			}
		}
		if !found {
			t.Errorf("error %d: no line starting %q in stderr:\n%s", i+1, prefix, errOut)
		}
	}
	if len(errLines) != 4 {
		t.Errorf("%d error lines, want exactly 4:\n%s", len(errLines), errOut)
	}
	for _, word := range []string{"colour", "tripDuration", `"a"`, `"missing"`} {
		if !strings.Contains(errOut, word) {
			t.Errorf("stderr does not mention %s:\n%s", word, errOut)
		}
	}
	if !strings.HasSuffix(errOut, "invalid: 4 errors\n") {
		t.Errorf("stderr does not end with the count:\n%s", errOut)
	}
}

// TestValidateManyErrors: past model.MaxErrors the loader keeps the first ones and counts
// the rest in a last line; the summary must not count that line as one error.
func TestValidateManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("backends:\n")
	for i := range model.MaxErrors + 50 {
		fmt.Fprintf(&b, "  - {name: b%d, url: http://10.0.0.1:80, region: r, colour: x}\n", i)
	}
	path := filepath.Join(t.TempDir(), "many.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "validate", path)
	if code != exitError {
		t.Fatalf("exit %d, want %d", code, exitError)
	}
	want := fmt.Sprintf("... and 50 more errors\ninvalid: more than %d errors\n", model.MaxErrors)
	if !strings.HasSuffix(errOut, want) {
		t.Errorf("stderr ends %q; want it to end %q", errOut[max(0, len(errOut)-200):], want)
	}
}

func TestValidateUsage(t *testing.T) {
	if _, errOut, code := runCLI(t, "bogus"); code != exitUsage || !strings.Contains(errOut, `unknown command "bogus"`) {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code := runCLI(t, "validate")
	if code != exitUsage || !strings.Contains(errOut, "want PATH") {
		t.Errorf("no PATH: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "validate", filepath.Join(t.TempDir(), "nope.yaml"))
	if code != exitError || !strings.Contains(errOut, "nope.yaml") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
}

// TestExampleMatchesModelTestdata keeps the commented example and the model package's
// test copy the same model: only comments and spacing may differ.
func TestExampleMatchesModelTestdata(t *testing.T) {
	decode := func(path string) any {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := yaml.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return v
	}
	ex := decode(filepath.Join(exampleDir, "model.yaml"))
	td := decode("../../model/testdata/failover.yaml")
	if !reflect.DeepEqual(ex, td) {
		t.Errorf("examples/failover/model.yaml and model/testdata/failover.yaml differ beyond comments")
	}
}
