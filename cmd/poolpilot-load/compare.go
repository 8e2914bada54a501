package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"time"
)

// compared is the second server of a --compare run.
type compared struct {
	c    config
	stop func()
}

var baselineLine = regexp.MustCompile(`^baseline xds=(\S+) admin=(\S+)$`)

// compareConfig is c aimed at the --compare server; for "baseline" it starts this tool's
// baseline server (a child process, so its memory and CPU are its own) on the --mutate
// model, and stop ends it.
func compareConfig(ctx context.Context, c config, logger *slog.Logger) (*compared, error) {
	o := c
	o.Compare, o.ComparePID, o.CompareAdmin, o.CPUProfile = "", 0, "", ""
	if c.Compare != "baseline" {
		o.XDSAddress, o.ServerPID, o.AdminAddress = c.Compare, c.ComparePID, c.CompareAdmin
		return &compared{c: o, stop: func() {}}, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("--compare baseline: %w", err)
	}
	cmd := exec.Command(self, "baseline", "--model", c.Mutate)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("--compare baseline: start %s: %w", self, err)
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	// lines carries the serving line, or is closed without it when the baseline exits
	// before serving (a model it cannot load: its error is on stderr).
	lines := make(chan []string, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := baselineLine.FindStringSubmatch(sc.Text()); m != nil {
				lines <- m
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	why := "did not start serving within 2m"
	select {
	case m, ok := <-lines:
		if ok {
			o.XDSAddress, o.AdminAddress, o.ServerPID = m[1], m[2], cmd.Process.Pid
			logger.Info("baseline server started", "pid", cmd.Process.Pid, "xds_address", m[1])
			return &compared{c: o, stop: stop}, nil
		}
		why = "exited before serving (its error is on stderr above)"
	case <-time.After(2 * time.Minute):
	case <-ctx.Done():
		why = "not started: " + ctx.Err().Error()
	}
	stop()
	return nil, fmt.Errorf("--compare baseline: the baseline server %s", why)
}

// comparison is a --compare run: the same load against both servers.
type comparison struct {
	Server  report `json:"server"`
	Compare report `json:"compare"`
	// Ratios are server ÷ compare: below 1 the first server is faster or smaller.
	Ratios map[string]float64 `json:"ratios"`
}

// ratios divides the first server's figures by the second's (changes: the mean of each).
func ratios(a, b report) map[string]float64 {
	out := map[string]float64{}
	put := func(k string, x, y float64) {
		if y != 0 {
			out[k] = x / y
		}
	}
	put("connect_p99", a.Connect.P99MS, b.Connect.P99MS)
	put("connect_bytes_per_stream", a.Connect.BytesPerStreamAvg, b.Connect.BytesPerStreamAvg)
	if a.Connect.ServerCPUSeconds != nil && b.Connect.ServerCPUSeconds != nil {
		put("connect_server_cpu", *a.Connect.ServerCPUSeconds, *b.Connect.ServerCPUSeconds)
	}
	if a.PerStream != nil && b.PerStream != nil {
		put("rss_per_idle_stream", a.PerStream.RSSBytes, b.PerStream.RSSBytes)
		put("heap_per_idle_stream", a.PerStream.HeapInuseBytes, b.PerStream.HeapInuseBytes)
	}
	mean := func(r report, f func(changeReport) float64) float64 {
		if len(r.Changes) == 0 {
			return 0
		}
		s := 0.0
		for _, ch := range r.Changes {
			s += f(ch)
		}
		return s / float64(len(r.Changes))
	}
	put("change_p99", mean(a, func(c changeReport) float64 { return c.P99MS }), mean(b, func(c changeReport) float64 { return c.P99MS }))
	put("change_bytes_per_stream", mean(a, func(c changeReport) float64 { return c.BytesPerStreamAvg }),
		mean(b, func(c changeReport) float64 { return c.BytesPerStreamAvg }))
	put("change_server_cpu", mean(a, func(c changeReport) float64 { return c.ServerCPUSeconds }),
		mean(b, func(c changeReport) float64 { return c.ServerCPUSeconds }))
	return out
}

func (r comparison) print(w io.Writer) {
	fmt.Fprintln(w, "== server")
	r.Server.print(w)
	fmt.Fprintf(w, "== compare (%s)\n", r.Server.Config.Compare)
	r.Compare.print(w)
	fmt.Fprintln(w, "== ratios server/compare (below 1: the server is faster or smaller)")
	for _, k := range []string{"connect_p99", "connect_bytes_per_stream", "connect_server_cpu", "rss_per_idle_stream", "heap_per_idle_stream",
		"change_p99", "change_bytes_per_stream", "change_server_cpu"} {
		if v, ok := r.Ratios[k]; ok {
			fmt.Fprintf(w, "%-26s %.2f\n", k, v)
		}
	}
}
