package xds

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	lrsv3 "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/poolpilot/poolpilot/breaker"
	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
	"github.com/poolpilot/poolpilot/xds/lrs"
)

// breakerModel: a pool of two IP backends at two priorities, each with a count rule.
const breakerModel = `backends:
  - name: primary
    url: http://10.0.0.1:8080
    region: swedencentral
    circuitBreaker:
      rules:
        - name: primary-breaker
          tripDuration: 2s
          scope: %s
          failureCondition: {count: 3, interval: 10s, errorReasons: [BackendConnectionFailure]}
  - name: standby
    url: http://10.0.1.1:8080
    region: norwayeast
    circuitBreaker:
      rules:
        - tripDuration: 2s
          failureCondition: {count: 3, interval: 10s, errorReasons: [BackendConnectionFailure]}
pools:
  - name: pool
    services: [{backend: primary, priority: 1}, {backend: standby, priority: 2}]
apis:
  - {name: api, backend: pool}
listeners:
  - {name: public, port: 10000, apis: [api]}
`

func loadBreakerModel(t *testing.T, scope string) *model.Model {
	t.Helper()
	m, err := model.LoadFiles([]model.File{{Name: "model.yaml", Data: []byte(fmt.Sprintf(breakerModel, scope))}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// edsHealth subscribes c to cluster's EDS and returns a function that waits (at most
// 10 s) for the next response and returns each backend's health in it, ACKing it.
func edsHealth(t *testing.T, c *sotwClient, cluster string) func() map[string]corev3.HealthStatus {
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: []string{cluster}})
	return func() map[string]corev3.HealthStatus {
		t.Helper()
		r := c.next(resourcev3.EndpointType)
		c.ack(r, cluster)
		out := map[string]corev3.HealthStatus{}
		for _, a := range r.GetResources() {
			cla := &endpointv3.ClusterLoadAssignment{}
			if err := a.UnmarshalTo(cla); err != nil {
				t.Fatal(err)
			}
			for _, lle := range cla.GetEndpoints() {
				for _, e := range lle.GetLbEndpoints() {
					out[lle.GetLocality().GetSubZone()] = e.GetHealthStatus()
				}
			}
		}
		return out
	}
}

// envoyLoadReport is shaped like Envoy's load_stats_reporter.cc: the node in every
// request, one upstream_locality_stats per locality and priority with traffic, the
// latched deltas and the active level, the time since the cluster's last report, and
// Envoy's own static xDS cluster next to the pools.
func envoyLoadReport(node *corev3.Node, cluster string, priority uint32, region, backend string, ok, failed uint64) *lrsv3.LoadStatsRequest {
	return &lrsv3.LoadStatsRequest{Node: node, ClusterStats: []*endpointv3.ClusterStats{
		{
			ClusterName: cluster,
			UpstreamLocalityStats: []*endpointv3.UpstreamLocalityStats{{
				Locality:                &corev3.Locality{Region: region, SubZone: backend},
				Priority:                priority,
				TotalSuccessfulRequests: ok,
				TotalErrorRequests:      failed,
				TotalIssuedRequests:     ok + failed,
				TotalRequestsInProgress: 1,
			}, {
				// The standby, one priority down: only a retry's traffic, no errors.
				Locality:                &corev3.Locality{Region: "norwayeast", SubZone: "standby"},
				Priority:                priority + 1,
				TotalSuccessfulRequests: 1,
				TotalIssuedRequests:     1,
			}},
			LoadReportInterval: durationpb.New(1003 * time.Millisecond),
		},
		{
			ClusterName:           "poolpilot_xds",
			UpstreamLocalityStats: []*endpointv3.UpstreamLocalityStats{{Locality: &corev3.Locality{}, TotalSuccessfulRequests: 1, TotalIssuedRequests: 1}},
			LoadReportInterval:    durationpb.New(1003 * time.Millisecond),
		},
	}}
}

// TestEnvoyShapedLoadReportsTrip drives the server's LRS with Envoy-shaped reports from
// an Envoy node with an ADS stream: the backend trips, the node's EDS marks it
// UNHEALTHY (the standby keeps its health), /status shows the trip, and after
// tripDuration the EDS is healthy again with no restart; the versions return to the
// untripped ones.
func TestEnvoyShapedLoadReportsTrip(t *testing.T) {
	s, addr := startRealServer(t, Options{})
	if err := s.Apply(loadBreakerModel(t, "fleet")); err != nil {
		t.Fatal(err)
	}
	node := envoyNode("envoy-sdc-1", "swedencentral")
	ads := newSotwClient(t, addr, node)
	next := edsHealth(t, ads, "pool")
	h := next()
	if h["primary"] != corev3.HealthStatus_UNKNOWN || h["standby"] != corev3.HealthStatus_UNKNOWN {
		t.Fatalf("before any report: %v", h)
	}
	healthyVersion := groupVersions(t, s, "swedencentral/envoy")

	ls := adstest.OpenLRS(t, addr, node)
	// Two failures: below the count of 3, nothing changes.
	if err := ls.Send(envoyLoadReport(node, "pool", 0, "swedencentral", "primary", 5, 2)); err != nil {
		t.Fatal(err)
	}
	adstest.WaitFor(t, "the first report to be counted", func() bool { return s.LoadReporting().Counters().Reports.Load() >= 1 })
	if n := len(openTrips(s)); n != 0 {
		t.Fatalf("%d trips after 2 failures of 3", n)
	}
	start := time.Now()
	if err := ls.Send(envoyLoadReport(node, "pool", 0, "swedencentral", "primary", 5, 1)); err != nil {
		t.Fatal(err)
	}
	h = next()
	t.Logf("report meeting the rule → EDS with primary UNHEALTHY: %s", time.Since(start))
	if h["primary"] != corev3.HealthStatus_UNHEALTHY || h["standby"] != corev3.HealthStatus_UNKNOWN {
		t.Fatalf("after the trip: %v", h)
	}
	open := openTrips(s)
	if len(open) != 1 || open[0].Backend != "primary" || open[0].Scope != "fleet" || open[0].Failures != 3 || open[0].Requests != 13 ||
		open[0].Rule != "primary-breaker" || !open[0].OpenUntil.After(time.Now()) {
		t.Fatalf("status breaker.open = %+v", open)
	}
	h = next()
	t.Logf("trip → EDS healthy again: %s (tripDuration 2s)", time.Since(start))
	if h["primary"] != corev3.HealthStatus_UNKNOWN {
		t.Fatalf("after tripDuration: %v", h)
	}
	if n := len(openTrips(s)); n != 0 {
		t.Fatalf("%d trips after tripDuration", n)
	}
	// The status records a rebuild's versions just after its snapshots are set, so the
	// node may hear of it first.
	adstest.WaitFor(t, "the status to carry the untripped versions again", func() bool {
		after := groupVersions(t, s, "swedencentral/envoy")
		return maps.Equal(after, healthyVersion) && len(after) > 0
	})
}

// A region-scoped trip from swedencentral's reports changes only the swedencentral
// groups; every other group keeps its versions. A node whose region the model does not
// have reports as OtherRegion and cannot trip swedencentral's backend for swedencentral.
func TestRegionTripChangesOnlyItsGroups(t *testing.T) {
	s, addr := startRealServer(t, Options{})
	if err := s.Apply(loadBreakerModel(t, "region")); err != nil {
		t.Fatal(err)
	}
	stranger := envoyNode("envoy-mars-1", "mars")
	newSotwClient(t, addr, stranger).send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	adstest.WaitFor(t, "the mars node's stream", func() bool { _, ok := s.reg.nodeGroup("envoy-mars-1"); return ok })
	before := map[string]map[string]string{}
	for _, g := range s.Status().Groups {
		before[g.Key] = g.Versions
	}
	ls := adstest.OpenLRS(t, addr, stranger)
	if err := ls.Send(envoyLoadReport(stranger, "pool", 0, "swedencentral", "primary", 0, 5)); err != nil {
		t.Fatal(err)
	}
	adstest.WaitFor(t, "the mars report", func() bool { return s.LoadReporting().Counters().Reports.Load() >= 1 })
	open := openTrips(s)
	if len(open) != 1 || open[0].Region != translator.OtherRegion || open[0].Scope != "region" {
		t.Fatalf("a node of an unknown region tripped %+v, want one trip for region %q", open, translator.OtherRegion)
	}

	node := envoyNode("envoy-sdc-1", "swedencentral")
	next := edsHealth(t, newSotwClient(t, addr, node), "pool")
	if h := next(); h["primary"] != corev3.HealthStatus_UNKNOWN {
		t.Fatalf("swedencentral before its own reports: %v", h)
	}
	if err := adstest.OpenLRS(t, addr, node).Send(envoyLoadReport(node, "pool", 0, "swedencentral", "primary", 0, 3)); err != nil {
		t.Fatal(err)
	}
	if h := next(); h["primary"] != corev3.HealthStatus_UNHEALTHY {
		t.Fatalf("swedencentral after its reports: %v", h)
	}
	for _, g := range s.Status().Groups {
		changed := !maps.Equal(before[g.Key], g.Versions)
		// The mars node is served in the OtherRegion group.
		want := g.Group.Region == "swedencentral" || g.Group.Region == translator.OtherRegion
		if changed != want {
			t.Errorf("group %s: versions changed = %v, want %v", g.Key, changed, want)
		}
	}
}

// Replicas that hold the same trip serve the same versions: the trip's times do not
// enter the versions.
func TestReplicasShareVersionsForTheSameTrip(t *testing.T) {
	m := loadBreakerModel(t, "fleet")
	a, b := New(Options{Logger: adstest.Logger(t)}), New(Options{Logger: adstest.Logger(t)})
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	for _, s := range []*Server{a, b} {
		if err := s.Apply(m); err != nil {
			t.Fatal(err)
		}
	}
	untripped := a.Status().Groups
	now := time.Now()
	if !a.Breaker().Adopt(breakerTrip("primary", now, now.Add(time.Hour))) ||
		!b.Breaker().Adopt(breakerTrip("primary", now.Add(-time.Minute), now.Add(2*time.Hour))) {
		t.Fatal("Adopt refused the trip")
	}
	for _, s := range []*Server{a, b} {
		adstest.WaitFor(t, "the trip in the snapshots", func() bool { return s.served.Load().breaker.Key() != "" })
	}
	ga, gb := a.Status().Groups, b.Status().Groups
	if len(ga) != len(gb) || len(ga) == 0 {
		t.Fatalf("%d and %d groups", len(ga), len(gb))
	}
	for i := range ga {
		if ga[i].Key != gb[i].Key || !maps.Equal(ga[i].Versions, gb[i].Versions) {
			t.Errorf("group %s: versions %v and %v differ between replicas", ga[i].Key, ga[i].Versions, gb[i].Versions)
		}
		if maps.Equal(ga[i].Versions, untripped[i].Versions) {
			t.Errorf("group %s: the trip did not change its versions", ga[i].Key)
		}
	}
}

func breakerTrip(backend string, at, until time.Time) breaker.Trip {
	return breaker.Trip{Backend: backend, Scope: breaker.ScopeFleet, Rule: "primary-breaker", At: at, OpenUntil: until}
}

// Load reports map to backends through the served clusters: by sub_zone, and for a
// one-backend cluster (a gRPC LOGICAL_DNS leaf, reported under an empty locality) by the
// cluster alone. Nothing else maps.
func TestBreakerLookup(t *testing.T) {
	s := New(Options{Logger: adstest.Logger(t)})
	t.Cleanup(s.Close)
	src := strings.Replace(fmt.Sprintf(breakerModel, "fleet"), "http://10.0.0.1:8080", "http://primary.example:8080", 1)
	m, err := model.LoadFiles([]model.File{{Name: "model.yaml", Data: []byte(src)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(m); err != nil {
		t.Fatal(err)
	}
	l := breakerLookup{s}
	for _, c := range []struct {
		cluster string
		loc     lrs.Locality
		want    string
	}{
		{"pool", lrs.Locality{Region: "swedencentral", SubZone: "primary"}, "primary"},
		{"pool", lrs.Locality{Region: "norwayeast", SubZone: "standby"}, "standby"},
		{"primary", lrs.Locality{}, "primary"}, // the gRPC LOGICAL_DNS leaf
		{"pool", lrs.Locality{}, ""},
		{"pool", lrs.Locality{SubZone: "other"}, ""},
		{"poolpilot_xds", lrs.Locality{}, ""},
	} {
		got, ok := l.Backend(c.cluster, c.loc)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("Backend(%q, %+v) = %q, %v; want %q", c.cluster, c.loc, got, ok, c.want)
		}
	}
}

// openTrips are the trips in force in s's engine, each once (a fleet trip opens every row
// of its backend), as /status lists them under breaker.open.
func openTrips(s *Server) []breaker.Trip {
	type key struct {
		backend, region string
		scope           breaker.Scope
		until           time.Time
	}
	seen := map[key]bool{}
	var out []breaker.Trip
	for _, r := range s.Breaker().Stats() {
		if k := (key{r.Trip.Backend, r.Trip.Region, r.Trip.Scope, r.Trip.OpenUntil}); r.Open && !seen[k] {
			seen[k] = true
			out = append(out, r.Trip)
		}
	}
	return out
}

// A region trip translates only the groups whose tripped backends it changes: the
// swedencentral groups. Every other group would translate to what it serves.
func TestRegionTripTranslatesOnlyItsGroups(t *testing.T) {
	s := New(Options{Logger: adstest.Logger(t)})
	t.Cleanup(s.Close)
	var mu sync.Mutex
	translated := map[string]int{}
	s.translate = func(m *model.Model, g translator.Group, tr translator.Tripped) (*translator.Resources, error) {
		mu.Lock()
		translated[g.Key()]++
		mu.Unlock()
		return translator.TranslateUnvalidatedWith(m, g, tr)
	}
	if err := s.Apply(loadBreakerModel(t, "region")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	groups := len(translated)
	clear(translated)
	mu.Unlock()
	now := time.Now()
	trip := breaker.Trip{Backend: "primary", Scope: breaker.ScopeRegion, Region: "swedencentral", Rule: "primary-breaker",
		At: now, OpenUntil: now.Add(time.Hour)}
	if !s.Breaker().Adopt(trip) {
		t.Fatal("Adopt refused the trip")
	}
	adstest.WaitFor(t, "the trip in the snapshots", func() bool { return s.served.Load().breaker.Key() != "" })
	mu.Lock()
	defer mu.Unlock()
	if len(translated) == 0 || len(translated) >= groups {
		t.Errorf("the trip translated %d of %d groups: %v; want the swedencentral ones only", len(translated), groups, translated)
	}
	for k := range translated {
		if !strings.HasPrefix(k, "swedencentral/") {
			t.Errorf("the swedencentral trip translated group %s", k)
		}
	}
}
