package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

const (
	dirBackends = "backends:\n  - {name: b1, url: http://b1, region: r1}\n  - {name: b2, url: http://b2, region: r2}\n"
	dirPools    = "pools:\n  - name: p\n    services: [{backend: b1}, {backend: b2, priority: 1}]\n"
	dirAPIs     = "apis: [{name: a, backend: p}]\nlisteners: [{name: l, port: 10000, apis: [a]}]\n"
)

func TestLoadDirectoryMerges(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "30-apis.yml"), dirAPIs)
	writeFile(t, filepath.Join(dir, "10-backends.yaml"), dirBackends)
	writeFile(t, filepath.Join(dir, "20-pools.YAML"), dirPools)
	writeFile(t, filepath.Join(dir, ".hidden.yaml"), "this: is not loaded\n")
	writeFile(t, filepath.Join(dir, "notes.txt"), "not yaml\n")
	writeFile(t, filepath.Join(dir, "sub", "nested.yaml"), "not: loaded\n")
	writeFile(t, filepath.Join(dir, "99-empty.yaml"), "# nothing here yet\n")

	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Backends) != 2 || len(m.Pools) != 1 || len(m.APIs) != 1 || len(m.Listeners) != 1 {
		t.Fatalf("merged model: %+v", m)
	}
	if m.Backends[1].Name != "b2" || m.Backends[1].Pos != (Pos{filepath.Join(dir, "10-backends.yaml"), 3, 5}) {
		t.Errorf("backend b2 at %v", m.Backends[1].Pos)
	}
	if m.Pools[0].Pos.File != filepath.Join(dir, "20-pools.YAML") || m.APIs[0].Pos.File != filepath.Join(dir, "30-apis.yml") {
		t.Errorf("positions: pool %v api %v", m.Pools[0].Pos, m.APIs[0].Pos)
	}
	files, err := ReadFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f.Name))
	}
	if got := strings.Join(names, " "); got != "10-backends.yaml 20-pools.YAML 30-apis.yml 99-empty.yaml" {
		t.Errorf("files in load order: %s", got)
	}
}

func TestLoadDirectoryDuplicateAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), dirBackends)
	writeFile(t, filepath.Join(dir, "b.yaml"), "pools:\n  - name: b2\n    services: [{backend: b1}]\n")
	_, err := Load(dir)
	want := filepath.Join(dir, "b.yaml") + `:2: pools[0].name: duplicate name "b2": backends[1] already has it (` +
		filepath.Join(dir, "a.yaml") + `:3); backends and pools share one namespace`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestLoadDirectorySymlinkedFiles(t *testing.T) {
	src, dir := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(src, "backends.txt"), dirBackends)
	writeFile(t, filepath.Join(src, "pools.yaml"), dirPools)
	symlink(t, filepath.Join(src, "backends.txt"), filepath.Join(dir, "backends.yaml"))
	symlink(t, filepath.Join(src, "pools.yaml"), filepath.Join(dir, "pools.yaml"))
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Backends) != 2 || len(m.Pools) != 1 {
		t.Fatalf("model: %+v", m)
	}
	// Errors name the path as loaded (the link), which is what the operator wrote.
	if m.Pools[0].Pos.File != filepath.Join(dir, "pools.yaml") {
		t.Errorf("pool at %v", m.Pools[0].Pos)
	}
}

func TestLoadDirectoryDanglingSymlink(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), dirBackends)
	symlink(t, filepath.Join(dir, "gone"), filepath.Join(dir, "b.yaml"))
	_, err := Load(dir)
	want := filepath.Join(dir, "b.yaml") + ": cannot read model file: no such file"
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}

// A Kubernetes ConfigMap volume: the files are symlinks through ..data, itself a
// symlink to a timestamped directory that the kubelet swaps atomically.
func TestLoadConfigMapLayout(t *testing.T) {
	dir := t.TempDir()
	ts1 := filepath.Join(dir, "..2026_11_25_19_00_00.000000001")
	writeFile(t, filepath.Join(ts1, "backends.yaml"), dirBackends)
	writeFile(t, filepath.Join(ts1, "model.yaml"), dirPools+dirAPIs)
	symlink(t, filepath.Base(ts1), filepath.Join(dir, "..data"))
	symlink(t, "..data/backends.yaml", filepath.Join(dir, "backends.yaml"))
	symlink(t, "..data/model.yaml", filepath.Join(dir, "model.yaml"))

	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Backends) != 2 || len(m.Pools) != 1 || len(m.APIs) != 1 || m.Pools[0].Services[1].Priority != 1 {
		t.Fatalf("model: %+v", m)
	}

	// The kubelet's swap: a new timestamped directory, then ..data re-pointed.
	ts2 := filepath.Join(dir, "..2026_11_25_19_05_00.000000002")
	writeFile(t, filepath.Join(ts2, "backends.yaml"), dirBackends)
	writeFile(t, filepath.Join(ts2, "model.yaml"), strings.Replace(dirPools, "priority: 1", "priority: 7", 1)+dirAPIs)
	symlink(t, filepath.Base(ts2), filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(ts1); err != nil {
		t.Fatal(err)
	}
	m, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Pools[0].Services[1].Priority; got != 7 {
		t.Errorf("after the swap priority = %d, want 7", got)
	}
	if len(m.Backends) != 2 {
		t.Errorf("the ..data entries must not be loaded twice: %d backends", len(m.Backends))
	}
}

func TestLoadEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "README.md"), "no model here\n")
	_, err := Load(dir)
	if err == nil || err.Error() != dir+": no *.yaml or *.yml model files in this directory" {
		t.Fatalf("error = %v", err)
	}
}

// Relative ${file:...} references resolve against the model file's directory.
func TestLoadRelativeSecretFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "secrets", "key"), "s3cr3t-from-file\n")
	writeFile(t, filepath.Join(dir, "model.yaml"), "backends:\n  - name: b\n    url: http://b\n    credentials: {header: {x-key: '${file:secrets/key}'}}\n")
	m, err := Load(filepath.Join(dir, "model.yaml"), WithSecretsDir(filepath.Join(dir, "secrets")))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Backends[0].Credentials.Header["x-key"].Reveal(); got != "s3cr3t-from-file" {
		t.Errorf("secret = %q", got)
	}
}
