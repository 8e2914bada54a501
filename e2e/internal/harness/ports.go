package harness

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var givenPorts sync.Map // port → struct{}: never hand out the same port twice in one run

// Ports are picked below the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range,
// 32768–60999 by default): a port the kernel hands out for port 0 or for a connection's
// source port (every gRPC client in a parallel test makes some) could be taken between
// FreePort closing it and the program under test binding it.
const portLow = 20000

// portHigh is the first port of the ephemeral range, read once.
var portHigh = sync.OnceValue(func() int {
	const linuxDefault = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return linuxDefault
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return linuxDefault
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo <= portLow+1000 {
		return linuxDefault // a range this low leaves no room below it: keep the default's
	}
	return lo
})

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that no earlier FreePort call of this test binary returned. Another
// process can still take it before it is used; prefer port 0 where the
// program reports the port it bound (the demo backend does).
func FreePort(t testing.TB) int {
	t.Helper()
	for range 200 {
		port := portLow + rand.IntN(portHigh()-portLow)
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
	t.Fatalf("harness: free port: 200 tries in %d–%d found none free", portLow, portHigh()-1)
	return 0
}

// FreeAddr returns "127.0.0.1:<FreePort>".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}
