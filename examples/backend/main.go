// Command backend is poolpilot's demo backend: a stand-in for the scenario's
// regional Function Apps. It answers HTTP on any path (the scenario's
// POST /api/ProcessRequestFunction), serves grpc's interop TestService, and has
// an admin switch on its own listener to fail, stop, hang and recover.
// See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/poolpilot/poolpilot/examples/backend/internal/demo"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

// run parses flags (with BACKEND_* environment fallbacks, for compose), serves
// until SIGTERM/SIGINT, and returns the exit code.
func run(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, level, err := parseFlags(args, getenv, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "backend:", err)
		return 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	srv, err := demo.New(cfg)
	if err != nil {
		cfg.Logger.Error("invalid configuration", "err", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := srv.Start(); err != nil {
		cfg.Logger.Error("cannot start", "err", err)
		return 1
	}
	<-ctx.Done()
	cfg.Logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Close(sctx); err != nil {
		cfg.Logger.Warn("shutdown was not clean", "err", err)
	}
	cfg.Logger.Info("stopped")
	return 0
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (demo.Config, slog.Level, error) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg demo.Config
	fs.StringVar(&cfg.Name, "name", env("BACKEND_NAME", ""), "Function App name this backend stands in for (required) [BACKEND_NAME]")
	fs.StringVar(&cfg.Region, "region", env("BACKEND_REGION", ""), "region reported in responses [BACKEND_REGION]")
	fs.StringVar(&cfg.HTTPAddress, "http-address", env("BACKEND_HTTP_ADDRESS", "127.0.0.1:8080"), "HTTP listen address; port 0 picks one [BACKEND_HTTP_ADDRESS]")
	fs.StringVar(&cfg.GRPCAddress, "grpc-address", env("BACKEND_GRPC_ADDRESS", "127.0.0.1:8081"), "gRPC listen address [BACKEND_GRPC_ADDRESS]")
	fs.StringVar(&cfg.AdminAddress, "admin-address", env("BACKEND_ADMIN_ADDRESS", "127.0.0.1:8082"), "admin switch listen address, separate so it survives /admin/stop [BACKEND_ADMIN_ADDRESS]")
	fs.StringVar(&cfg.CredentialHeader, "credential-header", env("BACKEND_CREDENTIAL_HEADER", "x-functions-key"), "header whose presence is reported as keyReceived [BACKEND_CREDENTIAL_HEADER]")
	levelName := fs.String("log-level", env("BACKEND_LOG_LEVEL", "info"), "debug logs every request: debug|info|warn|error [BACKEND_LOG_LEVEL]")
	if err := fs.Parse(args); err != nil {
		return cfg, 0, err
	}
	if fs.NArg() > 0 {
		return cfg, 0, fmt.Errorf("unexpected arguments %q: all settings are flags", fs.Args())
	}
	if cfg.Name == "" {
		return cfg, 0, fmt.Errorf("--name (or BACKEND_NAME) is required: the Function App name this backend answers as")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*levelName)); err != nil {
		return cfg, 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", *levelName)
	}
	return cfg, level, nil
}
