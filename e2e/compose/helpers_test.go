package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/poolpilot/poolpilot/e2e/internal/harness"
)

// repoRoot is the module root (harness.ModuleRoot), failing the test if there is none.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestMain removes the poolpilot binary harness.Build made for the tests.
func TestMain(m *testing.M) { harness.Main(m) }

// runPoolpilot runs poolpilot (built once per test binary, so the tests check what a user
// gets, not an internal function) with args in the repository root and returns its
// stdout; it fails the test on a non-zero exit, showing stderr.
func runPoolpilot(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Build(t, "./cmd/poolpilot"), args...)
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
	return []string{"bootstrap", "--region", b.region, "--node-id", b.service, "--xds-address", "poolpilot:18000",
		"--admin-port", "9900", "--status-port", "9901"}
}

var bootstraps = []composeBootstrap{
	{region: "swedencentral", service: "envoy-swedencentral"},
	{region: "norwayeast", service: "envoy-norwayeast"},
}
