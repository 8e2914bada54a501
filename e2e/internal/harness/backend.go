package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// BackendPackage is the demo backend's main package, relative to the module root.
const BackendPackage = "./examples/backend"

// backendListening matches the demo backend's start line, e.g.
// `... msg=listening backend=func-a region=x http=127.0.0.1:1 grpc=127.0.0.1:2 admin=127.0.0.1:3`.
var backendListening = regexp.MustCompile(`msg=listening .*\bhttp=(\S+) grpc=(\S+) admin=(\S+)$`)

// BackendOptions describe a demo backend to start.
type BackendOptions struct {
	Name   string // the Function App name it answers as (required)
	Region string
	// CredentialHeader is the header reported as keyReceived; empty means the
	// backend's default, x-functions-key.
	CredentialHeader string
	// Listen addresses; empty means 127.0.0.1:0 (the backend reports the port).
	HTTPAddress, GRPCAddress, AdminAddress string
	// Args are extra flags (e.g. "--log-level=debug"); Env extra "K=V" entries.
	Args []string
	Env  []string
}

// Backend is a running demo backend process.
type Backend struct {
	Name, Region string
	// Resolved listen addresses, host:port on 127.0.0.1.
	HTTPAddr, GRPCAddr, AdminAddr string
	Process                       *Process
	Admin                         *AdminClient
}

// StartBackend builds (once) and starts the demo backend, waits up to 30 s
// for its "listening" line and returns its addresses. It stops with the test
// (or when ctx ends), like Start.
func StartBackend(ctx context.Context, t testing.TB, opts BackendOptions) *Backend {
	t.Helper()
	if opts.Name == "" {
		t.Fatal("harness: StartBackend: BackendOptions.Name is empty; want the Function App name")
	}
	orLoopback := func(a string) string {
		if a == "" {
			return "127.0.0.1:0"
		}
		return a
	}
	args := []string{
		"--name", opts.Name, "--region", opts.Region,
		"--http-address", orLoopback(opts.HTTPAddress),
		"--grpc-address", orLoopback(opts.GRPCAddress),
		"--admin-address", orLoopback(opts.AdminAddress),
	}
	if opts.CredentialHeader != "" {
		args = append(args, "--credential-header", opts.CredentialHeader)
	}
	args = append(args, opts.Args...)
	p := Start(ctx, t, Options{Bin: Build(t, BackendPackage), Args: args, Env: opts.Env, Name: "backend " + opts.Name})
	m := p.RequireLine(t, backendListening, 30*time.Second)
	return &Backend{
		Name: opts.Name, Region: opts.Region,
		HTTPAddr: m[1], GRPCAddr: m[2], AdminAddr: m[3],
		Process: p,
		Admin:   NewAdminClient(m[3]),
	}
}

// URL returns "http://<HTTPAddr><path>".
func (b *Backend) URL(path string) string { return "http://" + b.HTTPAddr + path }

// BackendState is the demo backend's GET /admin/state answer.
type BackendState struct {
	Name   string `json:"name"`
	Region string `json:"region"`
	// Mode is "serving", "failing", "stopped" or "hung".
	Mode             string `json:"mode"`
	FailStatus       int    `json:"failStatus,omitempty"`
	FailGRPCCode     uint32 `json:"failGrpcCode,omitempty"`
	FailGRPCCodeName string `json:"failGrpcCodeName,omitempty"`
	// HangLevel is "rpc" or "tcp" while hung.
	HangLevel string `json:"hangLevel,omitempty"`
	// Requests counts requests that reached the handlers (whatever the
	// answer), per protocol, since the start.
	Requests struct {
		HTTP uint64 `json:"http"`
		GRPC uint64 `json:"grpc"`
	} `json:"requests"`
	Addresses struct {
		HTTP  string `json:"http"`
		GRPC  string `json:"grpc"`
		Admin string `json:"admin"`
	} `json:"addresses"`
}

// AdminClient drives a demo backend's admin switch. Every call returns the
// state after the change. It is safe for concurrent use.
type AdminClient struct {
	base string
	hc   *http.Client
}

// NewAdminClient returns a client for the admin listener at addr (host:port).
func NewAdminClient(addr string) *AdminClient {
	return &AdminClient{base: "http://" + addr, hc: &http.Client{Timeout: 10 * time.Second}}
}

// Fail makes every request fail: HTTP with httpStatus (400–599; 0 means the
// backend's default 503), gRPC with the mapped code (503→UNAVAILABLE,
// 500→INTERNAL, see examples/backend/README.md).
func (a *AdminClient) Fail(ctx context.Context, httpStatus int) (BackendState, error) {
	q := url.Values{}
	if httpStatus != 0 {
		q.Set("status", strconv.Itoa(httpStatus))
	}
	return a.post(ctx, "/admin/fail", q)
}

// FailGRPC is Fail with an explicit gRPC code (httpStatus 0 means 503).
func (a *AdminClient) FailGRPC(ctx context.Context, httpStatus int, code codes.Code) (BackendState, error) {
	q := url.Values{"grpc-code": {strconv.Itoa(int(code))}}
	if httpStatus != 0 {
		q.Set("status", strconv.Itoa(httpStatus))
	}
	return a.post(ctx, "/admin/fail", q)
}

// Stop closes the HTTP and gRPC listeners and connections: connection refused.
func (a *AdminClient) Stop(ctx context.Context) (BackendState, error) {
	return a.post(ctx, "/admin/stop", nil)
}

// Hang keeps accepting connections and requests but answers none until
// Recover (gRPC RPCs end at their deadline).
func (a *AdminClient) Hang(ctx context.Context) (BackendState, error) {
	return a.post(ctx, "/admin/hang", url.Values{"level": {"rpc"}})
}

// HangTCP accepts TCP connections and never reads or writes (no HTTP/2
// handshake); open connections are closed first.
func (a *AdminClient) HangTCP(ctx context.Context) (BackendState, error) {
	return a.post(ctx, "/admin/hang", url.Values{"level": {"tcp"}})
}

// Recover re-listens if stopped, releases hung requests and answers normally.
func (a *AdminClient) Recover(ctx context.Context) (BackendState, error) {
	return a.post(ctx, "/admin/recover", nil)
}

// State returns the mode and the request counters.
func (a *AdminClient) State(ctx context.Context) (BackendState, error) {
	return a.do(ctx, http.MethodGet, "/admin/state", nil)
}

func (a *AdminClient) post(ctx context.Context, path string, q url.Values) (BackendState, error) {
	return a.do(ctx, http.MethodPost, path, q)
}

func (a *AdminClient) do(ctx context.Context, method, path string, q url.Values) (BackendState, error) {
	u := a.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var st BackendState
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return st, err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return st, fmt.Errorf("backend admin %s %s: %w", method, u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return st, fmt.Errorf("backend admin %s %s: read: %w", method, u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("backend admin %s %s: %s: %s", method, u, resp.Status, body)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("backend admin %s %s: decode %q: %w", method, u, body, err)
	}
	return st, nil
}
