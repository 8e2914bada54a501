package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
)

// The baseline is the plain go-control-plane server a load run compares poolpilot with:
// the same model translated to the same resources, served the way go-control-plane's
// example does — a snapshot cache (one snapshot per node group, each type versioned by a
// hash of its resources, so it too sends only the types that changed), the stock server
// and callbacks, default gRPC options, a reload 200 ms after the model changes on disk
// (poolpilot's default debounce). None of poolpilot's serving logic: no premarshalling,
// no NACK handling, full-state EDS and RDS.

// baselineDebounce is poolpilot's default debounce, so change latencies compare.
const baselineDebounce = 200 * time.Millisecond

// runBaseline serves the model at --model until ctx ends. It prints one line,
// "baseline xds=ADDR admin=ADDR", once it serves.
func runBaseline(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	path := fs.String("model", "", "model file or directory (required); reloaded when it changes")
	xdsAddr := fs.String("xds-address", "127.0.0.1:0", "ADS listen address")
	adminAddr := fs.String("admin-address", "127.0.0.1:0", "admin listen address (/metrics, /debug/pprof/)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("baseline: --model is required")
	}
	snaps := cache.NewSnapshotCache(false, groupHash{}, nil)
	load := func() error {
		m, err := model.Load(*path)
		if err != nil {
			return err
		}
		return setBaselineSnapshots(ctx, snaps, m)
	}
	if err := load(); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}

	lis, err := net.Listen("tcp", *xdsAddr)
	if err != nil {
		return err
	}
	adminLis, err := net.Listen("tcp", *adminAddr)
	if err != nil {
		_ = lis.Close()
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	admin := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = admin.Serve(adminLis) }()
	defer func() { _ = admin.Close() }()

	g := grpc.NewServer()
	discovery.RegisterAggregatedDiscoveryServiceServer(g, serverv3.NewServer(ctx, snaps, nil))
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(lis) }()
	defer g.Stop()

	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer func() { _ = w.Close() }()
	dir := *path
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		dir = filepath.Dir(dir)
	}
	if err := w.Add(dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "baseline xds=%s admin=%s\n", lis.Addr(), adminLis.Addr())

	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case ev := <-w.Events:
			if strings.HasSuffix(ev.Name, ".yaml") || ev.Name == *path {
				fire = time.After(baselineDebounce)
			}
		case err := <-w.Errors:
			logger.Warn("baseline: watch", "err", err)
		case <-fire:
			fire = nil
			if err := load(); err != nil {
				logger.Error("baseline: reload", "err", err)
			}
		}
	}
}

// groupHash keeps one snapshot per node group, as poolpilot does, so both servers build
// and hold the same resources.
type groupHash struct{}

func (groupHash) ID(n *corev3.Node) string { return translator.GroupOf(n).Key() }

// setBaselineSnapshots translates m for each region of it and "" (Envoy and gRPC) and
// sets every group's snapshot.
func setBaselineSnapshots(ctx context.Context, snaps cache.SnapshotCache, m *model.Model) error {
	for _, g := range translator.BaseGroups(m) {
		res, err := translator.Translate(m, g)
		if err != nil {
			return err
		}
		snap := &cache.Snapshot{}
		for i, items := range map[types.ResponseType][]types.Resource{
			types.Cluster: res.Clusters, types.Endpoint: res.Endpoints, types.Route: res.Routes, types.Listener: res.Listeners,
		} {
			v, err := contentVersion(items)
			if err != nil {
				return err
			}
			snap.Resources[i] = cache.NewResources(v, items)
		}
		if err := snaps.SetSnapshot(ctx, g.Key(), snap); err != nil {
			return err
		}
	}
	return nil
}

// contentVersion hashes resources sorted by name.
func contentVersion(items []types.Resource) (string, error) {
	sorted := append([]types.Resource(nil), items...)
	sort.Slice(sorted, func(i, j int) bool { return cache.GetResourceName(sorted[i]) < cache.GetResourceName(sorted[j]) })
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	for _, r := range sorted {
		b, err := opts.Marshal(r)
		if err != nil {
			return "", fmt.Errorf("marshal %s %q: %w", proto.MessageName(r), cache.GetResourceName(r), err)
		}
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
