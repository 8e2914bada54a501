package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Response is the HTTP response body.
type Response struct {
	FunctionAppName string `json:"functionAppName"`
	Region          string `json:"region"`
	KeyReceived     bool   `json:"keyReceived"`
	Status          int    `json:"status"`
	Path            string `json:"path"`
	Error           string `json:"error,omitempty"`
}

// Headers every answer carries, so a client behind a proxy sees who served it.
const (
	HeaderName   = "x-backend-name"
	HeaderRegion = "x-backend-region"
)

// serveHTTP answers every path and method of the serving HTTP port.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.httpRequests.Add(1)
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	d, err := s.await(r.Context())
	if err != nil && !errors.Is(err, errShuttingDown) {
		return // the client is gone; there is no one to answer
	}
	resp := Response{
		FunctionAppName: s.cfg.Name,
		Region:          s.cfg.Region,
		// Only presence is reported: the credential's value is never echoed or logged.
		KeyReceived: strings.TrimSpace(r.Header.Get(s.cfg.CredentialHeader)) != "",
		Path:        r.URL.Path,
	}
	switch {
	case err != nil:
		resp.Status, resp.Error = http.StatusServiceUnavailable, err.Error()
	case d.failing:
		resp.Status, resp.Error = d.failStatus, "failing on purpose (admin switch)"
	case readErr != nil:
		resp.Status, resp.Error = http.StatusBadRequest, "request body: "+readErr.Error()
	default:
		st, perr := StatusFromBody(body, s.cfg.Name)
		if perr != nil {
			st, resp.Error = http.StatusBadRequest, perr.Error()
		}
		resp.Status = st
	}
	s.log.Debug("http request", "method", r.Method, "path", r.URL.Path, "status", resp.Status, "keyReceived", resp.KeyReceived)
	w.Header().Set(HeaderName, s.cfg.Name)
	w.Header().Set(HeaderRegion, s.cfg.Region)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.Status)
	_ = json.NewEncoder(w).Encode(resp)
}

// testService is grpc's interop TestService: EmptyCall and UnaryCall answer,
// the rest stay unimplemented.
type testService struct {
	testgrpc.UnimplementedTestServiceServer
	s *Server
}

func (t *testService) EmptyCall(ctx context.Context, _ *testgrpc.Empty) (*testgrpc.Empty, error) {
	if err := t.s.grpcOutcome(ctx, "EmptyCall"); err != nil {
		return nil, err
	}
	return &testgrpc.Empty{}, nil
}

// UnaryCall reports the backend's name in Hostname and ServerId.
func (t *testService) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if err := t.s.grpcOutcome(ctx, "UnaryCall"); err != nil {
		return nil, err
	}
	return &testgrpc.SimpleResponse{Hostname: t.s.cfg.Name, ServerId: t.s.cfg.Name}, nil
}

// grpcOutcome counts the RPC, waits out an rpc-level hang, and returns the
// status error the RPC must fail with, or nil.
func (s *Server) grpcOutcome(ctx context.Context, method string) error {
	s.grpcRequests.Add(1)
	_ = grpc.SetHeader(ctx, metadata.Pairs(HeaderName, s.cfg.Name, HeaderRegion, s.cfg.Region))
	d, err := s.await(ctx)
	switch {
	case errors.Is(err, errShuttingDown):
		return status.Error(codes.Unavailable, err.Error())
	case err != nil:
		return status.FromContextError(err).Err()
	case d.failing:
		s.log.Debug("grpc request", "method", method, "code", d.failCode.String())
		return status.Errorf(d.failCode, "backend %s failing on purpose (admin switch, HTTP status %d)", s.cfg.Name, d.failStatus)
	}
	s.log.Debug("grpc request", "method", method, "code", codes.OK.String())
	return nil
}

// adminHandler serves the admin switch on its own listener, so that stopping
// the serving listeners leaves the switch reachable.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.State())
	})
	mux.HandleFunc("POST /admin/fail", func(w http.ResponseWriter, r *http.Request) {
		st, code, err := parseFail(r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.adminResult(w, s.Fail(st, code))
	})
	mux.HandleFunc("POST /admin/stop", func(w http.ResponseWriter, r *http.Request) {
		s.Stop()
		s.adminResult(w, nil)
	})
	mux.HandleFunc("POST /admin/hang", func(w http.ResponseWriter, r *http.Request) {
		level := r.URL.Query().Get("level")
		if level == "" {
			level = HangRPC
		}
		if level != HangRPC && level != HangTCP {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("level %q: want %q (default) or %q", level, HangRPC, HangTCP)})
			return
		}
		s.adminResult(w, s.Hang(level))
	})
	mux.HandleFunc("POST /admin/recover", func(w http.ResponseWriter, r *http.Request) {
		s.adminResult(w, s.Recover())
	})
	return mux
}

func (s *Server) adminResult(w http.ResponseWriter, err error) {
	if err != nil {
		s.log.Error("admin switch failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, s.State())
}

// parseFail reads ?status= (400–599, default 503) and ?grpc-code= (default:
// mapped from the status by GRPCCodeForHTTP).
func parseFail(r *http.Request) (int, codes.Code, error) {
	q := r.URL.Query()
	st := http.StatusServiceUnavailable
	if v := q.Get("status"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 400 || n > 599 {
			return 0, 0, fmt.Errorf("status %q: want an HTTP failure status 400–599", v)
		}
		st = n
	}
	code := GRPCCodeForHTTP(st)
	if v := q.Get("grpc-code"); v != "" {
		c, err := ParseGRPCCode(v)
		if err != nil {
			return 0, 0, err
		}
		code = c
	}
	return st, code, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
