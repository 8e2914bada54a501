package harness

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

var givenPorts sync.Map // port → struct{}: never hand out the same port twice in one run

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that no earlier FreePort call of this test binary returned. Another
// process can still take it before it is used; prefer port 0 where the
// program reports the port it bound (the demo backend does).
func FreePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("harness: free port: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if _, taken := givenPorts.LoadOrStore(port, struct{}{}); !taken {
			return port
		}
	}
	t.Fatal("harness: free port: 50 tries gave only ports already handed out")
	return 0
}

// FreeAddr returns "127.0.0.1:<FreePort>".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}
