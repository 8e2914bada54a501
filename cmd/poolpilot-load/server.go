package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// serverMemory is poolpilot's memory at one moment.
type serverMemory struct {
	RSSBytes       int64 `json:"rss_bytes,omitempty"`
	HeapInuseBytes int64 `json:"heap_inuse_bytes,omitempty"`
	// ForcedGC says the heap was read right after a GC (through /debug/pprof/heap?gc=1),
	// so it holds live data only.
	ForcedGC   bool  `json:"forced_gc,omitempty"`
	Goroutines int64 `json:"goroutines,omitempty"`
}

// perStreamMemory is the growth from before the streams connected to idle, per stream.
type perStreamMemory struct {
	RSSBytes       float64 `json:"rss_bytes"`
	HeapInuseBytes float64 `json:"heap_inuse_bytes"`
}

func perStream(before, after serverMemory, streams int) *perStreamMemory {
	if streams == 0 {
		return nil
	}
	return &perStreamMemory{
		RSSBytes:       float64(after.RSSBytes-before.RSSBytes) / float64(streams),
		HeapInuseBytes: float64(after.HeapInuseBytes-before.HeapInuseBytes) / float64(streams),
	}
}

// readServer reads RSS from /proc and the Go heap from the admin endpoint; what is
// unavailable stays zero and is logged once.
func readServer(ctx context.Context, c config, logger *slog.Logger) serverMemory {
	var m serverMemory
	if c.ServerPID != 0 {
		rss, err := procRSS(c.ServerPID)
		if err != nil {
			logger.Warn("cannot read server RSS", "pid", c.ServerPID, "err", err)
		}
		m.RSSBytes = rss
	}
	if c.AdminAddress != "" {
		client := &http.Client{Timeout: 30 * time.Second}
		// A heap profile with gc=1 runs a GC first; the body itself is not needed. Twice:
		// buffers in a sync.Pool (gRPC's send buffers) survive the first GC in the
		// pool's victim cache and are freed by the second.
		for range 2 {
			if body, err := get(ctx, client, "http://"+c.AdminAddress+"/debug/pprof/heap?gc=1"); err == nil {
				_, _ = io.Copy(io.Discard, body)
				_ = body.Close()
				m.ForcedGC = true
			}
		}
		body, err := get(ctx, client, "http://"+c.AdminAddress+"/metrics")
		if err != nil {
			logger.Warn("cannot read server metrics", "admin", c.AdminAddress, "err", err)
			return m
		}
		defer func() { _ = body.Close() }()
		vals := scrape(body, "go_memstats_heap_inuse_bytes", "go_goroutines")
		m.HeapInuseBytes = int64(vals["go_memstats_heap_inuse_bytes"])
		m.Goroutines = int64(vals["go_goroutines"])
	}
	return m
}

func get(ctx context.Context, client *http.Client, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp.Body, nil
}

// scrape reads unlabelled samples of the named metrics from Prometheus text format.
func scrape(r io.Reader, names ...string) map[string]float64 {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && want[f[0]] {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				out[f[0]] = v
			}
		}
	}
	return out
}

// procRSS reads VmRSS of pid.
func procRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS line", pid)
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// serverCPU returns the user+system CPU seconds pid has used.
func serverCPU(pid int) (float64, bool) {
	if pid == 0 {
		return 0, false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces: fields start after the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// After ')': state is field 3 of stat(5), utime 14 and stime 15.
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (ut + st) / clockTicks, true
}

// loadAverage is the machine's 1-minute load average; false where it cannot be read.
func loadAverage() (float64, bool) {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return v, err == nil
}
