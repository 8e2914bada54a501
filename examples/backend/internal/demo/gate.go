package demo

import (
	"net"
	"sync"
)

// gate sits between the serving listeners and the HTTP/gRPC servers, so that a
// TCP-level hang never closes a listener: a client connecting at any moment of
// the switch is accepted, never refused. While holding, accepted connections
// are kept open and never read or written (no HTTP/2 handshake, as with a
// frozen process); otherwise they are handed to the servers and tracked, so
// that entering the hold can close them and force clients to reconnect.
type gate struct {
	mu      sync.Mutex
	holding bool
	shut    bool
	served  map[*gatedConn]struct{}
	held    []net.Conn
}

func newGate() *gate { return &gate{served: map[*gatedConn]struct{}{}} }

// wrap returns ln behind the gate. Closing the result closes ln.
func (g *gate) wrap(ln net.Listener) net.Listener { return &gatedListener{Listener: ln, g: g} }

// hold starts holding new connections and closes every served one.
func (g *gate) hold() {
	g.mu.Lock()
	g.holding = true
	served := make([]*gatedConn, 0, len(g.served))
	for c := range g.served {
		served = append(served, c)
	}
	g.mu.Unlock()
	// Closed outside the lock: gatedConn.Close takes it.
	for _, c := range served {
		_ = c.Close()
	}
}

// pass stops holding: held connections are closed (their clients reconnect
// and are served), new ones go to the servers.
func (g *gate) pass() {
	g.mu.Lock()
	g.holding = false
	held := g.held
	g.held = nil
	g.mu.Unlock()
	for _, c := range held {
		_ = c.Close()
	}
}

// close is for shutdown: held connections close and any connection accepted
// from now on is closed at once; served ones are left to the servers' shutdown.
func (g *gate) close() {
	g.mu.Lock()
	g.shut = true
	g.mu.Unlock()
	g.pass()
}

// admit decides the fate of a freshly accepted connection: it returns the
// connection to hand to the server, or nil if the gate kept or closed it.
func (g *gate) admit(c net.Conn) net.Conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.shut:
		_ = c.Close()
		return nil
	case g.holding:
		g.held = append(g.held, c)
		return nil
	}
	gc := &gatedConn{Conn: c, g: g}
	g.served[gc] = struct{}{}
	return gc
}

type gatedListener struct {
	net.Listener
	g *gate
}

// Accept returns the next connection the gate lets through; held ones are
// never returned, so the servers never see them.
func (l *gatedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if gc := l.g.admit(c); gc != nil {
			return gc, nil
		}
	}
}

// gatedConn is a served connection; closing it forgets it.
type gatedConn struct {
	net.Conn
	g    *gate
	once sync.Once
	err  error
}

func (c *gatedConn) Close() error {
	c.once.Do(func() {
		c.g.mu.Lock()
		delete(c.g.served, c)
		c.g.mu.Unlock()
		c.err = c.Conn.Close()
	})
	return c.err
}
