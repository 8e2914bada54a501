package main

import (
	"context"
	"fmt"
	"net"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/poolpilot/poolpilot/examples"
	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds"
)

func (a *app) serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [--model PATH]",
		Short: "Serve a model to Envoy proxies and proxyless gRPC clients over ADS",
		Long: `serve loads a model (a file, or a directory of *.yaml files), translates it for every
node group (region × client kind) and serves the snapshots over ADS, state-of-the-world
and delta. Without --model it serves the embedded example (examples/failover/model.yaml).
It stops gracefully on SIGINT or SIGTERM.`,
		Example: `  poolpilot serve
  poolpilot serve --model examples/failover --xds-address 0.0.0.0:18000 --log-format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(contextOf(cmd), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return a.serve(ctx)
		},
	}
	f := cmd.Flags()
	f.String("model", "", "model file or directory of *.yaml files (default: the embedded example)")
	f.String("xds-address", "127.0.0.1:18000", "address to serve xDS (gRPC) on")
	f.String("admin-address", "127.0.0.1:19000", "address for the admin endpoints (not served yet)")
	return cmd
}

// serve runs until ctx ends, then stops gracefully and returns nil.
func (a *app) serve(ctx context.Context) error {
	m, err := a.loadServeModel()
	if err != nil {
		return err
	}

	srv := xds.New(xds.Options{Logger: a.log, Translate: translator.Translate})
	// Apply logs every node group it builds, with its versions.
	if err := srv.Apply(m); err != nil {
		return fmt.Errorf("apply model: %w", err)
	}

	addr := a.v.GetString("xds-address")
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--xds-address %s: %w", addr, err)
	}
	a.log.Info("serving xDS (ADS, state-of-the-world and delta)", "xds_address", lis.Addr().String())
	// The admin server (healthz, metrics, status) is not built yet: say so instead of
	// binding an address that answers nothing.
	a.log.Info("admin endpoints are not implemented yet; nothing is bound", "admin_address", a.v.GetString("admin-address"))

	if err := srv.Serve(ctx, lis); err != nil {
		return fmt.Errorf("serve xDS on %s: %w", lis.Addr(), err)
	}
	a.log.Info("stopped")
	return nil
}

// loadServeModel loads --model, or the embedded example when it is not set. Load errors
// are logged one per problem, each with its file:line.
func (a *app) loadServeModel() (*model.Model, error) {
	path := a.v.GetString("model")
	var m *model.Model
	var err error
	if path == "" {
		a.log.Info("no --model given: serving the embedded example model", "model", examples.FailoverModelPath)
		m, err = model.LoadBytes(examples.FailoverModelPath, examples.FailoverModel)
	} else {
		a.log.Info("loading model", "model", path)
		m, err = model.Load(path)
	}
	if err != nil {
		es, _ := model.AsErrors(err)
		for _, e := range es {
			a.log.Error("invalid model", "error", e.Error())
		}
		return nil, reportedError{exitError}
	}
	a.log.Info("model loaded", "model", firstNonEmpty(path, examples.FailoverModelPath), "contents", summary(m))
	return m, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
