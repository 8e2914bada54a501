package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeModel(t *testing.T, dir, ref string) string {
	t.Helper()
	p := filepath.Join(dir, "model.yaml")
	m := "backends:\n  - name: b\n    url: http://b\n    credentials: {header: {x-key: '" + ref + "'}}\n"
	if err := os.WriteFile(p, []byte(m), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// What a model may read is the operator's choice: no environment variable and no file
// by default; --allow-env and --secrets-dir (or POOLPILOT_ALLOW_ENV and
// POOLPILOT_SECRETS_DIR) open them, and the errors say how, never the value.
func TestModelReadPolicy(t *testing.T) {
	t.Setenv("PP_FLAG_TEST_KEY", "VALUE-FROM-ENV")
	dir := t.TempDir()
	envModel := writeModel(t, dir, "${PP_FLAG_TEST_KEY}")
	denied := envModel + ":4: backends[0].credentials.header.x-key: environment variable PP_FLAG_TEST_KEY may not be read by the model: " +
		"allow it with --allow-env PP_FLAG_TEST_KEY (or a prefix such as PP_*; POOLPILOT_ALLOW_ENV)\ninvalid: 1 error\n"
	for _, cmd := range [][]string{{"validate"}, {"render", "--region", "r"}} {
		_, errOut, code := runCLI(t, append(cmd, envModel)...)
		if code != exitError || errOut != denied {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant:\n%s", cmd[0], code, errOut, denied)
		}
		if strings.Contains(errOut, "VALUE-FROM-ENV") {
			t.Errorf("%s prints the value", cmd[0])
		}
	}
	for _, args := range [][]string{
		{"--allow-env", "PP_FLAG_TEST_KEY"},
		{"--allow-env", "OTHER,PP_FLAG_*"},
		{"--allow-env", "OTHER", "--allow-env", "PP_*"},
		{"--allow-env", "*"},
	} {
		if _, errOut, code := runCLI(t, append([]string{"validate", envModel}, args...)...); code != exitOK {
			t.Errorf("validate %v: exit %d\n%s", args, code, errOut)
		}
	}
	t.Run("config file", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "poolpilot.yaml")
		if err := os.WriteFile(cfg, []byte("allow-env: [OTHER, PP_FLAG_*]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, errOut, code := runCLI(t, "validate", envModel, "--config", cfg); code != exitOK {
			t.Errorf("exit %d\n%s", code, errOut)
		}
	})
	t.Run("POOLPILOT_ALLOW_ENV", func(t *testing.T) {
		t.Setenv("POOLPILOT_ALLOW_ENV", "OTHER, PP_FLAG_*")
		if _, errOut, code := runCLI(t, "validate", envModel); code != exitOK {
			t.Errorf("exit %d\n%s", code, errOut)
		}
	})

	// The example's ${FUNC_PRIMARY_KEY:-primary-demo-key}: unset, the default; set but
	// not allowed, an error rather than a silent default.
	_ = os.Unsetenv("FUNC_PRIMARY_KEY")
	if _, errOut, code := runCLI(t, "validate", exampleDir); code != exitOK {
		t.Errorf("example, FUNC_PRIMARY_KEY unset: exit %d\n%s", code, errOut)
	}
	t.Setenv("FUNC_PRIMARY_KEY", "real-key")
	if _, errOut, code := runCLI(t, "validate", exampleDir); code != exitError || !strings.Contains(errOut, "environment variable FUNC_PRIMARY_KEY may not be read") {
		t.Errorf("example, FUNC_PRIMARY_KEY set: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "validate", exampleDir, "--allow-env", "FUNC_*"); code != exitOK {
		t.Errorf("example, --allow-env FUNC_*: exit %d\n%s", code, errOut)
	}

	secrets := t.TempDir()
	if err := os.WriteFile(filepath.Join(secrets, "key"), []byte("FILE-SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fileModel := writeModel(t, t.TempDir(), "${file:"+filepath.Join(secrets, "key")+"}")
	if _, errOut, code := runCLI(t, "validate", fileModel); code != exitError || !strings.Contains(errOut, "none is configured, so a model may read no file; put the file in a directory given with --secrets-dir") {
		t.Errorf("file without --secrets-dir: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "validate", fileModel, "--secrets-dir", secrets); code != exitOK {
		t.Errorf("--secrets-dir: exit %d\n%s", code, errOut)
	}
	t.Run("POOLPILOT_SECRETS_DIR", func(t *testing.T) {
		t.Setenv("POOLPILOT_SECRETS_DIR", secrets)
		if _, errOut, code := runCLI(t, "validate", fileModel); code != exitOK {
			t.Errorf("exit %d\n%s", code, errOut)
		}
	})
}

// serve refuses the same model with the same message as validate.
func TestServeSaysWhatValidateSays(t *testing.T) {
	t.Setenv("PP_FLAG_TEST_KEY", "VALUE-FROM-ENV")
	p := writeModel(t, t.TempDir(), "${PP_FLAG_TEST_KEY}")
	_, errOut, code := runCLI(t, "serve", "--model", p, "--xds-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0")
	want := `msg="invalid model" error="` + p + `:4: backends[0].credentials.header.x-key: environment variable PP_FLAG_TEST_KEY may not be read by the model: ` +
		`allow it with --allow-env PP_FLAG_TEST_KEY (or a prefix such as PP_*; POOLPILOT_ALLOW_ENV)"`
	if code != exitError || !strings.Contains(errOut, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant a line with:\n%s", code, errOut, want)
	}
}

func TestModelFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"validate", exampleDir, "--allow-env", "FUNC-KEY"}, `--allow-env: "FUNC-KEY" is not a variable name or a prefix ending in *`},
		{[]string{"render", exampleDir, "--region", "r", "--allow-env", "A*B"}, `--allow-env: "A*B" is not a variable name`},
		{[]string{"validate", exampleDir, "--secrets-dir", "/no/such/dir"}, "--secrets-dir /no/such/dir: stat /no/such/dir: no such file or directory"},
		{[]string{"serve", "--secrets-dir", exampleDir + "/model.yaml"}, "--secrets-dir " + exampleDir + "/model.yaml: not a directory"},
	} {
		_, errOut, code := runCLI(t, c.args...)
		if code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errOut, exitUsage, c.want)
		}
	}
}

// A model edit that points a secret at a FIFO inside the secrets directory is rejected
// at once, not a reload that blocks forever: a later good edit still applies, and
// SIGTERM still ends serve.
func TestServeReloadWithFIFOSecretDoesNotHang(t *testing.T) {
	dir, secrets := t.TempDir(), t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(secrets, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	file, orig := copyExampleModel(t, dir)
	child := startServe(t, nil, nil, "--model", dir, "--secrets-dir", secrets,
		"--xds-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0", "--log-format", "json", "--reload-debounce", "50ms")
	child.logs.waitFor(t, "watching model for changes", 30*time.Second) // logged once the watch is set

	fifoRef := strings.Replace(string(orig), "${FUNC_PRIMARY_KEY:-primary-demo-key}", "${file:"+filepath.Join(secrets, "fifo")+"}", 1)
	if err := os.WriteFile(file, []byte(fifoRef), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := child.logs.waitFor(t, "model error", 30*time.Second)
	if e, _ := rec["error"].(string); !strings.Contains(e, "is a FIFO (named pipe), not a regular file") {
		t.Errorf("model error %q", e)
	}
	good := strings.ReplaceAll(string(orig), "tripDuration: PT30S", "tripDuration: PT45S")
	if err := os.WriteFile(file, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	child.logs.waitFor(t, "model reloaded", 30*time.Second)
	child.terminate(t, 30*time.Second)
}

// diff loads models too, with the same flags.
func TestDiffTakesModelFlags(t *testing.T) {
	t.Setenv("PP_FLAG_TEST_KEY", "VALUE-FROM-ENV")
	p := writeModel(t, t.TempDir(), "${PP_FLAG_TEST_KEY}")
	if _, errOut, code := runCLI(t, "diff", p, p); code != diffTrouble || !strings.Contains(errOut, "environment variable PP_FLAG_TEST_KEY may not be read by the model") {
		t.Errorf("diff without --allow-env: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "diff", p, p, "--allow-env", "PP_*"); code != diffSame {
		t.Errorf("diff --allow-env: exit %d\n%s", code, errOut)
	}
}
