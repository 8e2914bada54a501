package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const apimTestdata = "../../importer/apim/testdata"

// TestImportAPIMFailover runs the command on the failover fixture, writes the model
// with -o, and checks that validate accepts it once the named secrets are set (and
// allowed).
func TestImportAPIMFailover(t *testing.T) {
	out := filepath.Join(t.TempDir(), "model.yaml")
	stdout, stderr, code := runCLI(t, "import", "apim",
		filepath.Join(apimTestdata, "failover-arm", "main.json"),
		filepath.Join(apimTestdata, "failover-arm", "resilient-api.xml"),
		"--parameters", filepath.Join(apimTestdata, "failover-arm", "main.parameters.json"),
		"--region-suffix", "sdc=swedencentral", "--region-suffix", "nwe=norwayeast",
		"--path-prefix", "resilient-api=/resilient-api/", "--prefer-local-region", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout %q with -o, want nothing", stdout)
	}
	wantErr := `warning: backend "func-primary-sdc" header x-functions-key uses the APIM named value {{func-primary-key}}: written as ${FUNC_PRIMARY_KEY}; set FUNC_PRIMARY_KEY to its value and allow it with --allow-env FUNC_PRIMARY_KEY
warning: backend "func-secondary-nwe" header x-functions-key uses the APIM named value {{func-secondary-key}}: written as ${FUNC_SECONDARY_KEY}; set FUNC_SECONDARY_KEY to its value and allow it with --allow-env FUNC_SECONDARY_KEY
wrote ` + out + " (2 warnings)\n"
	if stderr != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, wantErr)
	}
	// Unset, the secrets make validate fail: the references are real.
	t.Setenv("FUNC_PRIMARY_KEY", "")
	t.Setenv("FUNC_SECONDARY_KEY", "")
	if _, _, code := runCLI(t, "validate", out); code != exitError {
		t.Errorf("validate without the secrets: exit %d, want %d", code, exitError)
	}
	t.Setenv("FUNC_PRIMARY_KEY", "k1")
	t.Setenv("FUNC_SECONDARY_KEY", "k2")
	stdout, stderr, code = runCLI(t, "validate", out, "--allow-env", "FUNC_PRIMARY_KEY,FUNC_SECONDARY_KEY")
	if code != 0 || stdout != "ok: 2 backends, 1 pool, 1 api, 1 listener\n" {
		t.Errorf("validate: exit %d\nstdout %q\nstderr %s", code, stdout, stderr)
	}
}

// TestImportAPIMBadInput checks exit code 1 and an error naming the file and place.
func TestImportAPIMBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	backends := write("b.json", `{"value": [{"name": "a", "properties": {"url": "https://a.example.com"}}]}`)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"malformed JSON", []string{write("bad.json", "{\n  \"value\": [}\n")}, exitError,
			"poolpilot: " + dir + "/bad.json:2:13: malformed JSON: invalid character '}' looking for beginning of value\n"},
		{"malformed XML", []string{backends, write("api.xml", "<policies>\n<inbound>\n</policies>")}, exitError,
			"poolpilot: " + dir + "/api.xml:3: malformed XML: element <inbound> closed by </policies>\n"},
		{"unknown type", []string{write("s.json", `{"name": "s", "type": "Microsoft.Web/sites", "properties": {}}`)}, exitError,
			"poolpilot: " + dir + `/s.json: $.type: unknown resource type "Microsoft.Web/sites": want Microsoft.ApiManagement/service/backends` + "\n"},
		{"missing pool member", []string{write("p.json", `{"name": "p", "properties": {"type": "Pool", "pool": {"services": [{"id": "/backends/x"}]}}}`)}, exitError,
			"poolpilot: " + dir + `/p.json: $.properties.pool.services[0].id: pool "p": no backend named "x" (from id "/backends/x") among the imported backends` + "\n"},
		{"missing file", []string{filepath.Join(dir, "none.json")}, exitError,
			"poolpilot: import apim: open " + dir + "/none.json: no such file or directory\n"},
		{"bad flag value", []string{backends, "--region", "a"}, exitUsage,
			"poolpilot: import apim: --region \"a\": want NAME=REGION\nrun 'poolpilot --help' for usage\n"},
		{"no files", nil, exitUsage,
			"poolpilot: import apim: want FILE... (backend JSON, ARM templates, policy XML)\nrun 'poolpilot --help' for usage\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, append([]string{"import", "apim"}, tc.args...)...)
			if code != tc.code || stderr != tc.want || stdout != "" {
				t.Errorf("exit %d, stderr:\n%s\nstdout %q\nwant exit %d, stderr:\n%s", code, stderr, stdout, tc.code, tc.want)
			}
		})
	}
}

func TestImportAPIMStdout(t *testing.T) {
	stdout, _, code := runCLI(t, "import", "apim",
		filepath.Join(apimTestdata, "failover-rest", "backends.json"),
		filepath.Join(apimTestdata, "failover-rest", "resilient-api.xml"))
	if code != 0 || !strings.Contains(stdout, "backends:\n  - name: func-primary-sdc\n") {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
}

// TestImportAPIMIgnoresEnvironment: POOLPILOT_OUTPUT is render's format; import reads
// its own flags from the command line only, so it still prints to stdout.
func TestImportAPIMIgnoresEnvironment(t *testing.T) {
	t.Setenv("POOLPILOT_OUTPUT", "yaml")
	abs, err := filepath.Abs(filepath.Join(apimTestdata, "failover-rest"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	stdout, stderr, code := runCLI(t, "import", "apim", filepath.Join(abs, "backends.json"))
	if code != 0 || !strings.HasPrefix(stdout, "# Imported from API Management") {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	if _, err := os.Stat("yaml"); err == nil {
		t.Error("import wrote a file named after POOLPILOT_OUTPUT")
	}
}
