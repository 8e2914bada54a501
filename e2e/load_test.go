// Package e2e holds end-to-end tests that run poolpilot as a real process.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/poolpilot/poolpilot/e2e/internal/harness"
	"github.com/poolpilot/poolpilot/internal/modelgen"
)

// TestMain removes the binaries harness.Build made. It is the only TestMain of package
// e2e (the other e2e suites live in their own directories); move it if that changes.
func TestMain(m *testing.M) { harness.Main(m) }

// comparison is poolpilot-load's --json report of a --compare run.
type comparison struct {
	Server  loadReport         `json:"server"`
	Compare loadReport         `json:"compare"`
	Ratios  map[string]float64 `json:"ratios"`
}

// loadReport is the part of poolpilot-load's --json report this test checks.
type loadReport struct {
	Connect struct {
		Streams            int                `json:"streams"`
		Connections        int                `json:"connections"`
		Settled            int                `json:"settled"`
		Failed             int                `json:"failed"`
		ResourcesPerStream map[string]float64 `json:"resources_per_stream"`
		ServerCPUSeconds   *float64           `json:"server_cpu_seconds"`
	} `json:"connect"`
	Changes []struct {
		Pool               string             `json:"pool"`
		Streams            int                `json:"streams"`
		Updated            int                `json:"updated"`
		BytesPerStreamMin  int64              `json:"bytes_per_stream_min"`
		BytesPerStreamAvg  float64            `json:"bytes_per_stream_avg"`
		ResourcesPerStream map[string]float64 `json:"resources_per_stream"`
	} `json:"changes"`
	StreamErrors []string `json:"stream_errors"`
}

var xdsAddrRE = regexp.MustCompile(`serving xDS.*xds_address=(127\.0\.0\.1:\d+)`)

// TestLoadToolSmall runs the load tool (cmd/poolpilot-load) with 50 simulated Envoy nodes,
// one gRPC connection each, against a real poolpilot process serving a generated model, in
// both ADS variants, and changes the model on disk: every stream must get and ACK the
// whole configuration, then the new version. With --compare baseline the tool then runs
// the same load against its plain go-control-plane server. It keeps the tool and the
// baseline from rotting; it asserts no timings (docs/benchmarks.md has the figures from
// the big runs).
func TestLoadToolSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two binaries")
	}
	poolpilot := harness.Build(t, "./cmd/poolpilot")
	load := harness.Build(t, "./cmd/poolpilot-load")
	const streams, regions = 50, 2

	for _, mode := range []string{"sotw", "delta"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			dir := t.TempDir()
			// Four members per pool: reversing one pool's priorities changes every
			// region's order, so every node group gets a new version.
			files, err := modelgen.Files(modelgen.Spec{Pools: 20, BackendsPerPool: 4, Regions: regions}, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}

			srv := harness.Start(ctx, t, harness.Options{Bin: poolpilot, Name: "poolpilot", Args: []string{
				"serve", "--model", dir, "--xds-address", "127.0.0.1:0", "--admin-address", harness.FreeAddr(t),
			}})
			addr := srv.RequireLine(t, xdsAddrRE, 30*time.Second)[1]

			cmd := exec.CommandContext(ctx, load, "--xds-address", addr, "--streams", strconv.Itoa(streams),
				"--regions", strconv.Itoa(regions), "--mode", mode, "--compare", "baseline",
				"--mutate", dir, "--pool", modelgen.PoolName(7), "--changes", "1",
				"--server-pid", strconv.Itoa(srv.Pid()), "--quiet", "500ms", "--idle", "0s",
				"--connect-timeout", "60s", "--change-timeout", "60s", "--json")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("poolpilot-load: %v\nstderr:\n%s", err, stderr.String())
			}
			var cmp comparison
			if err := json.Unmarshal(stdout.Bytes(), &cmp); err != nil {
				t.Fatalf("poolpilot-load --json: %v\n%s", err, stdout.String())
			}
			checkLoadReport(t, "poolpilot", mode, cmp.Server, true)
			checkLoadReport(t, "baseline", mode, cmp.Compare, false)
			for _, k := range []string{"change_bytes_per_stream", "connect_server_cpu"} {
				if _, ok := cmp.Ratios[k]; !ok {
					t.Errorf("no %s ratio in %v", k, cmp.Ratios)
				}
			}
		})
	}
}

// checkLoadReport checks one server's part of the report; onlyChanged says the server
// sends only changed EDS and RDS resources in state-of-the-world too.
func checkLoadReport(t *testing.T, name, mode string, rep loadReport, onlyChanged bool) {
	t.Helper()
	const streams = 50

	if rep.Connect.Settled != streams || rep.Connect.Failed != 0 || rep.Connect.Connections != streams {
		t.Errorf("%s connect: %d of %d streams settled over %d connections, %d failed", name,
			rep.Connect.Settled, streams, rep.Connect.Connections, rep.Connect.Failed)
	}
	// docs/benchmarks.md quotes the server's CPU during the connect from this field.
	if rep.Connect.ServerCPUSeconds == nil {
		t.Errorf("%s connect: no server CPU (the run has the server's pid)", name)
	}
	// Each stream received the whole configuration: a cluster and a load
	// assignment per pool, the listener and its route configuration.
	for typ, want := range map[string]float64{"CDS": 20, "EDS": 20, "LDS": 1, "RDS": 1} {
		if got := rep.Connect.ResourcesPerStream[typ]; got < want {
			t.Errorf("connect: %s resources per stream = %v, want at least %v", typ, got, want)
		}
	}
	if len(rep.Changes) != 1 {
		t.Fatalf("got %d change reports, want 1", len(rep.Changes))
	}
	ch := rep.Changes[0]
	if ch.Pool != modelgen.PoolName(7) {
		t.Errorf("changed pool %q, want %q", ch.Pool, modelgen.PoolName(7))
	}
	if ch.Updated != streams || ch.BytesPerStreamMin <= 0 {
		t.Errorf("change: %d of %d streams ACKed a new version; least bytes received %d",
			ch.Updated, streams, ch.BytesPerStreamMin)
	}
	if ch.ResourcesPerStream["EDS"] < 1 {
		t.Errorf("change: EDS resources per stream = %v, want the changed pool's load assignment", ch.ResourcesPerStream["EDS"])
	}
	if mode == "delta" || onlyChanged {
		// Only what changed: the pool's load assignment (and at most its
		// cluster), nothing of the other pools, listeners or routes.
		r := ch.ResourcesPerStream
		if r["EDS"] != 1 || r["CDS"] > 1 || r["LDS"] != 0 || r["RDS"] != 0 {
			t.Errorf("%s %s change sent %v resources per stream; want EDS 1, CDS at most 1, no LDS/RDS", name, mode, r)
		}
	} else if r := ch.ResourcesPerStream; r["EDS"] < 20 {
		// The stock snapshot cache answers a moved EDS version with every load
		// assignment: the full state docs/benchmarks.md compares poolpilot with.
		t.Errorf("%s %s change sent %v resources per stream; want every load assignment (20)", name, mode, r)
	}
	if len(rep.StreamErrors) > 0 {
		t.Errorf("%s stream errors: %v", name, rep.StreamErrors)
	}
}
