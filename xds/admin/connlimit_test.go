package admin_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/admin"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
)

// TestAdminConnectionLimit: idle connections beyond admin.MaxConns are not accepted (they
// wait in the kernel's queue), so they cannot take the descriptors the xDS port needs.
func TestAdminConnectionLimit(t *testing.T) {
	s := xds.New(xds.Options{Logger: adstest.Logger(t), Translate: translator.Translate})
	t.Cleanup(s.Close)
	lookup := func(k string) (string, bool) { v, ok := adstest.Env[k]; return v, ok }
	m, err := model.LoadBytes("model.yaml", []byte(adstest.Model(8001, false)), model.WithLookupEnv(lookup))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(m); err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: inner}
	adm := admin.New(admin.Options{Server: s, Logger: adstest.Logger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- adm.Serve(ctx, cl) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("admin Serve: %v", err)
		}
	})

	const dials = admin.MaxConns + 40
	for range dials {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	adstest.WaitFor(t, "connections accepted", func() bool { return cl.open.Load() >= admin.MaxConns })
	time.Sleep(300 * time.Millisecond) // let any excess accept happen: it must not
	if n := cl.open.Load(); n > admin.MaxConns {
		t.Errorf("%d admin connections accepted at once; want at most %d", n, admin.MaxConns)
	}
}

// countingListener counts the connections accepted and not yet closed.
type countingListener struct {
	net.Listener
	open atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}
