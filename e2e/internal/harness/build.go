package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BuildTimeout bounds one `go build`; a cold build of poolpilot on a 2-core
// machine takes well under a minute, this is only a ceiling.
const BuildTimeout = 5 * time.Minute

var builds struct {
	mu   sync.Mutex
	dir  string // one temp dir per test binary run, removed by Main
	jobs map[string]*buildJob
}

type buildJob struct {
	once sync.Once
	out  string // where the binary goes
	path string
	err  error
}

// Main runs the tests of a package and then removes the binaries Build made.
// Call it from TestMain; without it, the build directory is left in the
// system temp dir.
func Main(m *testing.M) {
	code := m.Run()
	builds.mu.Lock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
	builds.mu.Unlock()
	os.Exit(code)
}

// Build compiles the main package pkg once per test binary run and returns
// the executable's path; later calls with the same pkg return the same path.
// pkg is relative to the module root ("./cmd/poolpilot", "./examples/backend")
// or a full import path. A failed build fails the test with go's output.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	p, err := build(pkg)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return p
}

func build(pkg string) (string, error) {
	builds.mu.Lock()
	if builds.jobs == nil {
		builds.jobs = map[string]*buildJob{}
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "poolpilot-e2e-bin-")
		if err != nil {
			builds.mu.Unlock()
			return "", fmt.Errorf("build %s: temp dir: %w", pkg, err)
		}
		builds.dir = dir
	}
	job, ok := builds.jobs[pkg]
	if !ok {
		// Each package gets its own sub-directory so binaries keep their
		// own name (ps shows "poolpilot", not a mangled path).
		job = &buildJob{out: filepath.Join(builds.dir, strconv.Itoa(len(builds.jobs)), path.Base(pkg))}
		builds.jobs[pkg] = job
	}
	builds.mu.Unlock()

	job.once.Do(func() { job.path, job.err = goBuild(pkg, job.out) })
	return job.path, job.err
}

func goBuild(pkg, out string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if gr := os.Getenv("GOROOT"); gr != "" {
			goBin = filepath.Join(gr, "bin", "go")
		} else {
			return "", fmt.Errorf("build %s: no go command on PATH: %w", pkg, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, pkg)
	cmd.Dir = root
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build -o %s %s (in %s) after %v: %v\n%s", out, pkg, root, time.Since(start).Round(time.Millisecond), err, buf.String())
	}
	return out, nil
}

// ModuleRoot returns the directory holding go.mod, searched upwards from the
// working directory (go test runs tests in their package directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or any parent")
		}
		dir = parent
	}
}
