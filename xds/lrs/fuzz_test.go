package lrs

import (
	"io"
	"log/slog"
	"testing"
	"time"

	lrsv3 "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"
	"google.golang.org/protobuf/proto"

	"github.com/poolpilot/poolpilot/breaker"
)

// FuzzHandle feeds arbitrary LoadStatsRequests to a stream: nothing panics, and whatever
// reaches the sink is a known backend with every count within the cap.
func FuzzHandle(f *testing.F) {
	for _, r := range []*lrsv3.LoadStatsRequest{
		envoyReport(envoyNode("n", sdc), 7, 3, 1),
		grpcReport(4, 1, 0),
		{Node: grpcNode("n", sdc)},
	} {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req := &lrsv3.LoadStatsRequest{}
		if proto.Unmarshal(data, req) != nil {
			return
		}
		rec := &sink{reports: make(chan breaker.Report, 8)} // one per backend (2) per message (2)
		now := t0
		s, err := New(Options{
			Streams: &streams{nodes: map[string]string{"n": sdc}},
			Lookup:  Members{pool: {primary, standby}},
			Sink:    rec,
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			Clock:   func() time.Time { return now },
		})
		if err != nil {
			t.Fatal(err)
		}
		st := s.newStream("n")
		for range 2 {
			s.handle(st, req)
			now = now.Add(time.Second)
		}
		close(rec.reports)
		for r := range rec.reports {
			c := r.Counts
			if (r.Backend != primary && r.Backend != standby) || c.Issued > breaker.DefaultMaxCount || c.Succeeded > breaker.DefaultMaxCount ||
				c.Failed > breaker.DefaultMaxCount || c.InProgress > breaker.DefaultMaxCount || r.Node != "n" || r.Region != sdc {
				t.Fatalf("report %+v", r)
			}
		}
	})
}
