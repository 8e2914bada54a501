package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolpilot/poolpilot/examples"
	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/admin"
	"github.com/poolpilot/poolpilot/xds/lrs"
	"github.com/poolpilot/poolpilot/xds/reload"
)

func (a *app) serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [--model PATH]",
		Short: "Serve a model to Envoy proxies and proxyless gRPC clients over ADS",
		Long: `serve loads a model (a file, or a directory of *.yaml files), translates it for every
node group (region × client kind) and serves the snapshots over ADS, state-of-the-world
and delta. Without --model it serves the embedded example (examples/failover/model.yaml).

With --model, an edit of the model (or SIGHUP) reloads it: a model that fails validation
changes nothing, its errors are logged with file:line, and the last good one keeps serving.
A reload that removes more than half of the served listeners or APIs is refused unless
--allow-shrink.

A model with backend credentials is refused on an --xds-address other hosts can reach
unless xDS uses mutual TLS (--xds-client-ca) or --insecure-serve-credentials is given:
the xDS port gives every client that connects its node group's credentials. With mutual
TLS a node may claim only the regions its certificate names (URI SAN
urn:poolpilot:region:<region>).

The admin address is not authenticated, so keep it on a private address. It serves:

` + admin.HelpText() + `
serve stops gracefully on SIGINT or SIGTERM.`,
		Example: `  poolpilot serve
  poolpilot serve --model examples/failover --log-format json
  poolpilot serve --model /etc/poolpilot --xds-address 0.0.0.0:18000 \
    --xds-tls-cert server.pem --xds-tls-key server.key --xds-client-ca ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), // set by run's ExecuteContext
				syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return a.serve(ctx)
		},
	}
	f := cmd.Flags()
	f.String("model", "", "model file or directory of *.yaml files (default: the embedded example)")
	f.String("xds-address", "127.0.0.1:18000", "address to serve xDS (gRPC) on")
	f.String("admin-address", "127.0.0.1:19000", "address of the admin HTTP endpoints ("+strings.Join(admin.AlwaysServed(), " ")+")")
	f.Bool("watch", true, "reload --model when its files change (SIGHUP always reloads)")
	f.Duration("lrs-interval", lrs.DefaultInterval, "load reporting interval the fleet breaker asks every Envoy and gRPC client for (at least 1ms)")
	addModelFlags(f)
	addLiveFlags(f) // TLS, reload debounce, pprof: serve_live.go
	return cmd
}

// serve runs until ctx ends, then stops gracefully and returns nil.
func (a *app) serve(ctx context.Context) error {
	path := a.v.GetString("model")
	// The context abandons a reload in progress when serve stops.
	loadOpts, err := a.modelOptions(ctx)
	if err != nil {
		return err
	}
	m, err := a.loadServeModel(path, loadOpts)
	if err != nil {
		return err
	}

	interval := a.v.GetDuration("lrs-interval")
	if interval < time.Millisecond {
		// grpc-go panics on a zero interval, and Envoy arms its timer in whole milliseconds.
		return fmt.Errorf("--lrs-interval %s: want at least 1ms (e.g. 1s)", interval)
	}
	xdsAddr, adminAddr := a.v.GetString("xds-address"), a.v.GetString("admin-address")
	guard := a.credentialGuard(xdsAddr, a.v.GetString("xds-client-ca") != "")
	if guard != nil {
		if err := guard(m); err != nil {
			return err
		}
	}

	metrics := admin.NewMetrics()
	srv := xds.New(xds.Options{Logger: a.log, Observer: metrics, LRSInterval: interval})
	// Apply logs every node group it builds, with its versions.
	if err := srv.Apply(m); err != nil {
		return fmt.Errorf("apply model: %w", err)
	}
	ropts := reload.Options{Observer: metrics, Logger: a.log, AllowShrink: a.v.GetBool("allow-shrink"), Check: guard}
	reloadPath := path
	if path == "" {
		// The embedded model never changes; the Reloader only reports it in /status.
		reloadPath = examples.FailoverModelPath + " (embedded)"
		ropts.Load = func(string) (*model.Model, error) { return loadEmbedded(loadOpts) }
	}
	rl := reload.ForServer(reloadPath, srv, ropts, loadOpts...)
	rl.Adopt(m, "startup")

	grpcOpts, err := a.xdsServerOptions()
	if err != nil {
		return err
	}
	xlis, err := net.Listen("tcp", xdsAddr)
	if err != nil {
		return fmt.Errorf("--xds-address %s: %w", xdsAddr, err)
	}
	alis, err := net.Listen("tcp", adminAddr)
	if err != nil {
		_ = xlis.Close()
		return fmt.Errorf("--admin-address %s: %w", adminAddr, err)
	}
	adm := admin.New(admin.Options{Server: srv, Reloader: rl, Metrics: metrics, Breaker: srv.Breaker(), Logger: a.log,
		Pprof: a.v.GetBool("admin-pprof")})

	// Every part runs until ctx ends; the first to fail stops the others.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	start := func(i int, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs[i] = err
				cancel()
			}
		}()
	}
	start(0, func() error { return wrap("serve xDS", srv.Serve(ctx, xlis, grpcOpts...)) })
	start(1, func() error { return wrap("serve admin", adm.Serve(ctx, alis)) })
	a.log.Info("serving xDS (ADS, state-of-the-world and delta)", "xds_address", xlis.Addr().String(),
		"lrs_interval", srv.LoadReporting().Interval())
	a.log.Info("serving admin endpoints ("+strings.Join(adm.Paths(), " ")+")", "admin_address", alis.Addr().String())
	if path != "" {
		onHUP := rl.ListenSignals(syscall.SIGHUP) // caught from here on, not from when the goroutine runs
		start(2, func() error { onHUP(ctx); return nil })
		if a.v.GetBool("watch") {
			// Watch logs "watching model for changes" once its watch is in place.
			start(3, func() error { return wrap("watch model", rl.Watch(ctx, a.watchOptions())) })
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	a.log.Info("stopped")
	return nil
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// loadServeModel loads path, or the embedded example when path is "". Load errors are
// logged one per problem, each with its file:line.
func (a *app) loadServeModel(path string, opts []model.Option) (*model.Model, error) {
	var m *model.Model
	var err error
	if path == "" {
		a.log.Info("no --model given: serving the embedded example model", "model", examples.FailoverModelPath)
		m, err = loadEmbedded(opts)
	} else {
		a.log.Info("loading model", "model", path)
		m, err = model.Load(path, opts...)
	}
	if err != nil {
		es, _ := model.AsErrors(err)
		for _, e := range es {
			a.log.Error("invalid model", "error", e.Error())
		}
		return nil, reportedError{exitError}
	}
	a.log.Info("model loaded", "model", cmp.Or(path, examples.FailoverModelPath), "contents", summary(m))
	return m, nil
}

func loadEmbedded(opts []model.Option) (*model.Model, error) {
	return model.LoadBytes(examples.FailoverModelPath, examples.FailoverModel, opts...)
}
