package translator

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/poolpilot/poolpilot/envoy"
	"github.com/poolpilot/poolpilot/model"
)

func translate(t *testing.T, m *model.Model, g Group) *Resources {
	t.Helper()
	res, err := Translate(m, g)
	if err != nil {
		t.Fatalf("Translate(%s): %v", g, err)
	}
	return res
}

func failover(t *testing.T) *model.Model { return loadCase(t, "testdata/in/failover.yaml") }

// loadAssignmentOf returns the cluster's load assignment: the EDS resource of that name,
// or the cluster's inline one.
func loadAssignmentOf(t *testing.T, res *Resources, cluster string) *endpointv3.ClusterLoadAssignment {
	t.Helper()
	for _, r := range res.Endpoints {
		if la := r.(*endpointv3.ClusterLoadAssignment); la.GetClusterName() == cluster {
			return la
		}
	}
	if c := clusterOf(t, res, cluster); c.GetLoadAssignment() != nil {
		return c.GetLoadAssignment()
	}
	t.Fatalf("no load assignment for %q", cluster)
	return nil
}

func clusterOf(t *testing.T, res *Resources, name string) *clusterv3.Cluster {
	t.Helper()
	for _, r := range res.Clusters {
		if c := r.(*clusterv3.Cluster); c.GetName() == name {
			return c
		}
	}
	t.Fatalf("no cluster %q", name)
	return nil
}

func routeOf(t *testing.T, res *Resources, config, route string) *routev3.Route {
	t.Helper()
	for _, r := range res.Routes {
		rc := r.(*routev3.RouteConfiguration)
		if rc.GetName() != config {
			continue
		}
		for _, vh := range rc.GetVirtualHosts() {
			for _, rt := range vh.GetRoutes() {
				if rt.GetName() == route {
					return rt
				}
			}
		}
	}
	t.Fatalf("no route %q in %q", route, config)
	return nil
}

// regionPriorities maps each locality's region to its priority.
func regionPriorities(la *endpointv3.ClusterLoadAssignment) map[string]uint32 {
	out := map[string]uint32{}
	for _, e := range la.GetEndpoints() {
		out[e.GetLocality().GetRegion()] = e.GetPriority()
	}
	return out
}

func TestPrioritiesMirrorPerRegion(t *testing.T) {
	m := failover(t)
	want := map[string]map[string]uint32{
		"swedencentral": {"swedencentral": 0, "norwayeast": 1},
		"norwayeast":    {"norwayeast": 0, "swedencentral": 1},
		"":              {"swedencentral": 0, "norwayeast": 1}, // the model's order
	}
	for region, w := range want {
		res := translate(t, m, Group{Region: region, Client: Envoy})
		got := regionPriorities(loadAssignmentOf(t, res, "load-balanced-pool"))
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("region %q: priorities %v, want %v", region, got, w)
		}
		hasWarning := strings.Contains(strings.Join(res.Warnings, "\n"), "reports no region")
		if hasWarning != (region == "") {
			t.Errorf("region %q: no-region warning = %v, warnings %q", region, hasWarning, res.Warnings)
		}
	}
}

func TestGRPCPrioritiesMirrorPerRegion(t *testing.T) {
	m := failover(t)
	for region, first := range map[string]string{"swedencentral": "func-primary-sdc", "norwayeast": "func-secondary-nwe"} {
		res := translate(t, m, Group{Region: region, Client: GRPC})
		c := clusterOf(t, res, "load-balanced-pool")
		if c.GetClusterType().GetName() != envoy.AggregateName {
			t.Fatalf("gRPC pool of DNS names must be an aggregate, got %v", c)
		}
		cfg := &aggregatev3.ClusterConfig{}
		if err := c.GetClusterType().GetTypedConfig().UnmarshalTo(cfg); err != nil {
			t.Fatal(err)
		}
		if got := cfg.GetClusters(); len(got) != 2 || got[0] != first {
			t.Errorf("region %q: children %v, want %s first", region, got, first)
		}
	}
}

func TestFailoverEnvoyCluster(t *testing.T) {
	res := translate(t, failover(t), Group{Region: "swedencentral", Client: Envoy})
	c := clusterOf(t, res, "load-balanced-pool")
	if c.GetType() != clusterv3.Cluster_STRICT_DNS {
		t.Errorf("DNS-named backends need STRICT_DNS for Envoy, got %v", c.GetType())
	}
	if f := c.GetLoadAssignment().GetPolicy().GetOverprovisioningFactor().GetValue(); f != 100000 {
		t.Errorf("overprovisioning_factor = %d", f)
	}
	if p := c.GetCommonLbConfig().GetHealthyPanicThreshold(); p == nil || p.GetValue() != 0 {
		t.Errorf("healthy_panic_threshold = %v, want explicit 0", p)
	}
	od := c.GetOutlierDetection()
	if od.GetMaxEjectionPercent().GetValue() != 100 || od.GetEnforcingConsecutive_5Xx() == nil || od.GetEnforcingConsecutive_5Xx().GetValue() != 0 ||
		od.GetEnforcingSuccessRate() == nil || od.GetEnforcingSuccessRate().GetValue() != 0 {
		t.Errorf("outlier detection must eject up to 100%% and not on 5xx/success rate: %v", od)
	}
	if od.GetConsecutiveGatewayFailure().GetValue() != 3 || od.GetEnforcingConsecutiveGatewayFailure().GetValue() != 100 ||
		!od.GetSplitExternalLocalOriginErrors() || od.GetConsecutiveLocalOriginFailure().GetValue() != 3 {
		t.Errorf("502–504 and connection failures must each eject after 3: %v", od)
	}
	if od.GetBaseEjectionTime().AsDuration() != od.GetMaxEjectionTime().AsDuration() || od.GetBaseEjectionTime().AsDuration().String() != "30s" {
		t.Errorf("ejection time = %v / %v", od.GetBaseEjectionTime(), od.GetMaxEjectionTime())
	}
	if c.GetCircuitBreakers().GetThresholds()[0].GetRetryBudget() == nil {
		t.Error("the default max_retries of 3 must be replaced by a retry budget")
	}
	for _, e := range c.GetLoadAssignment().GetEndpoints() {
		if e.GetLoadBalancingWeight().GetValue() < 1 || e.GetLocality().GetRegion() == "" {
			t.Errorf("locality %v needs a region and a weight", e)
		}
	}
}

func TestFailoverEnvoyRoute(t *testing.T) {
	res := translate(t, failover(t), Group{Region: "norwayeast", Client: Envoy})
	rt := routeOf(t, res, "public", "resilient-api")
	rp := rt.GetRoute().GetRetryPolicy()
	if rp.GetRetryPriority().GetName() != "envoy.retry_priorities.previous_priorities" {
		t.Errorf("retry_priority = %v", rp.GetRetryPriority())
	}
	if rp.GetRetryHostPredicate()[0].GetName() != "envoy.retry_host_predicates.previous_hosts" {
		t.Errorf("retry_host_predicate = %v", rp.GetRetryHostPredicate())
	}
	if rp.GetNumRetries().GetValue() != 3 || rp.GetRetryOn() != "5xx,connect-failure,refused-stream,reset" {
		t.Errorf("retry = %v", rp)
	}
	if rt.GetRequestBodyBufferLimit().GetValue() == 0 || rt.GetRoute().GetPrefixRewrite() != "/api/ProcessRequestFunction" ||
		!rt.GetRoute().GetAutoHostRewrite().GetValue() {
		t.Errorf("route = %v", rt)
	}
	rc := res.Routes[0].(*routev3.RouteConfiguration)
	if !rc.GetVirtualHosts()[0].GetIncludeAttemptCountInResponse() {
		t.Error("include_attempt_count_in_response must be set")
	}
	l := res.Listeners[0].(*listenerv3.Listener)
	if l.GetName() != "public" || l.GetAddress().GetSocketAddress().GetPortValue() != 10000 {
		t.Errorf("listener = %v", l)
	}
}

func TestGRPCFailover(t *testing.T) {
	res := translate(t, failover(t), Group{Region: "swedencentral", Client: GRPC})
	if len(res.Listeners) != 1 {
		t.Fatalf("want one API listener, got %d", len(res.Listeners))
	}
	l := res.Listeners[0].(*listenerv3.Listener)
	if l.GetName() != "resilient-api" || l.GetApiListener() == nil || l.GetAddress() != nil {
		t.Errorf("API listener must be named like the API and have no socket: %v", l)
	}
	for _, leaf := range []string{"func-primary-sdc", "func-secondary-nwe"} {
		od := clusterOf(t, res, leaf).GetOutlierDetection()
		if od.GetEnforcingFailurePercentage().GetValue() != 100 || od.GetFailurePercentageMinimumHosts().GetValue() != 1 ||
			od.GetFailurePercentageRequestVolume().GetValue() != 3 || od.GetInterval().AsDuration().String() != "15s" {
			t.Errorf("%s: gRPC needs failure_percentage (enforcing 100, minimum hosts 1, volume = count, interval from the rule): %v", leaf, od)
		}
	}
	rp := routeOf(t, res, "resilient-api", "resilient-api").GetRoute().GetRetryPolicy()
	if rp.GetRetryOn() != "internal,unavailable" {
		t.Errorf("gRPC retry_on = %q, want internal,unavailable", rp.GetRetryOn())
	}
	if rt := routeOf(t, res, "resilient-api", "resilient-api"); rt.GetMatch().GetPrefix() != "/" || rt.GetRoute().GetPrefixRewrite() != "" {
		t.Errorf("gRPC route must match every method and not rewrite: %v", rt)
	}
}

// gRPC's own rules (grpc-go xdsresource): only EDS, LOGICAL_DNS and aggregate clusters,
// ROUND_ROBIN, no transport_socket_matches, a locality and a weight on every group, no
// address twice in one assignment, retry_on lowercase without spaces.
func TestGRPCRules(t *testing.T) {
	eachCase(t, GRPC, func(in string, res *Resources) {
		for _, r := range res.Clusters {
			c := r.(*clusterv3.Cluster)
			ok := c.GetType() == clusterv3.Cluster_EDS || c.GetType() == clusterv3.Cluster_LOGICAL_DNS
			if c.GetClusterType() != nil {
				ok = c.GetClusterType().GetName() == envoy.AggregateName
			}
			if !ok || c.GetLbPolicy() != clusterv3.Cluster_ROUND_ROBIN || len(c.GetTransportSocketMatches()) > 0 || c.GetTransportSocket() != nil {
				t.Errorf("%s: cluster %q breaks gRPC's rules: %v", in, c.GetName(), c)
			}
			if c.GetType() == clusterv3.Cluster_LOGICAL_DNS {
				checkAssignment(t, c.GetLoadAssignment())
			}
			if c.GetTypedExtensionProtocolOptions() != nil {
				t.Errorf("%s: cluster %q: gRPC clients get no upstream filters", in, c.GetName())
			}
		}
		for _, r := range res.Endpoints {
			checkAssignment(t, r.(*endpointv3.ClusterLoadAssignment))
		}
		for _, r := range res.Routes {
			for _, vh := range r.(*routev3.RouteConfiguration).GetVirtualHosts() {
				for _, rt := range vh.GetRoutes() {
					on := rt.GetRoute().GetRetryPolicy().GetRetryOn()
					if on != strings.ToLower(on) || strings.Contains(on, " ") {
						t.Errorf("%s: retry_on %q must be lowercase without spaces (grpc-js)", in, on)
					}
				}
			}
		}
	})
}

// eachCase translates every testdata/in case for every golden group of client kind
// client, and calls f with the case's name (and group key) and the resources.
func eachCase(t *testing.T, client ClientKind, f func(in string, res *Resources)) {
	t.Helper()
	ins, err := filepath.Glob("testdata/in/*.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no test models in testdata/in: %v", err)
	}
	for _, in := range ins {
		m := loadCase(t, in)
		for _, g := range goldenGroups() {
			if g.Client == client {
				f(in+"/"+g.Key(), translate(t, m, g))
			}
		}
	}
}

// checkAssignment checks an assignment against gRPC's rules: checkDense's, no address
// twice, and no endpoint metadata.
func checkAssignment(t *testing.T, la *endpointv3.ClusterLoadAssignment) {
	t.Helper()
	checkDense(t, la)
	seen := map[string]bool{}
	for _, e := range la.GetEndpoints() {
		for _, ep := range e.GetLbEndpoints() {
			sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
			key := fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue())
			if seen[key] {
				t.Errorf("%s: address %s twice", la.GetClusterName(), key)
			}
			seen[key] = true
			if ep.GetMetadata() != nil {
				t.Errorf("%s: gRPC endpoints carry no metadata (no secrets), got %v", la.GetClusterName(), ep.GetMetadata())
			}
		}
	}
}

// Priorities have no gaps and locality weights are set, for every case, group and kind.
func TestEveryAssignmentIsDense(t *testing.T) {
	eachCase(t, Envoy, func(_ string, res *Resources) {
		for _, r := range res.Clusters {
			if la := r.(*clusterv3.Cluster).GetLoadAssignment(); la != nil {
				checkDense(t, la)
			}
		}
		for _, r := range res.Endpoints {
			checkDense(t, r.(*endpointv3.ClusterLoadAssignment))
		}
	})
}

// checkDense: every locality has a locality and a weight, and priorities have no gap.
func checkDense(t *testing.T, la *endpointv3.ClusterLoadAssignment) {
	t.Helper()
	prios := map[uint32]bool{}
	for _, e := range la.GetEndpoints() {
		prios[e.GetPriority()] = true
		if e.GetLocality() == nil || e.GetLoadBalancingWeight().GetValue() < 1 {
			t.Errorf("%s: every locality needs a locality and a load_balancing_weight: %v", la.GetClusterName(), e)
		}
	}
	for p := uint32(0); p < uint32(len(prios)); p++ {
		if !prios[p] {
			t.Errorf("%s: priorities %v have a gap at %d", la.GetClusterName(), prios, p)
		}
	}
}

// A credential value appears only in endpoint metadata, and never for gRPC clients.
func TestSecretsOnlyInEndpointMetadata(t *testing.T) {
	m := failover(t)
	const secret = "primary-demo-key"
	for _, client := range ClientKinds {
		res := translate(t, m, Group{Region: "swedencentral", Client: client})
		found := false
		for _, r := range all(res) {
			r = proto.Clone(r)
			text := protojson.Format(r)
			if strings.Contains(text, secret) {
				found = true
			}
			stripEndpointMetadata(r)
			if strings.Contains(protojson.Format(r), secret) {
				t.Errorf("%s: the secret appears outside endpoint metadata in %s %q", client, kindOf(r), nameOf(r))
			}
		}
		if found != (client == Envoy) {
			t.Errorf("%s: secret sent = %v", client, found)
		}
	}
}

func stripEndpointMetadata(r types.Resource) {
	strip := func(la *endpointv3.ClusterLoadAssignment) {
		for _, e := range la.GetEndpoints() {
			for _, ep := range e.GetLbEndpoints() {
				ep.Metadata = nil
			}
		}
	}
	switch x := r.(type) {
	case *clusterv3.Cluster:
		strip(x.GetLoadAssignment())
	case *endpointv3.ClusterLoadAssignment:
		strip(x)
	}
}

func TestErrorMatcherNeedsEnvoy136(t *testing.T) {
	m := loadCase(t, "testdata/in/statuses.yaml")
	modern := translate(t, m, Group{Region: "swedencentral", Client: Envoy})
	c := clusterOf(t, modern, "ratelimited")
	opts := &upstreamhttpv3.HttpProtocolOptions{}
	if err := c.GetTypedExtensionProtocolOptions()[envoy.HTTPProtocolOptionsName].UnmarshalTo(opts); err != nil {
		t.Fatal(err)
	}
	if opts.GetOutlierDetection().GetErrorMatcher() == nil || c.GetOutlierDetection().GetConsecutive_5Xx().GetValue() != 4 {
		t.Errorf("429 and 500 need the error_matcher and consecutive_5xx: %v / %v", opts, c.GetOutlierDetection())
	}
	legacy := translate(t, m, Group{Region: "swedencentral", Client: Envoy, LegacyEnvoy: true})
	c = clusterOf(t, legacy, "ratelimited")
	if c.GetTypedExtensionProtocolOptions() != nil {
		t.Errorf("legacy Envoy must get no error_matcher: %v", c.GetTypedExtensionProtocolOptions())
	}
	w := strings.Join(legacy.Warnings, "\n")
	if !strings.Contains(w, "statuses 429 cannot count toward ejection on Envoy older than 1.36") {
		t.Errorf("warnings = %q", legacy.Warnings)
	}
}

func TestRankMembers(t *testing.T) {
	m := &model.Model{Backends: []*model.Backend{
		{Name: "a", Region: "r1"}, {Name: "b", Region: "r2"}, {Name: "c", Region: "r1"}, {Name: "d", Region: "r3"},
	}}
	p := &model.Pool{Name: "p", PreferLocalRegion: true, Services: []*model.PoolMember{
		{Backend: "a", Priority: 5, Weight: 1}, {Backend: "b", Priority: 1, Weight: 2},
		{Backend: "c", Priority: 9, Weight: 3}, {Backend: "d", Priority: 1, Weight: 1},
	}}
	rank := func(region string, prefer bool) string {
		p.PreferLocalRegion = prefer
		ms, _ := rankMembers(model.NewIndex(m), p, Group{Region: region, Client: Envoy})
		var parts []string
		for _, x := range ms {
			parts = append(parts, fmt.Sprintf("%s%d", x.backend.Name, x.rank))
		}
		return strings.Join(parts, " ")
	}
	for _, c := range []struct {
		region string
		prefer bool
		want   string
	}{
		{"r1", true, "a0 c0 b1 d1"}, // both local members join rank 0; the rest keep their order
		{"r2", true, "b0 d1 a2 c3"},
		{"r9", true, "b0 d0 a1 c2"}, // no local member: the model's order
		{"", true, "b0 d0 a1 c2"},
		{"r1", false, "b0 d0 a1 c2"},
	} {
		if got := rank(c.region, c.prefer); got != c.want {
			t.Errorf("region %q prefer %v: %s, want %s", c.region, c.prefer, got, c.want)
		}
	}
}

// PoolOrder is the translator's order as names: mirrored per region under
// preferLocalRegion, the model's order without a region or without preferLocalRegion.
func TestPoolOrder(t *testing.T) {
	m := failover(t)
	ix := model.NewIndex(m)
	p := m.Pool("load-balanced-pool")
	sdc, nwe := []string{"func-primary-sdc"}, []string{"func-secondary-nwe"}
	for _, c := range []struct {
		region string
		prefer bool
		want   [][]string
	}{
		{"swedencentral", true, [][]string{sdc, nwe}},
		{"norwayeast", true, [][]string{nwe, sdc}}, // the mirror image
		{"", true, [][]string{sdc, nwe}},           // no region: the model's order
		{"westeurope", true, [][]string{sdc, nwe}}, // no local member: the model's order
		{"norwayeast", false, [][]string{sdc, nwe}},
	} {
		p.PreferLocalRegion = c.prefer
		for _, client := range ClientKinds {
			if got := PoolOrder(ix, p, Group{Region: c.region, Client: client}); !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s/%s prefer %v: %v, want %v", c.region, client, c.prefer, got, c.want)
			}
		}
	}

	// Members sharing a priority share a level, in model order; local members all join 0.
	shared := &model.Model{Backends: []*model.Backend{
		{Name: "a", Region: "r1"}, {Name: "b", Region: "r2"}, {Name: "c", Region: "r1"}, {Name: "d", Region: "r3"},
	}}
	sp := &model.Pool{Name: "p", PreferLocalRegion: true, Services: []*model.PoolMember{
		{Backend: "a", Priority: 5}, {Backend: "b", Priority: 1}, {Backend: "c", Priority: 9}, {Backend: "d", Priority: 1},
	}}
	six := model.NewIndex(shared)
	if got, want := PoolOrder(six, sp, Group{Region: "r1", Client: Envoy}), [][]string{{"a", "c"}, {"b", "d"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("r1: %v, want %v", got, want)
	}
	if got, want := PoolOrder(six, sp, Group{Client: Envoy}), [][]string{{"b", "d"}, {"a"}, {"c"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("no region: %v, want %v", got, want)
	}
	if got := PoolOrder(six, &model.Pool{Name: "empty"}, Group{Client: Envoy}); got == nil || len(got) != 0 {
		t.Errorf("empty pool: %#v, want an empty non-nil order", got)
	}
}

func TestTranslateRejectsUnknownClient(t *testing.T) {
	if _, err := Translate(failover(t), Group{Region: "x", Client: "curl"}); err == nil || !strings.Contains(err.Error(), `"curl"`) {
		t.Errorf("err = %v", err)
	}
	if _, err := Translate(nil, Group{Client: Envoy}); err == nil {
		t.Error("nil model must be an error")
	}
}

func TestSortedByName(t *testing.T) {
	res := translate(t, loadCase(t, "testdata/in/dns.yaml"), Group{Region: "swedencentral", Client: GRPC})
	for _, rs := range [][]types.Resource{res.Clusters, res.Endpoints, res.Routes, res.Listeners} {
		for i := 1; i < len(rs); i++ {
			if nameOf(rs[i-1]) >= nameOf(rs[i]) {
				t.Errorf("%q before %q", nameOf(rs[i-1]), nameOf(rs[i]))
			}
		}
	}
}

// TestTrippedMembers: a tripped backend is UNHEALTHY in every cluster that holds it,
// Members names each cluster's backends for load reports, and the same state gives
// the same output.
func TestTrippedMembers(t *testing.T) {
	m := loadCase(t, "testdata/in/weighted.yaml")
	for _, client := range []ClientKind{Envoy, GRPC} {
		g := Group{Region: "swedencentral", Client: client}
		res, err := TranslateWith(m, g, Tripped{"web-a": true})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Members) == 0 {
			t.Fatalf("%s: no members", g)
		}
		seen := 0
		for _, r := range res.Endpoints {
			cla := r.(*endpointv3.ClusterLoadAssignment)
			if !slices.Contains(res.Members[cla.GetClusterName()], "web-a") {
				continue
			}
			for _, lle := range cla.GetEndpoints() {
				for _, e := range lle.GetLbEndpoints() {
					unhealthy := e.GetHealthStatus() == corev3.HealthStatus_UNHEALTHY
					if unhealthy != (lle.GetLocality().GetSubZone() == "web-a") {
						t.Errorf("%s %s: %s health %v", g, cla.GetClusterName(), lle.GetLocality().GetSubZone(), e.GetHealthStatus())
					}
					if unhealthy {
						seen++
					}
				}
			}
		}
		if seen == 0 {
			t.Errorf("%s: web-a is UNHEALTHY nowhere", g)
		}
		for _, r := range res.Clusters {
			c := r.(*clusterv3.Cluster)
			if got := c.GetLrsServer().GetSelf() != nil; got != (client == GRPC && c.GetClusterType() == nil) {
				t.Errorf("%s cluster %s: lrs_server self = %v", g, c.GetName(), got)
			}
		}
	}
}
