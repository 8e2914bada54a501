package admin_test

import (
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	lrsv3 "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"

	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/admin"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
	"github.com/poolpilot/poolpilot/xds/internal/livetest"
)

// report is one load report of the live model's pool: requests to backend sdc as seen
// from swedencentral.
func report(node *corev3.Node) *lrsv3.LoadStatsRequest {
	return &lrsv3.LoadStatsRequest{Node: node, ClusterStats: []*endpointv3.ClusterStats{{
		ClusterName: "pool",
		UpstreamLocalityStats: []*endpointv3.UpstreamLocalityStats{{
			Locality:                &corev3.Locality{Region: "swedencentral", SubZone: "sdc"},
			TotalSuccessfulRequests: 5, TotalErrorRequests: 1, TotalIssuedRequests: 6,
		}},
	}}}
}

// breakerModel is the live model with a fleet breaker rule on sdc, so its load reports
// count.
func breakerModel() string {
	return strings.Replace(adstest.Model(8001, false), "    region: swedencentral\n",
		"    region: swedencentral\n    circuitBreaker:\n      rules:\n        - name: sdc-breaker\n"+
			"          tripDuration: PT30S\n          failureCondition: {count: 100, interval: PT10S, statusCodeRanges: [{min: 500, max: 599}]}\n", 1)
}

// TestAdminLoadReports: the LRS service's counters show on /status (breaker.loadReports)
// and /metrics, from real load report streams: a proxy with an ADS stream whose report
// counts for a backend with a breaker rule, and one without, whose report is ignored.
// Each stream's first request, which only names the node, is a message too.
func TestAdminLoadReports(t *testing.T) {
	l := livetest.Start(t, map[string]string{"model.yaml": breakerModel()}, livetest.Options{Debounce: 50 * time.Millisecond})
	if got := l.Status().Breaker.LoadReports; got != (xds.LoadReports{}) {
		t.Fatalf("load reports before any: %+v, want none", got)
	}
	l.Subscribe("envoy-lrs", "swedencentral")
	counted := adstest.Node("envoy-lrs", "swedencentral")
	if err := adstest.OpenLRS(t, l.XDSAddr, counted).Send(report(counted)); err != nil {
		t.Fatal(err)
	}
	stranger := adstest.Node("envoy-no-ads", "swedencentral")
	if err := adstest.OpenLRS(t, l.XDSAddr, stranger).Send(report(stranger)); err != nil {
		t.Fatal(err)
	}
	want := xds.LoadReports{Messages: 4, Reports: 1, Ignored: 1}
	var got xds.LoadReports
	adstest.WaitFor(t, "both load reports handled", func() bool {
		got = l.Status().Breaker.LoadReports
		return got.Messages == want.Messages
	})
	if got != want {
		t.Fatalf("/status load reports %+v, want %+v", got, want)
	}
	var table strings.Builder
	if err := l.Status().Breaker.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if line := "Load reports (LRS): 4 handled, 1 counts given to the breaker, 1 ignored"; !strings.Contains(table.String(), line) {
		t.Errorf("the breaker table lacks %q:\n%s", line, table.String())
	}
	fams := l.Scrape()
	for name, v := range map[string]uint64{admin.MetricLRSMessages: want.Messages, admin.MetricLRSReports: want.Reports,
		admin.MetricLRSIgnored: want.Ignored} {
		if m := adstest.MetricValue(fams, name, nil); m != float64(v) {
			t.Errorf("%s = %v, want %d", name, m, v)
		}
	}
}
