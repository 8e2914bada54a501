// Command poolpilot-load measures how poolpilot scales: it opens many ADS streams as
// simulated Envoy nodes spread over regions (state-of-the-world or delta), by default
// each on its own gRPC connection as a real fleet connects, subscribes
// the way Envoy does (CDS, then EDS for the clusters; LDS, then RDS for the listeners'
// route configs), ACKs every response, and then measures how long a one-pool change to
// the model on disk takes to be ACKed by every stream, how many bytes each stream
// received for it, and what the idle streams cost the server in memory.
//
//	poolpilot-load gen --pools 1000 --backends-per-pool 10 --regions 5 -o model.yaml
//	poolpilot-load --streams 5000 --regions 5 --mode sotw --xds-address 127.0.0.1:18000 \
//	    --mutate model.yaml --server-pid PID --admin-address 127.0.0.1:19000 [--json] \
//	    [--compare baseline]
//	poolpilot-load baseline --model model.yaml [--xds-address 127.0.0.1:0]
//
// --compare runs the same load against a second server afterwards and prints the ratios;
// "baseline" starts the baseline subcommand, a plain go-control-plane snapshot-cache
// server of the same model (baseline.go), as a child process.
//
// See docs/benchmarks.md for the method and the figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/poolpilot/poolpilot/internal/modelgen"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "gen":
		err = runGen(os.Args[2:], os.Stdout)
	case len(os.Args) > 1 && os.Args[1] == "baseline":
		err = runBaseline(ctx, os.Args[2:], os.Stdout, logger)
	default:
		err = runLoad(ctx, os.Args[1:], os.Stdout, logger)
	}
	switch {
	case errors.Is(err, flag.ErrHelp): // the flag package has printed the usage
	case err != nil:
		logger.Error("poolpilot-load failed", "err", err)
		os.Exit(1)
	}
}

// runGen writes a generated model.
func runGen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	var s modelgen.Spec
	fs.IntVar(&s.Pools, "pools", 100, "pools (one API each)")
	fs.IntVar(&s.BackendsPerPool, "backends-per-pool", 10, "backends per pool (1..100)")
	fs.IntVar(&s.Regions, "regions", 5, "regions the backends are spread over")
	fs.IntVar(&s.Listeners, "listeners", 1, "listeners the APIs are spread over")
	fs.BoolVar(&s.Credentials, "credentials", false, "give every backend a credentials header")
	out := fs.String("o", "-", "output file; - for stdout")
	dir := fs.String("dir", "", "write a model directory of several files instead (each file stays under the loader's size limit)")
	perFile := fs.Int("pools-per-file", 0, "pools per file with --dir; 0 scales with --backends-per-pool so each file stays near 1 MB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir != "" {
		files, err := modelgen.Files(s, *perFile)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			return err
		}
		for _, f := range files {
			if err := writeFileAtomic(filepath.Join(*dir, f.Name), f.Data); err != nil {
				return err
			}
		}
		return nil
	}
	data, err := modelgen.YAML(s)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err = stdout.Write(data)
		return err
	}
	return writeFileAtomic(*out, data)
}

// mutate reverses one pool's priorities in the model at path, a file or a directory
// (where the file holding the pool is rewritten). It returns the pool's name.
func mutate(path, pool string) (string, error) {
	m, err := prepareMutation(path, pool)
	if err != nil {
		return "", err
	}
	return m.pool, m.write()
}

// mutation is a one-pool change ready to be written.
type mutation struct {
	file, pool string
	data       []byte
}

// write replaces the file: the change, as the server sees it.
func (m mutation) write() error { return writeFileAtomic(m.file, m.data) }

// prepareMutation reads the model at path and builds the change reversing pool's
// priorities (the model's first pool when empty), without writing it: a change is timed
// from its write, not from this tool's own parse of the model.
func prepareMutation(path, pool string) (mutation, error) {
	files := []string{path}
	if st, err := os.Stat(path); err != nil {
		return mutation{}, err
	} else if st.IsDir() {
		files, err = filepath.Glob(filepath.Join(path, "*.yaml"))
		if err != nil {
			return mutation{}, err
		}
		sort.Strings(files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return mutation{}, err
		}
		out, name, err := modelgen.ReversePriorities(data, pool)
		if err != nil {
			if len(files) > 1 {
				continue // the pool lives in another file
			}
			return mutation{}, fmt.Errorf("%s: %w", f, err)
		}
		return mutation{file: f, pool: name, data: out}, nil
	}
	return mutation{}, fmt.Errorf("%s: no file holds pool %q", path, pool)
}

// writeFileAtomic replaces path with data through a rename, so a watcher never reads a
// half-written model (editors and Kubernetes ConfigMaps also replace files).
func writeFileAtomic(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.tmp-%d", filepath.Base(path), os.Getpid()))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// durationMS is a duration in milliseconds, for reports.
func durationMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
