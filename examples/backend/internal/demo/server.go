// Package demo is the demo backend: a stand-in for the scenario's regional
// Function Apps, serving HTTP and gRPC, with an admin switch that makes it
// fail, stop listening, hang, and recover.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/reflection"
)

// Config is what the backend needs to run. Addresses may use port 0; the
// resolved addresses are in State().Addresses and the "listening" log line.
type Config struct {
	Name             string
	Region           string
	HTTPAddress      string
	GRPCAddress      string
	AdminAddress     string
	CredentialHeader string
	Logger           *slog.Logger
}

// Mode is the admin switch's position.
type Mode string

const (
	ModeServing Mode = "serving" // answers normally
	ModeFailing Mode = "failing" // answers every request with the failure status/code
	ModeStopped Mode = "stopped" // serving listeners closed: connections are refused
	ModeHung    Mode = "hung"    // requests (level rpc) or connections (level tcp) are never answered
)

// Hang levels: rpc accepts connections and requests but never answers them;
// tcp accepts TCP connections and never reads or writes (no HTTP/2 handshake),
// which is what a frozen process looks like to a connecting client.
const (
	HangRPC = "rpc"
	HangTCP = "tcp"
)

// Counters count the requests that reached the backend's handlers, whatever
// they were answered (including failed and hung ones). Health checks and admin
// calls are not counted.
type Counters struct {
	HTTP uint64 `json:"http"`
	GRPC uint64 `json:"grpc"`
}

// Addresses are the resolved listen addresses.
type Addresses struct {
	HTTP  string `json:"http"`
	GRPC  string `json:"grpc"`
	Admin string `json:"admin"`
}

// State is what GET /admin/state returns.
type State struct {
	Name             string    `json:"name"`
	Region           string    `json:"region"`
	Mode             Mode      `json:"mode"`
	FailStatus       int       `json:"failStatus,omitempty"`
	FailGRPCCode     uint32    `json:"failGrpcCode,omitempty"`
	FailGRPCCodeName string    `json:"failGrpcCodeName,omitempty"`
	HangLevel        string    `json:"hangLevel,omitempty"`
	Requests         Counters  `json:"requests"`
	Addresses        Addresses `json:"addresses"`
}

var errShuttingDown = errors.New("backend is shutting down")

// Server is one demo backend.
type Server struct {
	cfg Config
	log *slog.Logger

	httpRequests atomic.Uint64
	grpcRequests atomic.Uint64

	adminSrv *http.Server
	addrs    Addresses // resolved on Start and fixed afterwards, so recover re-listens on the same ports
	wg       sync.WaitGroup

	mu         sync.Mutex
	mode       Mode
	failStatus int
	failCode   codes.Code
	hangLevel  string
	release    chan struct{} // closed when an rpc-level hang ends
	serving    *generation   // nil while stopped
	gate       *gate         // holds new connections while tcp-hung
	closed     bool
}

// generation is one life of the serving listeners: net/http and grpc servers
// cannot serve again once closed, so each recover builds new ones.
type generation struct {
	http *http.Server
	grpc *grpc.Server
}

// New checks cfg and returns a server that is not yet listening.
func New(cfg Config) (*Server, error) {
	if cfg.Name == "" {
		return nil, errors.New("demo backend: Name is empty; want the Function App name this backend stands in for")
	}
	if cfg.CredentialHeader == "" {
		cfg.CredentialHeader = "x-functions-key"
	}
	for field, v := range map[string]string{"HTTPAddress": cfg.HTTPAddress, "GRPCAddress": cfg.GRPCAddress, "AdminAddress": cfg.AdminAddress} {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return nil, fmt.Errorf("demo backend: %s %q: want host:port (port 0 picks a free port): %v", field, v, err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Server{cfg: cfg, log: log.With("backend", cfg.Name), mode: ModeServing, gate: newGate()}, nil
}

// Start binds the HTTP, gRPC and admin listeners and serves them until Close.
// It logs one line "listening" with http=, grpc= and admin= as the last
// attributes, which the e2e harness parses.
func (s *Server) Start() error {
	adminLn, err := net.Listen("tcp", s.cfg.AdminAddress)
	if err != nil {
		return fmt.Errorf("demo backend: admin listener on %s: %w", s.cfg.AdminAddress, err)
	}
	httpLn, grpcLn, err := listenServing(s.cfg.HTTPAddress, s.cfg.GRPCAddress)
	if err != nil {
		_ = adminLn.Close()
		return fmt.Errorf("demo backend: %w", err)
	}
	s.addrs = Addresses{HTTP: httpLn.Addr().String(), GRPC: grpcLn.Addr().String(), Admin: adminLn.Addr().String()}

	s.mu.Lock()
	s.serveLocked(httpLn, grpcLn)
	s.mu.Unlock()

	s.adminSrv = &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.adminSrv.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin server stopped", "err", err)
		}
	}()
	s.log.Info("listening", "region", s.cfg.Region,
		"http", s.addrs.HTTP, "grpc", s.addrs.GRPC, "admin", s.addrs.Admin)
	return nil
}

// Addresses returns the resolved listen addresses (valid after Start).
func (s *Server) Addresses() Addresses { return s.addrs }

// State returns the switch position and counters.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{
		Name: s.cfg.Name, Region: s.cfg.Region, Mode: s.mode, Addresses: s.addrs,
		Requests: Counters{HTTP: s.httpRequests.Load(), GRPC: s.grpcRequests.Load()},
	}
	switch s.mode {
	case ModeFailing:
		st.FailStatus, st.FailGRPCCode, st.FailGRPCCodeName = s.failStatus, uint32(s.failCode), s.failCode.String()
	case ModeHung:
		st.HangLevel = s.hangLevel
	}
	return st
}

// serveLocked starts a serving generation on the given listeners, behind the gate.
func (s *Server) serveLocked(httpLn, grpcLn net.Listener) {
	g := &generation{
		http: &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second},
		grpc: grpc.NewServer(),
	}
	testgrpc.RegisterTestServiceServer(g.grpc, &testService{s: s})
	healthpb.RegisterHealthServer(g.grpc, health.NewServer()) // SERVING for "" by default
	reflection.Register(g.grpc)                               // so grpcurl needs no proto files
	s.serving = g
	httpLn, grpcLn = s.gate.wrap(httpLn), s.gate.wrap(grpcLn)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := g.http.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("HTTP server stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := g.grpc.Serve(grpcLn); err != nil {
			s.log.Error("gRPC server stopped", "err", err)
		}
	}()
}

// ensureServingLocked re-listens on the resolved ports if the serving
// listeners are closed.
func (s *Server) ensureServingLocked() error {
	if s.serving != nil {
		return nil
	}
	httpLn, grpcLn, err := listenServing(s.addrs.HTTP, s.addrs.GRPC)
	if err != nil {
		return fmt.Errorf("re-listen: %w", err)
	}
	s.serveLocked(httpLn, grpcLn)
	return nil
}

// listenServing opens the HTTP and gRPC listeners, both or neither.
func listenServing(httpAddr, grpcAddr string) (httpLn, grpcLn net.Listener, err error) {
	httpLn, err = net.Listen("tcp", httpAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("HTTP listener on %s: %w", httpAddr, err)
	}
	grpcLn, err = net.Listen("tcp", grpcAddr)
	if err != nil {
		_ = httpLn.Close()
		return nil, nil, fmt.Errorf("gRPC listener on %s: %w", grpcAddr, err)
	}
	return httpLn, grpcLn, nil
}

// stopServingLocked closes the serving listeners and every open connection,
// as a crashed process would: clients see resets, then connection refused.
func (s *Server) stopServingLocked() {
	if s.serving == nil {
		return
	}
	_ = s.serving.http.Close()
	s.serving.grpc.Stop()
	s.serving = nil
}

func (s *Server) releaseLocked() {
	if s.release != nil {
		close(s.release)
		s.release = nil
	}
}

// Fail makes every request fail: HTTP with status, gRPC with code.
func (s *Server) Fail(status int, code codes.Code) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureServingLocked(); err != nil {
		return err
	}
	s.gate.pass()
	s.releaseLocked()
	s.mode, s.failStatus, s.failCode, s.hangLevel = ModeFailing, status, code, ""
	s.log.Info("admin: failing", "status", status, "grpcCode", code.String())
	return nil
}

// Stop closes the serving listeners (connection refused) and every open
// connection, held ones included; admin keeps working.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked()
	s.stopServingLocked()
	s.gate.pass()
	s.mode, s.hangLevel = ModeStopped, ""
	s.log.Info("admin: stopped serving listeners")
}

// Hang makes the backend stop answering at the given level (HangRPC or HangTCP).
func (s *Server) Hang(level string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch level {
	case HangRPC:
		if err := s.ensureServingLocked(); err != nil {
			return err
		}
		s.gate.pass()
		if s.release == nil {
			s.release = make(chan struct{})
		}
	case HangTCP:
		// The listeners stay open throughout: the gate holds every connection
		// from now on and closes the served ones, so a reconnecting client is
		// always accepted and held, never refused. From stopped, the gate holds
		// before the listeners reopen, so nothing is served in between.
		s.releaseLocked()
		s.gate.hold()
		if err := s.ensureServingLocked(); err != nil {
			return fmt.Errorf("hang at tcp level: %w", err)
		}
	default:
		return fmt.Errorf("hang level %q: want %q or %q", level, HangRPC, HangTCP)
	}
	s.mode, s.hangLevel = ModeHung, level
	s.log.Info("admin: hanging", "level", level)
	return nil
}

// Recover re-listens if needed, closes the connections held by a tcp-level
// hang (their clients reconnect and are served), releases hung requests (which
// are then answered normally) and answers normally again.
func (s *Server) Recover() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureServingLocked(); err != nil {
		return err
	}
	s.gate.pass()
	s.releaseLocked()
	s.mode, s.hangLevel = ModeServing, ""
	s.log.Info("admin: recovered")
	return nil
}

// decision is what a request handler must do, read under the lock once the
// request may proceed.
type decision struct {
	failing    bool
	failStatus int
	failCode   codes.Code
}

// await blocks while the backend hangs at rpc level, until recover, a mode
// change, shutdown or ctx's end, then says how to answer.
func (s *Server) await(ctx context.Context) (decision, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return decision{}, errShuttingDown
		}
		release := s.release
		if s.mode != ModeHung || release == nil {
			d := decision{failing: s.mode == ModeFailing, failStatus: s.failStatus, failCode: s.failCode}
			s.mu.Unlock()
			return d, nil
		}
		s.mu.Unlock()
		select {
		case <-release:
		case <-ctx.Done():
			return decision{}, ctx.Err()
		}
	}
}

// Close shuts the backend down: hung requests are released (answered 503 /
// UNAVAILABLE), in-flight requests get until ctx ends, then connections close.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.releaseLocked()
	s.gate.close()
	g := s.serving
	s.serving = nil
	s.mu.Unlock()

	var errs []error
	if g != nil {
		if err := g.http.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			_ = g.http.Close()
		}
		done := make(chan struct{})
		go func() { g.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			g.grpc.Stop()
			<-done
		}
	}
	if s.adminSrv != nil {
		if err := s.adminSrv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			_ = s.adminSrv.Close()
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}
