package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"

	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/reload"
)

// Options configure the admin HTTP server. Server is required; the rest optional.
type Options struct {
	Server *xds.Server
	// Reloader, when set, supplies the last reload result and the model behind the pool
	// table; without it /status shows the server's own apply state only.
	Reloader *reload.Reloader
	// Metrics, when set, is served on /metrics.
	Metrics *Metrics
	// Breaker, when set, adds the fleet breaker's table to /status and /, and its series
	// to Metrics. *breaker.Engine implements it.
	Breaker BreakerView
	// Pprof mounts net/http/pprof on /debug/pprof/ (off by default: it exposes stacks
	// and lets a caller burn CPU).
	Pprof  bool
	Logger *slog.Logger
}

// Server is the admin HTTP server: the endpoints of the route table (routes.go). It binds
// wherever it is told; serve binds 127.0.0.1 unless configured otherwise, as nothing here
// is authenticated.
type Server struct {
	opts  Options
	mux   *http.ServeMux
	paths []string // served, in the table's order
}

// New builds the admin handlers.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Breaker = breakerOrNil(opts.Breaker)
	a := &Server{opts: opts, mux: http.NewServeMux()}
	if err := opts.Metrics.ObserveServer(opts.Server); err != nil {
		opts.Logger.Error("node group version metrics not registered", "error", err)
	}
	if opts.Breaker != nil {
		if err := opts.Metrics.ObserveBreaker(opts.Breaker); err != nil {
			opts.Logger.Error("breaker metrics not registered", "error", err)
		}
	}
	for _, r := range routes {
		if h := r.handler(a); h != nil {
			a.mux.Handle(r.pattern, h)
			a.paths = append(a.paths, r.Path)
		}
	}
	return a
}

// Handler is the admin mux, for tests and embedding.
func (a *Server) Handler() http.Handler { return a.mux }

// ShutdownTimeout bounds how long Serve waits for in-flight admin requests.
const ShutdownTimeout = 2 * time.Second

// Admin server limits. Each admin connection is a file descriptor the process shares
// with the xDS port: without a cap, a few hundred idle keep-alive connections exhaust a
// low descriptor limit and nodes cannot connect. docs/operations.md has the budget.
const (
	// MaxConns is how many admin connections are open at once; more wait in the
	// kernel's accept queue.
	MaxConns = 64
	// adminReadTimeout bounds reading a request (headers and body); the admin API takes
	// no body.
	adminReadTimeout = 10 * time.Second
	// adminWriteTimeout bounds writing a response; above pprof's default 30 s profile.
	adminWriteTimeout = 60 * time.Second
	// adminIdleTimeout closes a keep-alive connection idle this long.
	adminIdleTimeout = 30 * time.Second
	adminMaxHeader   = 64 << 10
)

// Serve serves the admin endpoints on lis until ctx ends, then shuts down, waiting at
// most ShutdownTimeout for in-flight requests, and returns nil. It accepts at most
// MaxConns connections at once.
func (a *Server) Serve(ctx context.Context, lis net.Listener) error {
	lis = netutil.LimitListener(lis, MaxConns)
	hs := &http.Server{
		Handler:           a.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       adminIdleTimeout,
		MaxHeaderBytes:    adminMaxHeader,
		ErrorLog:          slog.NewLogLogger(a.opts.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (a *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// ready: a good model is loaded and its snapshots are set.
func (a *Server) ready() (bool, string) {
	if a.opts.Reloader != nil && !a.opts.Reloader.Ready() {
		return false, "no good model loaded yet"
	}
	if a.opts.Server.Version() == "" {
		return false, "no snapshots set yet"
	}
	return true, "ready"
}

func (a *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	ok, why := a.ready()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(why + "\n"))
}

func (a *Server) statusJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(a.Status()); err != nil {
		a.opts.Logger.Warn("write /status", "error", err)
	}
}
