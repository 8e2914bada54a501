package lrs

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/poolpilot/poolpilot/breaker"
)

type nopSink struct{}

func (nopSink) Record(breaker.Report) (bool, error) { return false, nil }

// BenchmarkHandle is the server's work for one Envoy load report: Envoy repeats its node,
// with its list of extensions (a few hundred), in every report.
func BenchmarkHandle(b *testing.B) {
	node := envoyNode("envoy-sdc-1", sdc)
	for i := range 300 {
		node.Extensions = append(node.Extensions, &corev3.Extension{Name: fmt.Sprintf("envoy.filters.http.extension_%d", i),
			Category: "envoy.filters.http", TypeUrls: []string{"type.googleapis.com/envoy.extensions.filters.http.x.v3.Config"}})
	}
	now := time.Unix(0, 0)
	s, err := New(Options{
		Streams: &streams{nodes: map[string]string{node.GetId(): sdc}},
		Lookup:  Members{pool: {primary, standby}},
		Sink:    nopSink{},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock:   func() time.Time { return now },
	})
	if err != nil {
		b.Fatal(err)
	}
	req := envoyReport(node, 7, 3, 2)
	st := s.newStream(node.GetId())
	b.ResetTimer()
	for range b.N {
		now = now.Add(time.Second)
		s.handle(st, req)
	}
}
