package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// waitBound is the upper bound on any wait in these tests; it is never a speed assertion.
const waitBound = 10 * time.Second

func startServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Config{
		Name: "func-a", Region: "swedencentral",
		HTTPAddress: "127.0.0.1:0", GRPCAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newHTTPClient returns a client that does not reuse connections, so every
// request sees the listener's current state.
func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
}

func post(t *testing.T, c *http.Client, url, body string, hdr map[string]string) (*http.Response, Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, Response{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	var r Response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("decode response body: %v", err)
	}
	return resp, r, nil
}

func admin(t *testing.T, s *Server, path string) (int, State) {
	t.Helper()
	method := http.MethodPost
	if path == "/admin/state" {
		method = http.MethodGet
	}
	req, _ := http.NewRequest(method, "http://"+s.Addresses().Admin+path, nil)
	resp, err := newHTTPClient(waitBound).Do(req)
	if err != nil {
		t.Fatalf("admin %s: %v", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var st State
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatalf("admin %s: decode %q: %v", path, b, err)
		}
	}
	return resp.StatusCode, st
}

func dialGRPC(t *testing.T, addr string) testgrpc.TestServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return testgrpc.NewTestServiceClient(cc)
}

func unary(c testgrpc.TestServiceClient, timeout time.Duration) (*testgrpc.SimpleResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.UnaryCall(ctx, &testgrpc.SimpleRequest{})
}

func TestHTTPAnswers(t *testing.T) {
	s := startServer(t)
	c := newHTTPClient(waitBound)
	base := "http://" + s.Addresses().HTTP

	tests := []struct {
		name, path, body string
		hdr              map[string]string
		wantStatus       int
		wantKey          bool
		wantErr          string
	}{
		{name: "no body", path: "/api/ProcessRequestFunction", wantStatus: 200},
		{name: "own 503", path: "/api/ProcessRequestFunction", body: `[{"functionApp":"func-a","respondsWithResultCode":503}]`, wantStatus: 503},
		{name: "other's 503", path: "/api/ProcessRequestFunction", body: `[{"functionApp":"func-b","respondsWithResultCode":503}]`, wantStatus: 200},
		{name: "any path", path: "/some/other/path", body: `[{"functionApp":"func-a","respondsWithResultCode":502}]`, wantStatus: 502},
		{name: "key received", path: "/x", hdr: map[string]string{"X-Functions-Key": "secret-value"}, wantStatus: 200, wantKey: true},
		{name: "empty key is not received", path: "/x", hdr: map[string]string{"x-functions-key": " "}, wantStatus: 200},
		{name: "other header is not the key", path: "/x", hdr: map[string]string{"x-other-key": "v"}, wantStatus: 200},
		{name: "invalid JSON", path: "/x", body: "{not json", wantStatus: 400, wantErr: "request body: want a JSON array"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, r, err := post(t, c, base+tc.path, tc.body, tc.hdr)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus || r.Status != tc.wantStatus {
				t.Errorf("status = %d (body says %d), want %d", resp.StatusCode, r.Status, tc.wantStatus)
			}
			if got := resp.Header.Get(HeaderName); got != "func-a" {
				t.Errorf("%s = %q, want func-a", HeaderName, got)
			}
			want := Response{FunctionAppName: "func-a", Region: "swedencentral", KeyReceived: tc.wantKey, Status: tc.wantStatus, Path: tc.path}
			gotErr := r.Error
			r.Error = ""
			if r != want {
				t.Errorf("body = %+v, want %+v", r, want)
			}
			if !strings.Contains(gotErr, tc.wantErr) || (tc.wantErr == "") != (gotErr == "") {
				t.Errorf("error = %q, want containing %q", gotErr, tc.wantErr)
			}
		})
	}
	// The credential's value must never appear in any answer.
	req, _ := http.NewRequest(http.MethodPost, base+"/x", nil)
	req.Header.Set("x-functions-key", "secret-value")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if bytes.Contains(b, []byte("secret-value")) {
		t.Errorf("response body echoes the credential: %s", b)
	}
	if _, st := admin(t, s, "/admin/state"); st.Requests.HTTP != uint64(len(tests)+1) || st.Requests.GRPC != 0 {
		t.Errorf("counters = %+v, want http=%d grpc=0", st.Requests, len(tests)+1)
	}
}

func TestGRPCAnswers(t *testing.T) {
	s := startServer(t)
	cc, err := grpc.NewClient(s.Addresses().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cc.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()

	resp, err := testgrpc.NewTestServiceClient(cc).UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetHostname() != "func-a" || resp.GetServerId() != "func-a" {
		t.Errorf("UnaryCall = hostname %q server_id %q, want func-a", resp.GetHostname(), resp.GetServerId())
	}
	if _, err := testgrpc.NewTestServiceClient(cc).EmptyCall(ctx, &testgrpc.Empty{}); err != nil {
		t.Errorf("EmptyCall: %v", err)
	}
	h, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %v, %v; want SERVING", h.GetStatus(), err)
	}
	// Reflection lists the TestService, so grpcurl needs no proto files.
	rc, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rr, err := rc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, svc := range rr.GetListServicesResponse().GetService() {
		services = append(services, svc.GetName())
	}
	if !strings.Contains(strings.Join(services, ","), "grpc.testing.TestService") {
		t.Errorf("reflection lists %q, want grpc.testing.TestService", services)
	}
	_ = rc.CloseSend()
	if _, st := admin(t, s, "/admin/state"); st.Requests.GRPC != 2 || st.Requests.HTTP != 0 {
		t.Errorf("counters = %+v, want grpc=2 http=0 (health checks not counted)", st.Requests)
	}
}

func TestAdminFail(t *testing.T) {
	s := startServer(t)
	c := newHTTPClient(waitBound)
	g := dialGRPC(t, s.Addresses().GRPC)
	url := "http://" + s.Addresses().HTTP + "/api/ProcessRequestFunction"

	tests := []struct {
		query      string
		wantStatus int
		wantCode   codes.Code
	}{
		{query: "", wantStatus: 503, wantCode: codes.Unavailable},
		{query: "?status=503", wantStatus: 503, wantCode: codes.Unavailable},
		{query: "?status=500", wantStatus: 500, wantCode: codes.Internal},
		{query: "?status=502&grpc-code=14", wantStatus: 502, wantCode: codes.Unavailable},
		{query: "?grpc-code=INTERNAL", wantStatus: 503, wantCode: codes.Internal},
		{query: "?status=429", wantStatus: 429, wantCode: codes.Unavailable},
	}
	for _, tc := range tests {
		code, st := admin(t, s, "/admin/fail"+tc.query)
		if code != 200 || st.Mode != ModeFailing || st.FailStatus != tc.wantStatus || codes.Code(st.FailGRPCCode) != tc.wantCode {
			t.Fatalf("fail%s: admin answered %d %+v", tc.query, code, st)
		}
		// The switch wins over the body's own entry.
		resp, r, err := post(t, c, url, `[{"functionApp":"func-a","respondsWithResultCode":200}]`, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.wantStatus || r.FunctionAppName != "func-a" {
			t.Errorf("fail%s: HTTP status %d body %+v, want %d", tc.query, resp.StatusCode, r, tc.wantStatus)
		}
		if _, err := unary(g, waitBound); status.Code(err) != tc.wantCode {
			t.Errorf("fail%s: UnaryCall error %v, want code %v", tc.query, err, tc.wantCode)
		}
	}
	for _, bad := range []string{"?status=200", "?status=abc", "?status=600", "?grpc-code=0", "?grpc-code=99"} {
		if code, _ := admin(t, s, "/admin/fail"+bad); code != http.StatusBadRequest {
			t.Errorf("fail%s: admin answered %d, want 400", bad, code)
		}
	}
	if code, st := admin(t, s, "/admin/recover"); code != 200 || st.Mode != ModeServing {
		t.Fatalf("recover: %d %+v", code, st)
	}
	if resp, _, err := post(t, c, url, "", nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("after recover: %v %v, want 200", resp, err)
	}
	if resp, err := unary(g, waitBound); err != nil || resp.GetServerId() != "func-a" {
		t.Errorf("after recover: UnaryCall %v %v", resp, err)
	}
}

func TestAdminStopRecover(t *testing.T) {
	s := startServer(t)
	c := newHTTPClient(waitBound)
	g := dialGRPC(t, s.Addresses().GRPC)
	url := "http://" + s.Addresses().HTTP + "/"
	if _, err := unary(g, waitBound); err != nil { // an open connection that stop must break
		t.Fatal(err)
	}

	if code, st := admin(t, s, "/admin/stop"); code != 200 || st.Mode != ModeStopped {
		t.Fatalf("stop: %d %+v", code, st)
	}
	for _, addr := range []string{s.Addresses().HTTP, s.Addresses().GRPC} {
		conn, err := net.DialTimeout("tcp", addr, waitBound)
		if err == nil {
			_ = conn.Close()
			t.Fatalf("dial %s while stopped: connected, want connection refused", addr)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s while stopped: %v, want connection refused", addr, err)
		}
	}
	if _, _, err := post(t, c, url, "", nil); err == nil {
		t.Error("HTTP while stopped: answered, want an error")
	}
	if _, err := unary(g, 2*time.Second); status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("UnaryCall while stopped: %v, want UNAVAILABLE or DEADLINE_EXCEEDED", err)
	}
	_, before := admin(t, s, "/admin/state")

	if code, st := admin(t, s, "/admin/recover"); code != 200 || st.Mode != ModeServing {
		t.Fatalf("recover: %d %+v", code, st)
	}
	if before.Requests.HTTP != 0 || before.Requests.GRPC != 1 {
		t.Errorf("counters while stopped = %+v, want http=0 grpc=1 (nothing reached the backend)", before.Requests)
	}
	if resp, r, err := post(t, c, url, "", nil); err != nil || resp.StatusCode != 200 || r.FunctionAppName != "func-a" {
		t.Fatalf("HTTP after recover: %v %+v %v", resp, r, err)
	}
	// The same client reconnects to the same port, bounded in time.
	deadline := time.Now().Add(waitBound)
	for {
		resp, err := unary(g, time.Second)
		if err == nil && resp.GetServerId() == "func-a" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("UnaryCall after recover: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Stop twice and recover twice are harmless.
	admin(t, s, "/admin/stop")
	admin(t, s, "/admin/stop")
	admin(t, s, "/admin/recover")
	if code, st := admin(t, s, "/admin/recover"); code != 200 || st.Mode != ModeServing {
		t.Fatalf("second recover: %d %+v", code, st)
	}
	if resp, _, err := post(t, c, url, "", nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HTTP after second recover: %v %v", resp, err)
	}
}

func TestAdminHangRPC(t *testing.T) {
	s := startServer(t)
	g := dialGRPC(t, s.Addresses().GRPC)
	url := "http://" + s.Addresses().HTTP + "/api/ProcessRequestFunction"

	if code, st := admin(t, s, "/admin/hang"); code != 200 || st.Mode != ModeHung || st.HangLevel != HangRPC {
		t.Fatalf("hang: %d %+v", code, st)
	}
	// A client with a short timeout gives up; the request did reach the backend.
	if _, _, err := post(t, newHTTPClient(300*time.Millisecond), url, "", nil); err == nil {
		t.Fatal("HTTP while hung: answered, want a client timeout")
	}
	if _, err := unary(g, 300*time.Millisecond); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("UnaryCall while hung: %v, want DEADLINE_EXCEEDED", err)
	}
	if _, st := admin(t, s, "/admin/state"); st.Requests.HTTP != 1 || st.Requests.GRPC != 1 {
		t.Errorf("counters = %+v, want the hung requests counted (1, 1)", st.Requests)
	}

	// A patient request blocks until recover, then is answered normally.
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := newHTTPClient(waitBound).Post(url, "application/json", strings.NewReader(`[{"functionApp":"func-a","respondsWithResultCode":201}]`))
		if err != nil {
			done <- result{err: err}
			return
		}
		_ = resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	deadline := time.Now().Add(waitBound)
	for {
		if _, st := admin(t, s, "/admin/state"); st.Requests.HTTP == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the patient request never reached the backend")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("request answered while hung: %+v", r)
	case <-time.After(200 * time.Millisecond):
	}
	admin(t, s, "/admin/recover")
	select {
	case r := <-done:
		if r.err != nil || r.status != 201 {
			t.Fatalf("released request: %+v, want 201 (its body's code)", r)
		}
	case <-time.After(waitBound):
		t.Fatal("request still blocked after recover")
	}
	if resp, err := unary(g, waitBound); err != nil || resp.GetHostname() != "func-a" {
		t.Fatalf("UnaryCall after recover: %v %v", resp, err)
	}
}

// httpOverRaw sends one HTTP/1.1 request on a raw connection and returns the
// status line, so the test controls which connection is used.
func httpOverRaw(conn net.Conn) (string, error) {
	_ = conn.SetDeadline(time.Now().Add(waitBound))
	defer func() { _ = conn.SetDeadline(time.Time{}) }()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: demo\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.Status, nil
}

// readsNothing reports whether conn stays silent and open for d: a read times
// out instead of returning data, EOF or a reset.
func readsNothing(conn net.Conn, d time.Duration) error {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	defer func() { _ = conn.SetReadDeadline(time.Time{}) }()
	n, err := conn.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return nil
	}
	return fmt.Errorf("read %d bytes, err %v; want a timeout (open and silent)", n, err)
}

// closedByPeer waits (bounded) until the peer closes conn.
func closedByPeer(conn net.Conn) error {
	_ = conn.SetReadDeadline(time.Now().Add(waitBound))
	defer func() { _ = conn.SetReadDeadline(time.Time{}) }()
	_, err := io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return fmt.Errorf("still open after %v", waitBound)
	}
	return nil // EOF (nil from io.Copy) or a reset
}

func TestAdminHangTCP(t *testing.T) {
	s := startServer(t)
	url := "http://" + s.Addresses().HTTP + "/"

	// A connection served before the hang must be closed by it, so its client
	// reconnects into the hang.
	served, err := net.DialTimeout("tcp", s.Addresses().HTTP, waitBound)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = served.Close() }()
	if st, err := httpOverRaw(served); err != nil || !strings.HasPrefix(st, "200") {
		t.Fatalf("request before the hang: %q %v", st, err)
	}

	if code, st := admin(t, s, "/admin/hang?level=tcp"); code != 200 || st.Mode != ModeHung || st.HangLevel != HangTCP {
		t.Fatalf("hang tcp: %d %+v", code, st)
	}
	if err := closedByPeer(served); err != nil {
		t.Errorf("connection served before the hang: %v, want closed by the hang", err)
	}
	// TCP connects on both ports, but nothing is ever written and the
	// connection stays open.
	var held []net.Conn
	for _, addr := range []string{s.Addresses().HTTP, s.Addresses().GRPC} {
		conn, err := net.DialTimeout("tcp", addr, waitBound)
		if err != nil {
			t.Fatalf("dial %s while tcp-hung: %v, want connected", addr, err)
		}
		defer func() { _ = conn.Close() }()
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: demo\r\n\r\n"); err != nil {
			t.Fatalf("write to %s while tcp-hung: %v", addr, err)
		}
		if err := readsNothing(conn, 300*time.Millisecond); err != nil {
			t.Errorf("%s while tcp-hung: %v", addr, err)
		}
		held = append(held, conn)
	}
	if _, _, err := post(t, newHTTPClient(300*time.Millisecond), url, "", nil); err == nil {
		t.Fatal("HTTP while tcp-hung: answered, want a client timeout")
	}
	g := dialGRPC(t, s.Addresses().GRPC)
	if _, err := unary(g, 300*time.Millisecond); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("UnaryCall while tcp-hung: %v, want DEADLINE_EXCEEDED", err)
	}
	if _, st := admin(t, s, "/admin/state"); st.Requests.HTTP != 1 || st.Requests.GRPC != 0 {
		t.Errorf("counters = %+v, want http=1 (the request before the hang) grpc=0: nothing reached a handler while hung", st.Requests)
	}
	if code, _ := admin(t, s, "/admin/hang?level=disk"); code != http.StatusBadRequest {
		t.Errorf("hang level=disk: %d, want 400", code)
	}

	// Recover closes the held connections and serves again on the same ports.
	if code, st := admin(t, s, "/admin/recover"); code != 200 || st.Mode != ModeServing || st.Addresses != s.Addresses() {
		t.Fatalf("recover: %d %+v", code, st)
	}
	for _, conn := range held {
		if err := closedByPeer(conn); err != nil {
			t.Errorf("connection held by the hang: %v, want closed by recover", err)
		}
	}
	if resp, _, err := post(t, newHTTPClient(waitBound), url, "", nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HTTP after recover: %v %v", resp, err)
	}
	// The channel that was stuck in CONNECTING reconnects and is served.
	deadline := time.Now().Add(waitBound)
	for {
		resp, err := unary(g, time.Second)
		if err == nil && resp.GetHostname() == "func-a" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("UnaryCall after recover: %v %v", resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The switch into (and out of) a tcp-level hang never closes a listener: a
// client dialling throughout is always accepted, never refused. A refused
// window would let a gRPC client see TRANSIENT_FAILURE instead of CONNECTING.
func TestHangTCPHasNoRefusedWindow(t *testing.T) {
	s := startServer(t)
	for i := range 4 {
		stop := make(chan struct{})
		result := make(chan error, 1)
		var dials atomic.Int64
		go func() {
			// Until stopped; bounded in count too. Each dial is closed at once.
			for n := 0; n < 100_000; n++ {
				select {
				case <-stop:
					result <- nil
					return
				default:
				}
				conn, err := net.DialTimeout("tcp", s.Addresses().GRPC, waitBound)
				if err != nil {
					result <- fmt.Errorf("dial %d: %w", n, err)
					return
				}
				_ = conn.Close()
				dials.Add(1)
			}
			result <- fmt.Errorf("%d dials and never stopped", dials.Load())
		}()
		// The dialling must run before, during and after the switch, or the test
		// would prove nothing: wait for dials on each side.
		awaitDials := func(n int64) {
			t.Helper()
			deadline := time.Now().Add(waitBound)
			for dials.Load() < n {
				select {
				case err := <-result:
					t.Fatalf("switch %d: %v; want every dial accepted (refused: %v)", i, err, errors.Is(err, syscall.ECONNREFUSED))
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("switch %d: only %d dials within %v", i, dials.Load(), waitBound)
				}
				time.Sleep(time.Millisecond)
			}
		}
		awaitDials(20)
		if err := s.Hang(HangTCP); err != nil {
			t.Fatal(err)
		}
		if err := s.Recover(); err != nil {
			t.Fatal(err)
		}
		awaitDials(dials.Load() + 20)
		close(stop)
		if err := <-result; err != nil {
			t.Fatalf("switch %d: %v; want every dial accepted (refused: %v)", i, err, errors.Is(err, syscall.ECONNREFUSED))
		}
	}
	// From stopped, tcp-hang reopens the ports straight into the hold.
	s.Stop()
	if err := s.Hang(HangTCP); err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", s.Addresses().HTTP, waitBound)
	if err != nil {
		t.Fatalf("dial after stop → tcp hang: %v", err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: demo\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := readsNothing(conn, 300*time.Millisecond); err != nil {
		t.Errorf("after stop → tcp hang: %v", err)
	}
	if st := s.State(); st.Mode != ModeHung || st.HangLevel != HangTCP || st.Requests.HTTP != 0 {
		t.Errorf("state = %+v, want hung at tcp with nothing counted", st)
	}
}

func TestCloseReleasesHungRequests(t *testing.T) {
	s, err := New(Config{Name: "func-a", HTTPAddress: "127.0.0.1:0", GRPCAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Hang(HangRPC); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		resp, err := newHTTPClient(waitBound).Get("http://" + s.Addresses().HTTP + "/")
		if err != nil {
			done <- -1
			return
		}
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	deadline := time.Now().Add(waitBound)
	for s.State().Requests.HTTP == 0 {
		if time.Now().After(deadline) {
			t.Fatal("request never reached the backend")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := <-done; got != http.StatusServiceUnavailable {
		t.Errorf("hung request on shutdown: %d, want 503", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg     Config
		wantErr string
	}{
		{Config{HTTPAddress: "127.0.0.1:0", GRPCAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0"}, "Name is empty"},
		{Config{Name: "a", HTTPAddress: "8080", GRPCAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0"}, `HTTPAddress "8080": want host:port`},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("New(%+v) = %v, want error containing %q", tc.cfg, err, tc.wantErr)
		}
	}
}
