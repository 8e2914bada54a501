package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// repoRoot is the module root: the nearest parent directory holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildDir  string
)

// TestMain removes the directory of the poolpilot binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// poolpilotBinary builds ./cmd/poolpilot once per test binary and returns its path. The
// tests run the real command, so they check what a user gets, not an internal function.
func poolpilotBinary(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "poolpilot-compose-test-")
		if buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "poolpilot")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", buildPath, "./cmd/poolpilot")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/poolpilot: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// runPoolpilot runs the built poolpilot with args in the repository root and returns its
// stdout; it fails the test on a non-zero exit, showing stderr.
func runPoolpilot(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, poolpilotBinary(t), args...)
	cmd.Dir = repoRoot(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("poolpilot %v: %v\nstderr:\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// yamlToJSON converts a YAML document to JSON, so protojson can decode it strictly.
func yamlToJSON(y []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(y, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// readYAML decodes the YAML file at path into v (anchors and merge keys resolved).
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// pinnedEnvoyImage is the Envoy image docker-compose.yml runs. extensions_test.go checks
// poolpilot's output against this version's extensions: change both together.
const pinnedEnvoyImage = "envoyproxy/envoy:v1.36.13"

// composeBootstrap is one committed bootstrap and the command line that generates it.
type composeBootstrap struct {
	region  string
	service string // the compose service that mounts it
}

func (b composeBootstrap) file() string {
	return filepath.Join("examples", "failover", "envoy", b.region+".yaml")
}

// args are the documented generator command line (the README walkthrough shows the same).
func (b composeBootstrap) args() []string {
	return []string{"bootstrap", "--region", b.region, "--node-id", b.service, "--xds-address", "poolpilot:18000"}
}

var bootstraps = []composeBootstrap{
	{region: "swedencentral", service: "envoy-swedencentral"},
	{region: "norwayeast", service: "envoy-norwayeast"},
}
