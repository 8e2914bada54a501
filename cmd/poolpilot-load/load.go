package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"runtime/pprof"
	"sort"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/poolpilot/poolpilot/internal/modelgen"
)

// config is the load run's flags.
type config struct {
	XDSAddress     string        `json:"xds_address"`
	Streams        int           `json:"streams"`
	Regions        int           `json:"regions"`
	Mode           string        `json:"mode"`
	StreamsPerConn int           `json:"streams_per_conn"`
	OpenParallel   int           `json:"open_parallel"`
	ConnectTimeout time.Duration `json:"connect_timeout_ns"`
	ChangeTimeout  time.Duration `json:"change_timeout_ns"`
	Quiet          time.Duration `json:"quiet_ns"`
	Idle           time.Duration `json:"idle_ns"`
	Mutate         string        `json:"mutate,omitempty"`
	Pool           string        `json:"pool,omitempty"`
	ChangeCmd      string        `json:"change_cmd,omitempty"`
	SignalHUP      bool          `json:"signal_hup,omitempty"`
	Changes        int           `json:"changes"`
	ServerPID      int           `json:"server_pid,omitempty"`
	AdminAddress   string        `json:"admin_address,omitempty"`
	Compare        string        `json:"compare,omitempty"`
	ComparePID     int           `json:"compare_pid,omitempty"`
	CompareAdmin   string        `json:"compare_admin_address,omitempty"`
	JSON           bool          `json:"-"`
	CPUProfile     string        `json:"-"`
	// trigger, when set, makes each change instead of the file and command flags (tests).
	trigger func() error
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("poolpilot-load", flag.ContinueOnError)
	fs.StringVar(&c.XDSAddress, "xds-address", "127.0.0.1:18000", "poolpilot's ADS address")
	fs.IntVar(&c.Streams, "streams", 100, "ADS streams to open, one simulated Envoy node each")
	fs.IntVar(&c.Regions, "regions", 5, "regions the nodes are spread over (modelgen's region names)")
	fs.StringVar(&c.Mode, "mode", "sotw", "ADS variant: sotw or delta")
	fs.IntVar(&c.StreamsPerConn, "streams-per-conn", 1, "ADS streams per gRPC connection (1: one connection per node, as a real fleet connects)")
	fs.IntVar(&c.OpenParallel, "open-parallel", 500, "streams opening at the same time")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 2*time.Minute, "upper bound on waiting for every stream to settle")
	fs.DurationVar(&c.ChangeTimeout, "change-timeout", time.Minute, "upper bound on waiting for a change to reach every stream")
	fs.DurationVar(&c.Quiet, "quiet", time.Second, "a change is complete once every stream got it and nothing arrived for this long")
	fs.DurationVar(&c.Idle, "idle", 3*time.Second, "idle time before reading the server's memory")
	fs.StringVar(&c.Mutate, "mutate", "", "model file or directory to change: reverse one pool's priorities (the file holding it is rewritten through a rename)")
	fs.StringVar(&c.Pool, "pool", "", "pool --mutate changes; default the model's first pool")
	fs.StringVar(&c.ChangeCmd, "change-cmd", "", "shell command run for each change (after --mutate, if given)")
	fs.BoolVar(&c.SignalHUP, "signal-hup", false, "send SIGHUP to --server-pid after each change (for servers that reload on SIGHUP)")
	fs.IntVar(&c.Changes, "changes", 1, "changes to measure (each reverses the pool again)")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "poolpilot's pid, to read its RSS and CPU time from /proc")
	fs.StringVar(&c.AdminAddress, "admin-address", "", "poolpilot's admin address, to read Go heap from /metrics")
	fs.StringVar(&c.Compare, "compare", "", "after the run, run the same load against a second server and print ratios: \"baseline\" starts this tool's plain go-control-plane server on the --mutate model; otherwise the second server's ADS address")
	fs.IntVar(&c.ComparePID, "compare-pid", 0, "the --compare server's pid (for an address; a started baseline is known)")
	fs.StringVar(&c.CompareAdmin, "compare-admin-address", "", "the --compare server's admin address (for an address)")
	fs.BoolVar(&c.JSON, "json", false, "print the report as JSON")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the load tool's own CPU profile here (to see what it takes from a shared machine)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.Streams < 1:
		return c, fmt.Errorf("--streams %d: must be at least 1", c.Streams)
	case c.Regions < 1 || c.Regions > 99:
		return c, fmt.Errorf("--regions %d: allowed 1..99", c.Regions)
	case c.Mode != "sotw" && c.Mode != "delta":
		return c, fmt.Errorf("--mode %q: allowed sotw, delta", c.Mode)
	case c.StreamsPerConn < 1:
		return c, fmt.Errorf("--streams-per-conn %d: must be at least 1", c.StreamsPerConn)
	case c.OpenParallel < 1:
		return c, fmt.Errorf("--open-parallel %d: must be at least 1", c.OpenParallel)
	case c.SignalHUP && c.ServerPID == 0:
		return c, fmt.Errorf("--signal-hup needs --server-pid")
	case c.Changes < 0:
		return c, fmt.Errorf("--changes %d: must be at least 0", c.Changes)
	case c.Compare == "baseline" && c.Mutate == "":
		return c, fmt.Errorf("--compare baseline needs --mutate: the model the baseline serves")
	case c.Compare != "" && (c.SignalHUP || c.ChangeCmd != ""):
		return c, fmt.Errorf("--compare works with --mutate changes only (--signal-hup and --change-cmd act on one server)")
	}
	if c.Mutate == "" && c.ChangeCmd == "" && !c.SignalHUP {
		c.Changes = 0
	}
	return c, nil
}

func runLoad(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	c, err := parseFlags(args)
	if err != nil {
		return err
	}
	return run(ctx, c, stdout, logger)
}

func run(ctx context.Context, c config, stdout io.Writer, logger *slog.Logger) error {
	raiseFileLimit(logger)
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	rep, err := measure(ctx, c, logger)
	if err != nil {
		return err
	}
	if c.Compare == "" {
		return write(stdout, rep, c.JSON)
	}

	other, err := compareConfig(ctx, c, logger)
	if err != nil {
		return err
	}
	defer other.stop()
	logger.Info("running the same load against the compared server", "xds_address", other.c.XDSAddress)
	orep, err := measure(ctx, other.c, logger)
	if err != nil {
		return fmt.Errorf("--compare %s: %w", c.Compare, err)
	}
	cr := comparison{Server: rep, Compare: orep, Ratios: ratios(rep, orep)}
	return write(stdout, cr, c.JSON)
}

// write writes v as indented JSON when asJSON is set and as its text table otherwise.
func write(w io.Writer, v interface{ print(io.Writer) }, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	v.print(w)
	return nil
}

// measure runs the whole load against c.XDSAddress: connect, idle memory, changes.
func measure(ctx context.Context, c config, logger *slog.Logger) (report, error) {
	rep := report{Config: c}
	load0, loadOK := loadAverage()
	rep.Baseline = readServer(ctx, c, logger)

	conns, err := dial(c)
	if err != nil {
		return rep, err
	}
	defer func() {
		for _, cc := range conns {
			_ = cc.Close()
		}
	}()

	cpu0, cpuOK := serverCPU(c.ServerPID)
	streams, connect, err := openStreams(ctx, c, conns, logger)
	if cpu1, ok := serverCPU(c.ServerPID); ok && cpuOK {
		cpu := cpu1 - cpu0
		connect.ServerCPUSeconds = &cpu
	}
	rep.Connect = connect
	if err != nil {
		return rep, err
	}
	defer streams.stop()

	if c.ServerPID != 0 || c.AdminAddress != "" {
		logger.Info("streams settled; idling before reading server memory", "idle", c.Idle)
		sleep(ctx, c.Idle)
		rep.Idle = readServer(ctx, c, logger)
		rep.PerStream = perStream(rep.Baseline, rep.Idle, connect.Settled)
	}

	for i := range c.Changes {
		ch, err := measureChange(ctx, c, streams, i, logger)
		if err != nil {
			return rep, err
		}
		rep.Changes = append(rep.Changes, ch)
	}
	if errs := streams.errors(); len(errs) > 0 {
		rep.StreamErrors = errs
	}
	if load1, ok := loadAverage(); ok && loadOK {
		rep.LoadAverage = []float64{load0, load1}
	}
	return rep, nil
}

// raiseFileLimit lifts RLIMIT_NOFILE to its hard limit: thousands of streams share few
// connections, but a generous limit keeps a large --streams-per-conn=1 run possible.
func raiseFileLimit(logger *slog.Logger) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			logger.Warn("cannot raise RLIMIT_NOFILE", "err", err)
		}
	}
}

func dial(c config) ([]*grpc.ClientConn, error) {
	n := (c.Streams + c.StreamsPerConn - 1) / c.StreamsPerConn
	conns := make([]*grpc.ClientConn, 0, n)
	for range n {
		// Envoy's HTTP/2 windows are large (256 MiB by default); gRPC's 64 KiB would make
		// flow control, not poolpilot, the bottleneck of a big state-of-the-world push.
		cc, err := grpc.NewClient(c.XDSAddress,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(8<<20),
			grpc.WithInitialConnWindowSize(64<<20),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)))
		if err != nil {
			for _, o := range conns {
				_ = o.Close()
			}
			return nil, fmt.Errorf("dial %s: %w", c.XDSAddress, err)
		}
		conns = append(conns, cc)
	}
	return conns, nil
}

// fleet is the running streams.
type fleet struct {
	all    []*stream
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (f *fleet) stop() {
	f.cancel()
	f.wg.Wait()
}

func (f *fleet) errors() []string {
	var out []string
	for _, s := range f.all {
		if st := s.snapshot(); st.err != nil {
			out = append(out, fmt.Sprintf("%s: %v", s.node.GetId(), st.err))
		}
	}
	return out
}

// connectReport is the connect phase: open every stream and wait until each has
// received and ACKed CDS, EDS for its clusters, LDS and RDS for its listeners.
type connectReport struct {
	Streams            int                `json:"streams"`
	Connections        int                `json:"connections"`
	Settled            int                `json:"settled"`
	Failed             int                `json:"failed"`
	Seconds            float64            `json:"seconds"`
	P50MS              float64            `json:"p50_ms"`
	P99MS              float64            `json:"p99_ms"`
	MaxMS              float64            `json:"max_ms"`
	BytesPerStreamAvg  float64            `json:"bytes_per_stream_avg"`
	ResourcesPerStream map[string]float64 `json:"resources_per_stream"`
	// ServerCPUSeconds is the server's user+system CPU from the first stream opening to
	// the last settling (with --server-pid; nil without).
	ServerCPUSeconds *float64 `json:"server_cpu_seconds,omitempty"`
}

func openStreams(ctx context.Context, c config, conns []*grpc.ClientConn, logger *slog.Logger) (*fleet, connectReport, error) {
	regions := modelgen.RegionNames(c.Regions)
	names := newNameCache()
	sctx, cancel := context.WithCancel(ctx)
	f := &fleet{cancel: cancel}
	rep := connectReport{Streams: c.Streams, Connections: len(conns)}
	// Bound how many streams are mid-handshake at once; a settled stream frees its slot.
	sem := make(chan struct{}, c.OpenParallel)
	for i := range c.Streams {
		s := newStream(i, regions[i%len(regions)], names)
		f.all = append(f.all, s)
	}
	start := time.Now()
	for i, s := range f.all {
		conn := conns[i/c.StreamsPerConn]
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			select {
			case sem <- struct{}{}:
			case <-sctx.Done():
				return
			}
			var once sync.Once
			release := func() { once.Do(func() { <-sem }) }
			s.onSettle = release
			defer release()
			s.start = time.Now()
			var err error
			if c.Mode == "delta" {
				err = s.runDelta(sctx, conn)
			} else {
				err = s.runSotw(sctx, conn)
			}
			if err != nil {
				s.fail(err)
			}
		}()
	}

	deadline := time.Now().Add(c.ConnectTimeout)
	lastLog := time.Now()
	for {
		settled, failed := 0, 0
		for _, s := range f.all {
			ok, _, _, err := s.progress()
			switch {
			case err != nil:
				failed++
			case ok:
				settled++
			}
		}
		rep.Settled, rep.Failed = settled, failed
		if settled+failed == c.Streams {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			f.stop()
			return nil, rep, fmt.Errorf("connect: %d of %d streams settled, %d failed after %s (first errors: %v)",
				settled, c.Streams, failed, c.ConnectTimeout, firstN(f.errors(), 3))
		}
		if time.Since(lastLog) > 5*time.Second {
			logger.Info("connecting", "settled", settled, "failed", failed, "streams", c.Streams)
			lastLog = time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}

	var lat []time.Duration
	var bytes int64
	res := map[string]int{}
	var last time.Time
	for _, s := range f.all {
		st := s.snapshot()
		if !st.settled {
			continue
		}
		lat = append(lat, st.settledAt.Sub(s.start))
		if st.settledAt.After(last) {
			last = st.settledAt
		}
		bytes += st.bytes
		for k, v := range st.resources {
			res[k] += v
		}
	}
	rep.Seconds = last.Sub(start).Seconds()
	rep.P50MS, rep.P99MS, rep.MaxMS = percentiles(lat)
	if n := len(lat); n > 0 {
		rep.BytesPerStreamAvg = float64(bytes) / float64(n)
		rep.ResourcesPerStream = perStreamAvg(res, n)
	}
	if rep.Failed > 0 {
		f.stop()
		return nil, rep, fmt.Errorf("connect: %d of %d streams failed (first errors: %v)",
			rep.Failed, c.Streams, firstN(f.errors(), 3))
	}
	logger.Info("all streams settled", "streams", c.Streams, "seconds", rep.Seconds)
	return f, rep, nil
}

func perStreamAvg(m map[string]int, n int) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = float64(v) / float64(n)
	}
	return out
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// percentiles returns p50, p99 and max in milliseconds (nearest rank).
func percentiles(d []time.Duration) (p50, p99, mx float64) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(i, 0)]
	}
	return durationMS(rank(0.50)), durationMS(rank(0.99)), durationMS(s[len(s)-1])
}

// changeReport is one model change: the time from the write until each stream had
// ACKed the new version, and what each stream received for it.
type changeReport struct {
	Pool               string             `json:"pool,omitempty"`
	Streams            int                `json:"streams"`
	Updated            int                `json:"updated"`
	Seconds            float64            `json:"seconds"`
	P50MS              float64            `json:"p50_ms"`
	P99MS              float64            `json:"p99_ms"`
	MaxMS              float64            `json:"max_ms"`
	FirstP50MS         float64            `json:"first_update_p50_ms"`
	BytesPerStreamAvg  float64            `json:"bytes_per_stream_avg"`
	BytesPerStreamMin  int64              `json:"bytes_per_stream_min"`
	BytesPerStreamMax  int64              `json:"bytes_per_stream_max"`
	ResourcesPerStream map[string]float64 `json:"resources_per_stream"`
	ResponsesPerStream float64            `json:"responses_per_stream"`
	ServerCPUSeconds   float64            `json:"server_cpu_seconds,omitempty"`
}

func measureChange(ctx context.Context, c config, f *fleet, i int, logger *slog.Logger) (changeReport, error) {
	rep := changeReport{Streams: len(f.all)}
	for _, s := range f.all {
		s.mark()
	}
	var change *mutation
	if c.Mutate != "" {
		m, err := prepareMutation(c.Mutate, c.Pool)
		if err != nil {
			return rep, fmt.Errorf("change %d: --mutate: %w", i, err)
		}
		change, rep.Pool = &m, m.pool
	}
	// The clock starts at the change itself: the model file's write, or the trigger,
	// command or signal that makes it.
	cpu0, _ := serverCPU(c.ServerPID)
	start := time.Now()
	if c.trigger != nil {
		if err := c.trigger(); err != nil {
			return rep, fmt.Errorf("change %d: %w", i, err)
		}
	}
	if change != nil {
		if err := change.write(); err != nil {
			return rep, fmt.Errorf("change %d: --mutate: %w", i, err)
		}
	}
	if c.ChangeCmd != "" {
		cmd := exec.CommandContext(ctx, "sh", "-c", c.ChangeCmd)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return rep, fmt.Errorf("change %d: --change-cmd: %w", i, err)
		}
	}
	if c.SignalHUP {
		if err := syscall.Kill(c.ServerPID, syscall.SIGHUP); err != nil {
			return rep, fmt.Errorf("change %d: SIGHUP %d: %w", i, c.ServerPID, err)
		}
	}
	logger.Info("change made; waiting for every stream to ACK it", "change", i, "pool", rep.Pool)

	deadline := start.Add(c.ChangeTimeout)
	for {
		updated := 0
		var last time.Time
		for _, s := range f.all {
			_, updates, lastUpdate, _ := s.progress()
			if updates > 0 {
				updated++
				if lastUpdate.After(last) {
					last = lastUpdate
				}
			}
		}
		rep.Updated = updated
		if updated == len(f.all) && time.Since(last) >= c.Quiet {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return rep, fmt.Errorf("change %d: %d of %d streams got a new version within %s",
				i, updated, len(f.all), c.ChangeTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if cpu1, ok := serverCPU(c.ServerPID); ok {
		rep.ServerCPUSeconds = cpu1 - cpu0
	}

	var lat, first []time.Duration
	var bytes int64
	var responses int
	res := map[string]int{}
	rep.BytesPerStreamMin = -1
	var last time.Time
	for _, s := range f.all {
		st := s.snapshot()
		lat = append(lat, st.lastUpdate.Sub(start))
		first = append(first, st.firstUpdate.Sub(start))
		if st.lastUpdate.After(last) {
			last = st.lastUpdate
		}
		bytes += st.bytes
		responses += st.updates
		if rep.BytesPerStreamMin < 0 || st.bytes < rep.BytesPerStreamMin {
			rep.BytesPerStreamMin = st.bytes
		}
		rep.BytesPerStreamMax = max(rep.BytesPerStreamMax, st.bytes)
		for k, v := range st.resources {
			res[k] += v
		}
	}
	n := len(f.all)
	rep.Seconds = last.Sub(start).Seconds()
	rep.P50MS, rep.P99MS, rep.MaxMS = percentiles(lat)
	rep.FirstP50MS, _, _ = percentiles(first)
	rep.BytesPerStreamAvg = float64(bytes) / float64(n)
	rep.ResponsesPerStream = float64(responses) / float64(n)
	rep.ResourcesPerStream = perStreamAvg(res, n)
	return rep, nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
