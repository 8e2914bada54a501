package admin_test

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	prommodel "github.com/prometheus/common/model"

	"github.com/poolpilot/poolpilot/breaker"
	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/admin"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
)

// TestGroupVersionMetricFollowsBreakerTrips: a fleet trip republishes the node groups
// with new versions (the tripped backend's endpoints UNHEALTHY) without a model apply;
// poolpilot_group_version_info must name the versions the groups now serve, the ones
// nodes ACK, not those of the last model apply.
func TestGroupVersionMetricFollowsBreakerTrips(t *testing.T) {
	m, err := model.LoadBytes("breaker.yaml", []byte(adminBreakerModel))
	if err != nil {
		t.Fatal(err)
	}
	log := adstest.Logger(t)
	metrics := admin.NewMetrics()
	srv := xds.New(xds.Options{Logger: log, Observer: metrics}) // as serve builds it: translation sees the breaker state
	t.Cleanup(srv.Close)
	if err := srv.Apply(m); err != nil {
		t.Fatal(err)
	}
	adm := admin.New(admin.Options{Server: srv, Metrics: metrics, Breaker: srv.Breaker(), Logger: log})
	versions := func() map[string]string { // "group type" → version, as the server serves them
		out := map[string]string{}
		for _, g := range srv.Status().Groups {
			for url, v := range g.Versions {
				out[g.Key+" "+xds.TypeName(url)] = v
			}
		}
		return out
	}
	before := versions()

	// 3 failures within 10 s: sdc trips for every proxy.
	if tripped, err := srv.Breaker().Record(breaker.Report{Node: "sdc-1", Region: "swedencentral", Backend: "sdc", At: time.Now(),
		Source: breaker.SourceLRS, Counts: breaker.Counts{Issued: 3, Failed: 3}}); err != nil {
		t.Fatal(err)
	} else if !tripped {
		t.Fatal("the report did not trip sdc")
	}
	adstest.WaitFor(t, "the trip republished", func() bool { return !maps.Equal(versions(), before) })
	served := versions()

	rec := httptest.NewRecorder()
	adm.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	parser := expfmt.NewTextParser(prommodel.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range fams[admin.MetricGroupVersionInfo].GetMetric() {
		l := map[string]string{}
		for _, p := range s.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		if _, dup := got[l["group"]+" "+l["type"]]; dup {
			t.Errorf("%s has two versions of %s %s", admin.MetricGroupVersionInfo, l["group"], l["type"])
		}
		got[l["group"]+" "+l["type"]] = l["version"]
	}
	if !maps.Equal(got, served) {
		t.Errorf("%s after the trip = %v; the groups serve %v", admin.MetricGroupVersionInfo, got, served)
	}
}
