// Command xdsclient is a proxyless gRPC client for poolpilot's end-to-end tests: a real
// grpc-go xDS client (google.golang.org/grpc/xds), not an imitation. It dials an xDS
// target (xds:///<api name>) with the bootstrap in GRPC_XDS_BOOTSTRAP_CONFIG, waits until
// the first call succeeds, then calls grpc.testing.TestService/UnaryCall at a fixed rate
// and prints one JSON line per call on stdout:
//
//	{"event":"ready","time":..., "backend":"func-a"}
//	{"event":"rpc","seq":1,"start":<unix ns>,"end":<unix ns>,"backend":"func-a","code":"OK"}
//	{"event":"done","sent":40,"ok":40}
//
// It stops after --count calls, after --duration, or on SIGTERM/SIGINT, waits for the
// calls in flight and exits 0. The bootstrap is read from the environment when the xds
// package loads, which is why each client is its own process.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	_ "google.golang.org/grpc/xds" // registers the xds:/// resolver and the xDS balancers
)

// maxInFlight bounds concurrent calls: at a fixed rate, calls to a hung backend pile up
// until their deadline.
const maxInFlight = 2000

type config struct {
	target       string
	rate         float64
	count        int
	duration     time.Duration
	deadline     time.Duration
	readyTimeout time.Duration
	concurrency  int
}

func main() {
	var c config
	flag.StringVar(&c.target, "target", "", "xDS target, e.g. xds:///resilient-api (required)")
	flag.Float64Var(&c.rate, "rate", 20, "calls per second; 0 means back to back on --concurrency workers")
	flag.IntVar(&c.count, "count", 0, "stop after this many calls (0: no limit)")
	flag.DurationVar(&c.duration, "duration", time.Minute, "stop after this long (an upper bound; 0: no limit)")
	flag.DurationVar(&c.deadline, "deadline", 2*time.Second, "deadline of each call")
	flag.DurationVar(&c.readyTimeout, "ready-timeout", 30*time.Second, "how long the first (wait-for-ready) call may take")
	flag.IntVar(&c.concurrency, "concurrency", 4, "workers when --rate is 0")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := c.check(); err != nil {
		log.Error("invalid flags", "error", err)
		os.Exit(2)
	}
	if os.Getenv("GRPC_XDS_BOOTSTRAP_CONFIG") == "" && os.Getenv("GRPC_XDS_BOOTSTRAP") == "" {
		log.Error("no xDS bootstrap: set GRPC_XDS_BOOTSTRAP_CONFIG (JSON) or GRPC_XDS_BOOTSTRAP (a file)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, c, log); err != nil {
		log.Error("xdsclient failed", "error", err)
		os.Exit(1)
	}
}

func (c config) check() error {
	switch {
	case c.target == "":
		return errors.New("--target is required (e.g. xds:///resilient-api)")
	case c.rate < 0:
		return fmt.Errorf("--rate %v: want 0 (back to back) or more", c.rate)
	case c.count < 0:
		return fmt.Errorf("--count %d: want 0 (no limit) or more", c.count)
	case c.deadline <= 0:
		return fmt.Errorf("--deadline %v: want more than 0", c.deadline)
	case c.rate == 0 && c.concurrency < 1:
		return fmt.Errorf("--concurrency %d: want 1 or more with --rate 0", c.concurrency)
	case c.count == 0 && c.duration <= 0:
		return errors.New("--count and --duration are both unlimited: set one, every run must end")
	}
	return nil
}

// line is one JSON output line.
type line struct {
	Event   string `json:"event"`
	Seq     int64  `json:"seq,omitempty"`
	Time    int64  `json:"time,omitempty"`  // ready: unix ns
	Start   int64  `json:"start,omitempty"` // rpc: unix ns
	End     int64  `json:"end,omitempty"`
	Backend string `json:"backend,omitempty"`
	Code    string `json:"code,omitempty"`
	Error   string `json:"error,omitempty"`
	Sent    int64  `json:"sent,omitempty"`
	OK      int64  `json:"ok,omitempty"`
}

type printer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (p *printer) print(l line) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(l) // stdout is a pipe to the test; nothing useful to do on error
}

func run(ctx context.Context, c config, log *slog.Logger) error {
	cc, err := grpc.NewClient(c.target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial %s: %w", c.target, err)
	}
	defer func() { _ = cc.Close() }()
	tc := testgrpc.NewTestServiceClient(cc)
	out := &printer{enc: json.NewEncoder(os.Stdout)}

	// The first call waits for xDS resources and a connection, so the timed calls measure
	// the data path, not the start-up.
	rctx, cancel := context.WithTimeout(ctx, c.readyTimeout)
	r, err := tc.UnaryCall(rctx, &testgrpc.SimpleRequest{}, grpc.WaitForReady(true))
	cancel()
	if err != nil {
		return fmt.Errorf("first call to %s within %v: %w", c.target, c.readyTimeout, err)
	}
	out.print(line{Event: "ready", Time: time.Now().UnixNano(), Backend: r.GetServerId()})
	log.Info("ready", "target", c.target, "backend", r.GetServerId())

	if c.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	var seq, ok atomic.Int64
	call := func() {
		n := seq.Add(1)
		start := time.Now()
		cctx, cancel := context.WithTimeout(context.Background(), c.deadline)
		r, err := tc.UnaryCall(cctx, &testgrpc.SimpleRequest{})
		cancel()
		l := line{Event: "rpc", Seq: n, Start: start.UnixNano(), End: time.Now().UnixNano(),
			Code: status.Code(err).String(), Backend: r.GetServerId()}
		if err != nil {
			l.Error = err.Error()
		} else {
			ok.Add(1)
		}
		out.print(l)
	}
	var wg sync.WaitGroup
	if c.rate == 0 {
		var claimed atomic.Int64
		for range c.concurrency {
			wg.Go(func() {
				for ctx.Err() == nil && (c.count == 0 || claimed.Add(1) <= int64(c.count)) {
					call()
				}
			})
		}
	} else {
		sem := make(chan struct{}, maxInFlight)
		tick := time.NewTicker(time.Duration(float64(time.Second) / c.rate))
		defer tick.Stop()
	loop:
		for started := 0; c.count == 0 || started < c.count; started++ {
			select {
			case <-ctx.Done():
				break loop
			case sem <- struct{}{}:
			}
			wg.Go(func() {
				defer func() { <-sem }()
				call()
			})
			select {
			case <-ctx.Done():
				break loop
			case <-tick.C:
			}
		}
	}
	wg.Wait()
	out.print(line{Event: "done", Sent: seq.Load(), OK: ok.Load()})
	return nil
}
