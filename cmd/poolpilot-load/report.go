package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// report is everything a load run measured.
type report struct {
	Config       config           `json:"config"`
	Baseline     serverMemory     `json:"server_before_streams"`
	Connect      connectReport    `json:"connect"`
	Idle         serverMemory     `json:"server_idle"`
	PerStream    *perStreamMemory `json:"server_memory_per_idle_stream,omitempty"`
	Changes      []changeReport   `json:"changes"`
	StreamErrors []string         `json:"stream_errors,omitempty"`
	// LoadAverage is the machine's 1-minute load average at the start and the end of the
	// run (none where /proc/loadavg is unreadable): the figures are only comparable
	// between runs on an equally busy machine.
	LoadAverage []float64 `json:"load_average_1m,omitempty"`
}

func (r report) print(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "poolpilot-load: %d %s streams over %d connections, %d regions, server %s",
		c.Streams, c.Mode, r.Connect.Connections, c.Regions, c.XDSAddress)
	if len(r.LoadAverage) == 2 {
		fmt.Fprintf(w, "; load average %.1f→%.1f", r.LoadAverage[0], r.LoadAverage[1])
	}
	fmt.Fprintln(w)
	k := r.Connect
	fmt.Fprintf(w, "connect: %d/%d streams settled (CDS+EDS+LDS+RDS ACKed) in %.2fs; per stream p50 %.0fms p99 %.0fms max %.0fms\n",
		k.Settled, k.Streams, k.Seconds, k.P50MS, k.P99MS, k.MaxMS)
	fmt.Fprintf(w, "         %s per stream, resources per stream: %s", human(k.BytesPerStreamAvg), resources(k.ResourcesPerStream))
	if k.ServerCPUSeconds != nil {
		fmt.Fprintf(w, "; server CPU %.2fs", *k.ServerCPUSeconds)
	}
	fmt.Fprintln(w)
	if r.PerStream != nil {
		fmt.Fprintf(w, "server memory: before streams RSS %s heap %s; idle with streams RSS %s heap %s (forced GC: %v, goroutines %d)\n",
			human(float64(r.Baseline.RSSBytes)), human(float64(r.Baseline.HeapInuseBytes)),
			human(float64(r.Idle.RSSBytes)), human(float64(r.Idle.HeapInuseBytes)), r.Idle.ForcedGC, r.Idle.Goroutines)
		fmt.Fprintf(w, "         per idle stream: RSS %s, heap %s\n",
			human(r.PerStream.RSSBytes), human(r.PerStream.HeapInuseBytes))
	}
	for i, ch := range r.Changes {
		fmt.Fprintf(w, "change %d (pool %s): %d/%d streams ACKed a new version; from the write: p50 %.0fms p99 %.0fms max %.0fms (first update p50 %.0fms)\n",
			i, orDash(ch.Pool), ch.Updated, ch.Streams, ch.P50MS, ch.P99MS, ch.MaxMS, ch.FirstP50MS)
		fmt.Fprintf(w, "         bytes per stream avg %s (min %s, max %s), %.1f responses, resources per stream: %s",
			human(ch.BytesPerStreamAvg), human(float64(ch.BytesPerStreamMin)), human(float64(ch.BytesPerStreamMax)),
			ch.ResponsesPerStream, resources(ch.ResourcesPerStream))
		if ch.ServerCPUSeconds > 0 {
			fmt.Fprintf(w, "; server CPU %.2fs", ch.ServerCPUSeconds)
		}
		fmt.Fprintln(w)
	}
	for _, e := range firstN(r.StreamErrors, 5) {
		fmt.Fprintf(w, "stream error: %s\n", e)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func resources(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// human prints a byte count with a binary unit.
func human(b float64) string {
	neg := b < 0
	if neg {
		b = -b
	}
	units := []string{"B", "KiB", "MiB", "GiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	s := fmt.Sprintf("%.1f %s", b, units[i])
	if i == 0 {
		s = fmt.Sprintf("%.0f B", b)
	}
	if neg {
		return "-" + s
	}
	return s
}
