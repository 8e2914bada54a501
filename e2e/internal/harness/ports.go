package harness

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

var givenPorts sync.Map // port → struct{}: never hand out the same port twice in one run

// Ports are picked below Linux's default ephemeral range (32768–60999): a port the
// kernel hands out for port 0 or for a connection's source port (every gRPC client in a
// parallel test makes some) could be taken between FreePort closing it and the program
// under test binding it.
const (
	portLow  = 20000
	portHigh = 32768
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that no earlier FreePort call of this test binary returned. Another
// process can still take it before it is used; prefer port 0 where the
// program reports the port it bound (the demo backend does).
func FreePort(t testing.TB) int {
	t.Helper()
	for range 200 {
		port := portLow + rand.IntN(portHigh-portLow)
		if _, taken := givenPorts.LoadOrStore(port, struct{}{}); taken {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // another process has it
		}
		_ = ln.Close()
		return port
	}
	t.Fatal("harness: free port: 200 tries in 20000–32767 found none free")
	return 0
}

// FreeAddr returns "127.0.0.1:<FreePort>".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}
