package model

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadBounded runs Load on its own goroutine and fails the test if it has not returned
// after a minute: the guard against a read that blocks forever, not a timing check.
func loadBounded(t *testing.T, path string, opts ...Option) (*Model, error) {
	t.Helper()
	type result struct {
		m   *Model
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := Load(path, opts...)
		done <- result{m, err}
	}()
	select {
	case r := <-done:
		return r.m, r.err
	case <-time.After(time.Minute):
		t.Fatal("Load blocked (a FIFO read?)")
		return nil, nil
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

const secretRefModel = "backends:\n  - name: b\n    url: http://b\n    credentials: {header: {x-key: '${file:%s}'}}\n"

func secretModelFile(t *testing.T, dir, ref string) string {
	t.Helper()
	p := filepath.Join(dir, "model.yaml")
	writeFile(t, p, strings.Replace(secretRefModel, "%s", ref, 1))
	return p
}

// ${file:...} reads only a regular file of at most 64 KiB, and never blocks: /dev/zero,
// a FIFO, a directory and a big file are errors that name the file and say why.
func TestSecretFileMustBeSmallRegularFile(t *testing.T) {
	secrets := t.TempDir()
	mkfifo(t, filepath.Join(secrets, "fifo"))
	if err := os.Mkdir(filepath.Join(secrets, "dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(secrets, "big"), strings.Repeat("k", MaxSecretFileSize+1))
	writeFile(t, filepath.Join(secrets, "max"), strings.Repeat("k", MaxSecretFileSize))
	for _, c := range []struct {
		dir, ref, want string
	}{
		{"/dev", "/dev/zero", "cannot read secret file /dev/zero: is a character device, not a regular file"},
		{secrets, filepath.Join(secrets, "fifo"), "cannot read secret file " + filepath.Join(secrets, "fifo") + ": is a FIFO (named pipe), not a regular file"},
		{secrets, filepath.Join(secrets, "dir"), "cannot read secret file " + filepath.Join(secrets, "dir") + ": is a directory, not a regular file"},
		{secrets, filepath.Join(secrets, "big"), "cannot read secret file " + filepath.Join(secrets, "big") + ": is larger than 64 KiB"},
		{secrets, filepath.Join(secrets, "max"), ""},
	} {
		t.Run(filepath.Base(c.ref), func(t *testing.T) {
			p := secretModelFile(t, t.TempDir(), c.ref)
			m, err := loadBounded(t, p, WithSecretsDir(c.dir))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := len(m.Backends[0].Credentials.Header["x-key"].Reveal()); got != MaxSecretFileSize {
					t.Errorf("read %d bytes", got)
				}
				return
			}
			want := p + ":4: backends[0].credentials.header.x-key: " + c.want
			if err == nil || err.Error() != want {
				t.Fatalf("error:\n%v\nwant:\n%s", err, want)
			}
		})
	}
}

// By default a model may read no file at all: the control plane's files are not the
// model's to serve to xDS clients.
func TestModelCannotReadFilesByDefault(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "key"), "s3cr3t\n")
	p := secretModelFile(t, dir, "key")
	_, err := loadBounded(t, p)
	want := p + ":4: backends[0].credentials.header.x-key: cannot read secret file " + filepath.Join(dir, "key") +
		": is outside the secrets directory: none is configured, so a model may read no file; put the file in a directory given with --secrets-dir (POOLPILOT_SECRETS_DIR)"
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}

// With a secrets directory, only files inside it are read: symlinks are resolved before
// the check, ".." is refused, and the error never holds the file's content.
func TestSecretFileConfinedToSecretsDir(t *testing.T) {
	root := t.TempDir()
	secrets, outside := filepath.Join(root, "secrets"), filepath.Join(root, "outside")
	writeFile(t, filepath.Join(secrets, "ok"), "in-dir-secret\n")
	writeFile(t, filepath.Join(outside, "key"), "OUTSIDE-SECRET\n")
	symlink(t, filepath.Join(outside, "key"), filepath.Join(secrets, "escape"))
	// A Kubernetes Secret volume: links through ..data, all inside the directory.
	writeFile(t, filepath.Join(secrets, "..2026_11_30", "token"), "k8s-secret\n")
	symlink(t, "..2026_11_30", filepath.Join(secrets, "..data"))
	symlink(t, "..data/token", filepath.Join(secrets, "token"))
	sd := WithSecretsDir(secrets)
	for _, c := range []struct{ ref, want string }{
		{filepath.Join(secrets, "ok"), ""},
		{filepath.Join(secrets, "token"), ""},
		{filepath.Join(outside, "key"), filepath.Join(outside, "key") + ": is outside the secrets directory " + secrets + " (--secrets-dir); move the file there"},
		{filepath.Join(secrets, "escape"), filepath.Join(secrets, "escape") + ": is a symlink to a file outside the secrets directory " + secrets + " (--secrets-dir)"},
		{secrets + "/../outside/key", secrets + "/../outside/key" + `: ".." is not allowed in a secret file path; name the file inside the secrets directory`},
		{"../outside/key", filepath.Join(outside, "key") + `: ".." is not allowed in a secret file path; name the file inside the secrets directory`},
	} {
		t.Run(c.ref, func(t *testing.T) {
			p := secretModelFile(t, secrets, c.ref) // the model beside the secrets: relative refs resolve there
			t.Cleanup(func() { _ = os.Remove(p) })
			m, err := loadBounded(t, p, sd)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if v := m.Backends[0].Credentials.Header["x-key"].Reveal(); !strings.HasSuffix(v, "-secret") {
					t.Errorf("value %q", v)
				}
				return
			}
			want := p + ":4: backends[0].credentials.header.x-key: cannot read secret file " + c.want
			if err == nil || err.Error() != want {
				t.Fatalf("error:\n%v\nwant:\n%s", err, want)
			}
			if strings.Contains(err.Error(), "OUTSIDE-SECRET") {
				t.Error("the error holds the file's content")
			}
		})
	}
}

// Relative paths: a model loaded by a relative path, a relative secrets directory.
func TestSecretFileRelativePaths(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "secrets", "key"), "relative-secret\n")
	secretModelFile(t, filepath.Join(root, "secrets"), "key")
	t.Chdir(root)
	m, err := loadBounded(t, filepath.Join("secrets", "model.yaml"), WithSecretsDir("secrets"))
	if err != nil {
		t.Fatal(err)
	}
	if v := m.Backends[0].Credentials.Header["x-key"].Reveal(); v != "relative-secret" {
		t.Errorf("value %q", v)
	}
}

// By default a model reads no environment variable: ${HOME} and ${PATH} are errors that
// name the variable and say how to allow it, never its value.
func TestModelCannotReadEnvByDefault(t *testing.T) {
	t.Setenv("PP_TEST_SECRET", "ENV-SECRET-VALUE")
	for _, name := range []string{"HOME", "PATH", "PP_TEST_SECRET"} {
		_, err := LoadBytes("m.yaml", []byte("backends: [{name: b, url: http://b, credentials: {header: {x: '${"+name+"}'}}}]\n"))
		hint := name
		if i := strings.IndexByte(name, '_'); i > 0 {
			hint = name[:i+1]
		}
		want := "m.yaml:1: backends[0].credentials.header.x: environment variable " + name +
			" may not be read by the model: allow it with --allow-env " + name + " (or a prefix such as " + hint + "*; POOLPILOT_ALLOW_ENV)"
		if err == nil || err.Error() != want {
			t.Errorf("error:\n%v\nwant:\n%s", err, want)
		}
		if err != nil && (strings.Contains(err.Error(), "ENV-SECRET-VALUE") || strings.Contains(err.Error(), os.Getenv("HOME"))) {
			t.Errorf("the error holds a value: %v", err)
		}
	}
}

// The allow-list: names and prefixes; a variable it leaves out falls back to the
// reference's default only when unset, and is an error when set (never a silent default).
func TestEnvAllowList(t *testing.T) {
	t.Setenv("FUNC_A", "a-value")
	t.Setenv("MY_KEY", "my-value")
	t.Setenv("OTHER", "other-value")
	_ = os.Unsetenv("PP_UNSET")
	allow := WithAllowEnv("FUNC_*", "MY_KEY")
	for _, c := range []struct{ ref, want, err string }{
		{"${FUNC_A}", "a-value", ""},
		{"${MY_KEY}", "my-value", ""},
		{"${PP_UNSET:-fallback}", "fallback", ""},
		{"${OTHER:-fallback}", "", "environment variable OTHER may not be read by the model: allow it with --allow-env OTHER (or a prefix such as OTHER*; POOLPILOT_ALLOW_ENV)"},
		{"${MY_KEYS}", "", "environment variable MY_KEYS may not be read by the model: allow it with --allow-env MY_KEYS (or a prefix such as MY_*; POOLPILOT_ALLOW_ENV)"},
	} {
		m, err := LoadBytes("m.yaml", []byte("backends: [{name: b, url: http://b, credentials: {header: {x: '"+c.ref+"'}}}]\n"), allow)
		if c.err != "" {
			if want := "m.yaml:1: backends[0].credentials.header.x: " + c.err; err == nil || err.Error() != want {
				t.Errorf("%s: error:\n%v\nwant:\n%s", c.ref, err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.ref, err)
			continue
		}
		if got := m.Backends[0].Credentials.Header["x"].Reveal(); got != c.want {
			t.Errorf("%s = %q, want %q", c.ref, got, c.want)
		}
	}
	if _, err := LoadBytes("m.yaml", []byte("backends: [{name: b, url: http://b, credentials: {header: {x: '${OTHER}'}}}]\n"), WithAllowEnv("*")); err != nil {
		t.Errorf("--allow-env '*': %v", err)
	}
}

func TestCheckAllowEnv(t *testing.T) {
	for _, p := range []string{"FUNC_KEY", "FUNC_*", "F*", "*", "_X"} {
		if err := CheckAllowEnv([]string{p}); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
	for _, p := range []string{"", "**", "FU*NC", "1X", "A-B", "$HOME"} {
		if err := CheckAllowEnv([]string{p}); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

// A cancelled context abandons a load.
func TestLoadContextCancelled(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "m.yaml"), dirBackends)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Load(dir, WithContext(ctx))
	if err == nil || !strings.Contains(err.Error(), "loading was abandoned (context canceled)") {
		t.Fatalf("error = %v", err)
	}
}

// A model file must be a regular file: a FIFO (which used to block the load), a
// directory or a device named *.yaml is an error, not skipped.
func TestModelFileMustBeRegular(t *testing.T) {
	t.Run("fifo path", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "model.yaml")
		mkfifo(t, p)
		_, err := loadBounded(t, p)
		if want := p + ": is a FIFO (named pipe), not a regular file; a model file must be a regular file (or a symlink to one)"; err == nil || err.Error() != want {
			t.Fatalf("error:\n%v\nwant:\n%s", err, want)
		}
	})
	for _, kind := range []string{"directory", "fifo", "device"} {
		t.Run(kind+" in a directory", func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "a.yaml"), dirBackends)
			p := filepath.Join(dir, "b.yaml")
			what := ""
			switch kind {
			case "directory":
				if err := os.Mkdir(p, 0o700); err != nil {
					t.Fatal(err)
				}
				what = "a directory"
			case "fifo":
				mkfifo(t, p)
				what = "a FIFO (named pipe)"
			case "device":
				symlink(t, "/dev/null", p)
				what = "a character device"
			}
			_, err := loadBounded(t, dir)
			if want := p + ": is " + what + ", not a regular file; a model file must be a regular file (or a symlink to one)"; err == nil || err.Error() != want {
				t.Fatalf("error:\n%v\nwant:\n%s", err, want)
			}
		})
	}
}

// An in-place save leaves a zero-byte file in between: it is refused, not loaded as an
// empty model. A file with only a comment is a deliberate empty file.
func TestEmptyModelFileRefused(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "model.yaml")
	writeFile(t, p, "")
	_, err := Load(p)
	want := p + ": model file is empty (0 bytes), as a save in progress leaves it; a file meant to be empty must hold at least a comment"
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
	writeFile(t, filepath.Join(dir, "a.yaml"), dirBackends)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("in a directory: %v", err)
	}
}

// setReadHook sets afterReadHook for one test.
func setReadHook(t *testing.T, f func(file string)) {
	t.Cleanup(func() { afterReadHook = nil })
	afterReadHook = f
}

// A model that changes while it is read is read again: what loads is the state after
// the edit, never a mix or a part of it.
func TestModelChangedWhileReadIsReadAgain(t *testing.T) {
	full := dirBackends + dirPools + dirAPIs
	for _, c := range []struct {
		name string
		edit func(t *testing.T, dir string)
	}{
		{"file rewritten", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "a.yaml"), dirBackends+"# edited, and longer\n")
		}},
		{"file added", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "c.yaml"), "# added\n")
		}},
		{"file renamed over", func(t *testing.T, dir string) {
			tmp := filepath.Join(dir, ".tmp")
			writeFile(t, tmp, dirBackends)
			if err := os.Rename(tmp, filepath.Join(dir, "a.yaml")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "a.yaml"), dirBackends)
			writeFile(t, filepath.Join(dir, "b.yaml"), dirPools+dirAPIs)
			reads := 0
			setReadHook(t, func(file string) {
				if reads++; reads == 1 { // once, right after the first file was read
					c.edit(t, dir)
				}
			})
			files, err := ReadFiles(dir)
			if err != nil {
				t.Fatal(err)
			}
			if reads < 3 {
				t.Errorf("%d file reads: the model was not read again", reads)
			}
			var got strings.Builder
			for _, f := range files {
				if filepath.Base(f.Name) != "c.yaml" {
					got.Write(f.Data)
				}
			}
			if s := strings.ReplaceAll(got.String(), "# edited, and longer\n", ""); s != full {
				t.Errorf("read:\n%s", got.String())
			}
		})
	}
	t.Run("truncate then write, single file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "model.yaml")
		writeFile(t, p, full)
		reads := 0
		setReadHook(t, func(string) {
			if reads++; reads == 1 { // the save lands after the read began
				writeFile(t, p, "")
				writeFile(t, p, full+"# saved again\n")
			}
		})
		files, err := ReadFiles(p)
		if err != nil || len(files) != 1 || string(files[0].Data) != full+"# saved again\n" {
			t.Fatalf("files %v, err %v", files, err)
		}
	})
}

// A file that vanishes while the model is read, and stays gone from a listing that
// still names it, or a model that never stops changing, is an error after a bounded
// number of reads: never the smaller model.
func TestModelThatKeepsChangingIsAnError(t *testing.T) {
	t.Run("always changing", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "a.yaml"), dirBackends)
		writeFile(t, filepath.Join(dir, "b.yaml"), dirPools+dirAPIs)
		n := 0
		setReadHook(t, func(file string) {
			if filepath.Base(file) == "a.yaml" { // a.yaml, just read, is written again
				n++
				writeFile(t, file, dirBackends+strings.Repeat("#", n)+"\n")
			}
		})
		_, err := ReadFiles(dir)
		want := dir + ": the model changed while it was read, 5 times in a row; it is read again on its next change"
		if err == nil || err.Error() != want {
			t.Fatalf("error:\n%v\nwant:\n%s", err, want)
		}
		if n != readAttempts {
			t.Errorf("%d reads, want %d", n, readAttempts)
		}
	})
	t.Run("a file vanishes mid-read", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "a.yaml"), dirBackends)
		writeFile(t, filepath.Join(dir, "b.yaml"), dirPools+dirAPIs)
		setReadHook(t, func(file string) {
			if filepath.Base(file) == "a.yaml" {
				// b.yaml is listed, then gone; a dangling link keeps it listed.
				_ = os.Remove(filepath.Join(dir, "b.yaml"))
				_ = os.Symlink("gone", filepath.Join(dir, "b.yaml"))
			}
		})
		_, err := ReadFiles(dir)
		want := filepath.Join(dir, "b.yaml") + ": cannot read model file: no such file"
		if err == nil || err.Error() != want {
			t.Fatalf("error:\n%v\nwant:\n%s", err, want)
		}
	})
}

// A secret value is at most 64 KiB however it is made (two files of 40 KiB here).
func TestSecretValueLengthCapped(t *testing.T) {
	secrets := t.TempDir()
	writeFile(t, filepath.Join(secrets, "k"), strings.Repeat("k", 40<<10))
	ref := filepath.Join(secrets, "k")
	p := secretModelFile(t, t.TempDir(), ref+"}${file:"+ref)
	_, err := loadBounded(t, p, WithSecretsDir(secrets))
	want := p + ":4: backends[0].credentials.header.x-key: the value is longer than 64 KiB"
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}
