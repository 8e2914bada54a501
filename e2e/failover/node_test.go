package failover

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/poolpilot/poolpilot/e2e/internal/harness"
)

// Scenario 1 on a second client stack, @grpc/grpc-js-xds (Node): the same resources
// must work for a client library other than grpc-go. It needs node and the packages
// pinned in e2e/node/package-lock.json (`npm ci --prefix e2e/node`, which .ci/run runs);
// without them it skips and says so, except under CI=true, where it fails.
func TestGrpcJSXdsHealthyRegionsServeLocally(t *testing.T) {
	t.Parallel()
	// .ci/run installs the packages, so in CI a missing client is a failure, not a skip.
	skip := t.Skipf
	if os.Getenv("CI") == "true" {
		skip = t.Fatalf
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node is not installed, needed for the @grpc/grpc-js-xds client (install Node.js, then `npm ci --prefix e2e/node`)")
	}
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "e2e", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@grpc", "grpc-js-xds")); err != nil {
		skip("@grpc/grpc-js-xds is not installed in %s (run `npm ci --prefix e2e/node`)", dir)
	}

	f := newFleet(t)
	f.writeModel(t, failoverSpec(f.primary, f.secondary))
	f.startPoolpilot(t)
	const calls = 20
	run := func(nodeID, region string) *client {
		return &client{name: nodeID, p: f.runGrpcJS(t, node, dir, nodeID, region, calls, clientRate)}
	}
	clients := map[string]*client{primaryName: run("node-sdc", sdc), secondaryName: run("node-nwe", nwe)}
	for backend, c := range clients {
		select {
		case <-c.p.Done():
		case <-time.After(time.Minute):
			t.Fatalf("%s did not finish within a minute:\n%s", c.name, c.p.Tail(20))
		}
		if code := c.p.ExitCode(); code != 0 {
			t.Fatalf("%s exited %d:\n%s", c.name, code, c.p.Tail(20))
		}
		rs := c.rpcs()
		if len(rs) != calls {
			t.Errorf("%s: %d calls, want %d", c.name, len(rs), calls)
		}
		requireServedBy(t, c.name+" (grpc-js-xds)", rs, backend)
	}
	// The nodes have left by now, so read poolpilot's log: both streams were Node's, and
	// no node rejected anything.
	out := f.poolpilot.Output()
	for _, id := range []string{"node-sdc", "node-nwe"} {
		if !regexp.MustCompile(`msg="xDS stream opened" node=` + id + ` group=\S+/grpc .*user_agent="gRPC Node`).MatchString(out) {
			t.Errorf("poolpilot log has no gRPC Node stream for %s:\n%s", id, f.poolpilot.Tail(20))
		}
	}
	if strings.Contains(out, "node rejected configuration") {
		t.Errorf("a grpc-js-xds node NACKed:\n%s", f.poolpilot.Tail(20))
	}
}
