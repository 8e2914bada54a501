package demo

import (
	"net"
	"sync"
)

// blackhole accepts TCP connections and never reads or writes: the client's
// connect succeeds but no HTTP or HTTP/2 handshake ever completes.
type blackhole struct {
	lns   []net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
	done  bool
}

func newBlackhole(addrs ...string) (*blackhole, error) {
	h := &blackhole{}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			h.Close()
			return nil, err
		}
		h.lns = append(h.lns, ln)
	}
	for _, ln := range h.lns {
		h.wg.Add(1)
		go h.accept(ln)
	}
	return h, nil
}

func (h *blackhole) accept(ln net.Listener) {
	defer h.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return // listener closed
		}
		h.mu.Lock()
		if h.done {
			h.mu.Unlock()
			c.Close()
			return
		}
		h.conns = append(h.conns, c)
		h.mu.Unlock()
	}
}

// Close closes the listeners and every held connection.
func (h *blackhole) Close() {
	for _, ln := range h.lns {
		ln.Close()
	}
	h.wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	for _, c := range h.conns {
		c.Close()
	}
	h.conns = nil
}
