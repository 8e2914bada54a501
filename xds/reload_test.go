package xds

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLiveEditsReachClients edits the model under a running server in each way operators
// and tools do, and a connected ADS client receives a new version every time.
func TestLiveEditsReachClients(t *testing.T) {
	t.Run("single file: plain write, rename-over, add and remove neighbours", func(t *testing.T) {
		l := startLive(t, map[string]string{"model.yaml": liveModel(8001, false)}, liveOptions{file: "model.yaml", debounce: 50 * time.Millisecond})
		a, r := l.subscribe("sdc-1", "swedencentral")

		if err := os.WriteFile(l.path, []byte(liveModel(8002, false)), 0o600); err != nil {
			t.Fatal(err)
		}
		r = a.nextVersion(r.VersionInfo)

		replaceFile(t, l.dir, "model.yaml", liveModel(8003, false))
		r = a.nextVersion(r.VersionInfo)

		// Another YAML file next to a single-file model is not part of it.
		attempts := l.settle(200 * time.Millisecond)
		liveWriteFile(t, l.dir, "unrelated.yaml", []byte("not: [a model"))
		a.quiet(300 * time.Millisecond)
		if got := l.reloader.Attempts(); got != attempts {
			t.Errorf("writing a neighbour file caused %d reloads; want 0", got-attempts)
		}

		replaceFile(t, l.dir, "model.yaml", liveModel(8004, true))
		a.nextVersion(r.VersionInfo)
		if last, _ := l.reloader.Last(); !last.OK || last.Trigger != "file" {
			t.Errorf("last reload = %+v; want ok from a file change", last)
		}
	})

	t.Run("directory: file added and removed", func(t *testing.T) {
		l := startLive(t, map[string]string{"model.yaml": liveModel(8001, false)}, liveOptions{debounce: 50 * time.Millisecond})
		a, r := l.subscribe("sdc-1", "swedencentral")
		extra := "backends:\n  - {name: extra, url: 'http://127.0.0.3:9000', region: swedencentral}\n"
		liveWriteFile(t, l.dir, "extra.yaml", []byte(extra))
		r = a.nextVersion(r.VersionInfo)
		if err := os.Remove(filepath.Join(l.dir, "extra.yaml")); err != nil {
			t.Fatal(err)
		}
		a.nextVersion(r.VersionInfo)
	})

	for _, file := range []string{"", "model.yaml"} {
		name := "ConfigMap ..data symlink swap, directory model"
		if file != "" {
			name = "ConfigMap ..data symlink swap, file model through ..data"
		}
		t.Run(name, func(t *testing.T) {
			l := startLive(t, nil, liveOptions{file: file, debounce: 50 * time.Millisecond,
				setup: func(t *testing.T, dir string) { publishConfigMap(t, dir, "..2026_01", liveModel(8001, false)) }})
			a, r := l.subscribe("nwe-1", "norwayeast")
			publishConfigMap(t, l.dir, "..2026_02", liveModel(8002, true))
			r = a.nextVersion(r.VersionInfo)
			publishConfigMap(t, l.dir, "..2026_03", liveModel(8003, false))
			a.nextVersion(r.VersionInfo)
		})
	}
}

// publishConfigMap does what kubelet does to update a ConfigMap volume: write the files
// into a new timestamped directory, point a temporary symlink at it, rename that over
// `..data`, and remove the previous directory. model.yaml is a symlink through ..data.
func publishConfigMap(t *testing.T, dir, version, content string) {
	t.Helper()
	vdir := filepath.Join(dir, version)
	if err := os.Mkdir(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	liveWriteFile(t, vdir, "model.yaml", []byte(content))
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "model.yaml")
	if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
		if err := os.Symlink(filepath.Join("..data", "model.yaml"), link); err != nil {
			t.Fatal(err)
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

