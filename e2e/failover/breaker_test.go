package failover

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	lrsv3 "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/poolpilot/poolpilot/e2e/internal/harness"
	"github.com/poolpilot/poolpilot/xds/admin"
)

// The fleet breaker's scenarios. poolpilot asks every client for a load report each
// lrsInterval (serve's default); the rule of each test is below each client's own
// outlier detector where the scenario needs it.
const (
	lrsInterval = time.Second
	poolName    = "load-balanced-pool"
	ruleName    = "fleet-breaker"
)

// breakerSpec is a two-backend pool whose members carry one fleet breaker rule.
type breakerSpec struct {
	Members  []member
	Count    int
	Interval time.Duration
	Trip     time.Duration
	Scope    string
}

var breakerTmpl = template.Must(template.New("model").Parse(`# written by e2e/failover (fleet breaker)
backends:
{{- range .Members}}
  - name: {{.Backend.Name}}
    url: http://{{.Backend.GRPCAddr}}
    region: {{.Backend.Region}}
    circuitBreaker:
      rules:
        - name: ` + ruleName + `
          tripDuration: {{$.Trip}}
          scope: {{$.Scope}}
          failureCondition:
            count: {{$.Count}}
            interval: {{$.Interval}}
            errorReasons: [BackendConnectionFailure]
            statusCodeRanges: [{min: 500, max: 599}]
{{- end}}
pools:
  - name: ` + poolName + `
    preferLocalRegion: false
    services:
{{- range .Members}}
      - {backend: {{.Backend.Name}}, priority: {{.Priority}}, weight: 1}
{{- end}}
apis:
  - name: ` + apiName + `
    pathPrefix: /resilient-api/
    backend: ` + poolName + `
listeners:
  - {name: public, port: 10000, apis: [` + apiName + `]}
`))

func (s breakerSpec) yaml(t testing.TB) []byte {
	t.Helper()
	if s.Scope == "" {
		s.Scope = "fleet"
	}
	var buf bytes.Buffer
	if err := breakerTmpl.Execute(&buf, s); err != nil {
		t.Fatalf("model template: %v", err)
	}
	return buf.Bytes()
}

// startBreakerFleet starts the two demo backends, poolpilot with spec (every region
// tries the primary first), and returns the fleet.
func startBreakerFleet(t *testing.T, spec func(f *fleet) breakerSpec) *fleet {
	t.Helper()
	f := newFleet(t)
	f.writeModelBytes(t, spec(f).yaml(t))
	f.startPoolpilot(t)
	return f
}

func primaryFirst(f *fleet, count int, interval, trip time.Duration, scope string) breakerSpec {
	return breakerSpec{Members: []member{{Backend: f.primary, Priority: 1}, {Backend: f.secondary, Priority: 2}},
		Count: count, Interval: interval, Trip: trip, Scope: scope}
}

// waitTrip polls /status until a trip of backend opened after since is open, and
// returns it.
func (f *fleet) waitTrip(t *testing.T, backend string, since time.Time, timeout time.Duration) admin.BreakerTrip {
	t.Helper()
	var trip admin.BreakerTrip
	f.waitStatus(t, "a fleet breaker trip of "+backend, timeout, func(st admin.Status) bool {
		for _, o := range openTrips(st) {
			if o.Backend == backend && o.At.After(since) {
				trip = o
				return true
			}
		}
		return false
	})
	return trip
}

// lastFailure is the latest start of a call that reached the failing primary (a failed
// call: only the primary fails), over every client.
func lastFailure(cs ...*client) (time.Time, string) {
	var last time.Time
	var who string
	for _, c := range cs {
		for _, r := range failed(c.rpcs()) {
			if r.started().After(last) {
				last, who = r.started(), c.name
			}
		}
	}
	return last, who
}

// Scenario 1 and 6: three clients (four with grpc-js) in two regions each send too few calls per interval
// for their own outlier detector (its request volume is the rule's count), but together
// they meet the count: poolpilot trips the primary for the whole fleet, /status shows
// the trip, and from 2 reporting intervals after the rule was met no client sends the
// primary a call.
func TestFleetBreakerBeatsProxy(t *testing.T) {
	t.Parallel()
	const count, interval = 6, 10 * time.Second
	f := startBreakerFleet(t, func(f *fleet) breakerSpec { return primaryFirst(f, count, interval, 30*time.Second, "fleet") })
	// 0.5 calls/s: 5 calls in an interval, below the detector's volume of 6.
	slow := []string{"--rate", "0.5"}
	clients := []*client{
		f.startClient(t, "fleet-sdc-1", sdc, slow...),
		f.startClient(t, "fleet-sdc-2", sdc, slow...),
		f.startClient(t, "fleet-nwe-1", nwe, slow...),
	}
	js := startGrpcJSClient(t, f, "fleet-nwe-js", nwe, 0.5, 40)
	if js != nil {
		clients = append(clients, js)
	}
	fault := time.Now()
	if _, err := f.primary.Admin.Fail(t.Context(), 503); err != nil {
		t.Fatal(err)
	}
	trip := f.waitTrip(t, primaryName, fault, 30*time.Second)
	if trip.Scope != "fleet" || trip.Rule != ruleName || trip.Errors < count || trip.Proxies < 2 ||
		!trip.OpenUntil.Equal(trip.At.Add(30*time.Second)) || !strings.Contains(trip.Condition, "6") {
		t.Errorf("/status breaker.open = %+v, want the fleet trip by %s with at least %d failures from at least 2 proxies, open for 30s", trip, ruleName, count)
	}
	// The metrics say what /status says while the trip lasts.
	metrics := f.metrics(t)
	for _, want := range []string{
		`poolpilot_breaker_open{backend="` + primaryName + `",region="",scope="fleet"} 1`,
		`poolpilot_breaker_trips_total{backend="` + primaryName + `",region="",scope="fleet"} 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics has no line %q while /status shows the trip", want)
		}
	}
	cutoff := trip.At.Add(2 * lrsInterval)
	for _, c := range clients {
		c.waitFor(t, "started 2 calls after the cutoff", cutoff.Add(2*time.Second), 20*time.Second, func(rpc) bool { return true })
	}
	atCutoff := grpcCount(t, f.primary)
	time.Sleep(2 * time.Second)
	if n := grpcCount(t, f.primary) - atCutoff; n != 0 {
		t.Errorf("the primary received %d calls after trip + 2 reporting intervals", n)
	}
	for _, c := range clients {
		rs := after(c.rpcs(), cutoff)
		requireServedBy(t, c.name+" after trip + 2 intervals", rs, secondaryName)
		pre := between(c.rpcs(), fault, trip.At)
		t.Logf("%s: %d failures between the fault and the trip", c.name, len(failed(pre)))
	}
	last, who := lastFailure(clients...)
	t.Logf("MEASURED fleet breaker (lrs=%v count=%d interval=%v, %d clients at 0.5/s, grpc-js=%v): fault → trip %s (%d failures from %d proxies); last call to the primary started %s after the trip (negative: before it; by %s)",
		lrsInterval, count, interval, len(clients), js != nil, secs(trip.At.Sub(fault)), trip.Errors, trip.Proxies, secs(last.Sub(trip.At)), who)
	for _, c := range clients[:3] {
		c.stop(t)
	}
}

// Scenario 2: a backend failing every other call trips under a count rule. Envoy's
// consecutive detector never sees two failures in a row.
func TestFleetBreakerCountWithinInterval(t *testing.T) {
	t.Parallel()
	alt := startAlternatingBackend(t, "func-flaky-sdc", sdc)
	f := newFleet(t)
	f.writeModelBytes(t, breakerSpec{Members: []member{{Backend: alt.backend, Priority: 1}, {Backend: f.secondary, Priority: 2}},
		Count: 4, Interval: 10 * time.Second, Trip: 30 * time.Second}.yaml(t))
	f.startPoolpilot(t)
	start := time.Now()
	c := f.startClient(t, "flaky-sdc", sdc, "--rate", "2")
	trip := f.waitTrip(t, alt.backend.Name, start, 30*time.Second)
	if trip.Errors < 4 || trip.Requests < 2*trip.Errors-2 {
		t.Errorf("trip %+v: want at least 4 failures, about half the requests", trip)
	}
	cutoff := trip.At.Add(2 * lrsInterval)
	c.waitFor(t, "3 calls after the cutoff", cutoff.Add(1500*time.Millisecond), 20*time.Second, func(rpc) bool { return true })
	requireServedBy(t, c.name+" after trip + 2 intervals", after(c.rpcs(), cutoff), secondaryName)
	t.Logf("MEASURED fleet breaker, every other call failing (count=4 interval=10s rate=2/s): first call → trip %s (%d of %d failed); %d calls reached the flaky backend",
		secs(trip.At.Sub(start)), trip.Errors, trip.Requests, alt.calls.Load())
	c.stop(t)
}

// Scenario 3: after tripDuration the primary gets calls again with no restart; still
// failing, it trips again; once it recovers, it serves again.
func TestFleetBreakerRestoresAndRetrips(t *testing.T) {
	t.Parallel()
	const trip = 4 * time.Second
	f := startBreakerFleet(t, func(f *fleet) breakerSpec { return primaryFirst(f, 3, 5*time.Second, trip, "fleet") })
	c := f.startClient(t, "restore-sdc", sdc, "--rate", "4")
	fault := time.Now()
	if _, err := f.primary.Admin.Fail(t.Context(), 503); err != nil {
		t.Fatal(err)
	}
	first := f.waitTrip(t, primaryName, fault, 30*time.Second)
	// Back to the primary after OpenUntil: its calls fail again, and it trips again.
	again := c.waitFor(t, "reaching the primary again after tripDuration", first.OpenUntil, 20*time.Second, func(r rpc) bool { return !r.ok() })
	second := f.waitTrip(t, primaryName, first.OpenUntil, 30*time.Second)
	t.Logf("MEASURED fleet breaker restore (trip=%v count=3 interval=5s rate=4/s): trip closes → first call to the primary %s; → second trip %s",
		trip, secs(again.started().Sub(first.OpenUntil)), secs(second.At.Sub(first.OpenUntil)))
	if _, err := f.primary.Admin.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	back := c.waitFor(t, "served by the recovered primary after the second trip", second.OpenUntil, 20*time.Second, func(r rpc) bool { return r.servedBy(primaryName) })
	t.Logf("MEASURED second trip closes → served by the primary %s", secs(back.ended().Sub(second.OpenUntil)))
	c.stop(t)
}

// Scenario 4: with scope region, swedencentral's reports trip the primary for
// swedencentral only: the norwayeast node group's snapshot does not change and its
// client keeps calling the primary.
func TestFleetBreakerRegionScope(t *testing.T) {
	t.Parallel()
	f := startBreakerFleet(t, func(f *fleet) breakerSpec { return primaryFirst(f, 6, 10*time.Second, 30*time.Second, "region") })
	s1 := f.startClient(t, "scope-sdc-1", sdc, "--rate", "2")
	s2 := f.startClient(t, "scope-sdc-2", sdc, "--rate", "2")
	// 0.3 calls/s: 3 failures in an interval, below the count of 6 for norwayeast alone.
	n := f.startClient(t, "scope-nwe", nwe, "--rate", "0.3")
	before := f.groupVersions(t, nwe+"/grpc")
	fault := time.Now()
	if _, err := f.primary.Admin.Fail(t.Context(), 503); err != nil {
		t.Fatal(err)
	}
	trip := f.waitTrip(t, primaryName, fault, 30*time.Second)
	if trip.Scope != "region" || trip.Region != sdc {
		t.Fatalf("trip %+v, want scope region for %s", trip, sdc)
	}
	cutoff := trip.At.Add(2 * lrsInterval)
	s1.waitFor(t, "calls after the cutoff", cutoff.Add(time.Second), 20*time.Second, func(rpc) bool { return true })
	requireServedBy(t, s1.name, after(s1.rpcs(), cutoff), secondaryName)
	requireServedBy(t, s2.name, after(s2.rpcs(), cutoff), secondaryName)
	late := n.waitFor(t, "a call to the primary after the swedencentral trip", cutoff, 20*time.Second, func(r rpc) bool { return !r.ok() })
	if after := f.groupVersions(t, nwe+"/grpc"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("norwayeast/grpc versions changed from %v to %v by a swedencentral trip", before, after)
	}
	st, err := f.status(t)
	if err != nil {
		t.Fatal(err)
	}
	open := openTrips(st)
	if len(open) == 0 {
		t.Errorf("/status shows no open trip; want swedencentral's")
	}
	for _, o := range open {
		if o.Region == nwe || o.Scope == "fleet" {
			t.Errorf("trip %+v: only swedencentral's should be open", o)
		}
	}
	t.Logf("MEASURED region scope: fault → swedencentral trip %s; norwayeast still calls the primary %s after the trip",
		secs(trip.At.Sub(fault)), secs(late.started().Sub(trip.At)))
	for _, c := range []*client{s1, s2, n} {
		c.stop(t)
	}
}

// Scenario 5: forged and absurd load reports trip nothing, and poolpilot keeps serving.
func TestFleetBreakerBadReports(t *testing.T) {
	t.Parallel()
	f := startBreakerFleet(t, func(f *fleet) breakerSpec { return primaryFirst(f, 3, 10*time.Second, 30*time.Second, "fleet") })
	c := f.startClient(t, "bad-sdc", sdc, "--rate", "4")
	conn, err := grpc.NewClient(f.xdsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	ctx := t.Context()
	// A node with an ADS stream, so that only the content of its reports is wrong.
	forger := &corev3.Node{Id: "forger-sdc", Locality: &corev3.Locality{Region: sdc}, UserAgentName: "gRPC Go"}
	ads, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ads.Send(&discovery.DiscoveryRequest{Node: forger, TypeUrl: resourcev3.ClusterType, ResourceNames: []string{poolName}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ads.Recv(); err != nil {
		t.Fatal(err)
	}
	report := func(cluster string, ok, failedN uint64) *lrsv3.LoadStatsRequest {
		return &lrsv3.LoadStatsRequest{ClusterStats: []*endpointv3.ClusterStats{{
			ClusterName: cluster,
			UpstreamLocalityStats: []*endpointv3.UpstreamLocalityStats{{
				Locality:                &corev3.Locality{Region: sdc, SubZone: primaryName},
				TotalSuccessfulRequests: ok, TotalErrorRequests: failedN, TotalIssuedRequests: ok + failedN,
			}},
			LoadReportInterval: durationpb.New(lrsInterval),
		}}}
	}
	huge := ^uint64(0) // -1 sent as a uint64
	cases := []struct {
		name string
		node *corev3.Node
		msgs []*lrsv3.LoadStatsRequest
	}{
		{"no ADS stream", &corev3.Node{Id: "ghost", Locality: &corev3.Locality{Region: sdc}}, []*lrsv3.LoadStatsRequest{report(poolName, 0, 50)}},
		{"unknown cluster", forger, []*lrsv3.LoadStatsRequest{report("forged-cluster", 0, 50)}},
		{"negative count", forger, []*lrsv3.LoadStatsRequest{report(poolName, 0, huge)}},
		{"huge count", forger, []*lrsv3.LoadStatsRequest{report(poolName, 0, 2_000_000)}},
	}
	for _, tc := range cases {
		st, err := lrsv3.NewLoadReportingServiceClient(conn).StreamLoadStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&lrsv3.LoadStatsRequest{Node: tc.node}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, m := range tc.msgs {
			if err := st.Send(m); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		_ = st.CloseSend()
	}
	// Every case is logged; then nothing is open, and the client is still served.
	for _, re := range []string{`without an open ADS stream`, `does not serve`, `18446744073709551615 is more than 1000000`, `2000000 is more than 1000000`} {
		if _, err := f.poolpilot.WaitForLine(regexp.MustCompile(re), 10*time.Second); err != nil {
			t.Errorf("no poolpilot log line matching %q: %v\n%s", re, err, f.poolpilot.Tail(30))
		}
	}
	checked := time.Now()
	c.waitFor(t, "calls 2 reporting intervals after the reports", checked.Add(2*lrsInterval), 20*time.Second, func(rpc) bool { return true })
	st, err := f.status(t)
	if err != nil {
		t.Fatal(err)
	}
	if len(openTrips(st)) != 0 {
		t.Errorf("bad reports opened %+v", openTrips(st))
	}
	requireServedBy(t, c.name, after(c.rpcs(), checked), primaryName)
	c.stop(t)
}

// groupVersions reads a node group's versions from /status.
func (f *fleet) groupVersions(t *testing.T, key string) map[string]string {
	t.Helper()
	st, err := f.status(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range st.Groups {
		if g.Key == key {
			return g.Versions
		}
	}
	t.Fatalf("no node group %s in /status", key)
	return nil
}

// alternating is an in-process grpc.testing.TestService backend on 127.0.0.1 that
// answers UNAVAILABLE to every other call.
type alternating struct {
	testgrpc.UnimplementedTestServiceServer
	backend *harness.Backend
	calls   atomic.Int64
}

func (a *alternating) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if a.calls.Add(1)%2 == 0 {
		return nil, status.Error(codes.Unavailable, "failing every other call")
	}
	return &testgrpc.SimpleResponse{ServerId: a.backend.Name, Hostname: a.backend.Name}, nil
}

func startAlternatingBackend(t *testing.T, name, region string) *alternating {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &alternating{backend: &harness.Backend{Name: name, Region: region, GRPCAddr: lis.Addr().String()}}
	g := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(g, a)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return a
}

// startGrpcJSClient starts an @grpc/grpc-js-xds client making count calls at rate, or
// returns nil (and says why) when node or the packages are missing outside CI.
func startGrpcJSClient(t *testing.T, f *fleet, nodeID, region string, rate float64, count int) *client {
	t.Helper()
	node, err := exec.LookPath("node")
	root, rerr := harness.ModuleRoot()
	if rerr != nil {
		t.Fatal(rerr)
	}
	dir := filepath.Join(root, "e2e", "node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "@grpc", "grpc-js-xds"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("grpc-js-xds client: %v (run `npm ci --prefix e2e/node`)", err)
		}
		t.Logf("no grpc-js-xds client in this run: %v (run `npm ci --prefix e2e/node`)", err)
		return nil
	}
	p := f.runGrpcJS(t, node, dir, nodeID, region, count, rate)
	p.RequireLine(t, clientReady, startTimeout)
	return &client{name: nodeID + " (grpc-js)", p: p}
}

// runGrpcJS starts e2e/node/client.js (in dir, run by node) as nodeID in region: count
// calls to the API at rate per second, with poolpilot's xDS address in its bootstrap.
func (f *fleet) runGrpcJS(t *testing.T, node, dir, nodeID, region string, count int, rate float64) *harness.Process {
	t.Helper()
	return harness.Start(f.ctx, t, harness.Options{
		Bin:  node,
		Args: []string{"client.js", "--target", "xds:///" + apiName, "--count", fmt.Sprint(count), "--rate", fmt.Sprint(rate)},
		Dir:  dir,
		Env:  []string{"GRPC_XDS_BOOTSTRAP_CONFIG=" + bootstrap(f.xdsAddr, nodeID, region)},
		Name: "grpc-js-xds " + nodeID,
	})
}

// A DNS-named primary reaches gRPC clients as a LOGICAL_DNS leaf of an aggregate cluster,
// which carries no health: the trip takes the leaf out of the aggregate's list instead,
// and the clients move to the next leaf. grpc-go reports a LOGICAL_DNS leaf under an
// empty locality, which poolpilot maps to the leaf's backend.
func TestFleetBreakerDNSNamedLeaf(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	_, port, err := net.SplitHostPort(f.primary.GRPCAddr)
	if err != nil {
		t.Fatal(err)
	}
	byName := *f.primary
	byName.GRPCAddr = "localhost:" + port
	f.writeModelBytes(t, breakerSpec{Members: []member{{Backend: &byName, Priority: 1}, {Backend: f.secondary, Priority: 2}},
		Count: 3, Interval: 10 * time.Second, Trip: 30 * time.Second}.yaml(t))
	f.startPoolpilot(t)
	clients := []*client{f.startClient(t, "dns-sdc", sdc, "--rate", "2")}
	if js := startGrpcJSClient(t, f, "dns-nwe-js", nwe, 2, 80); js != nil {
		clients = append(clients, js)
	}
	for _, c := range clients {
		c.waitFor(t, "served by the DNS-named primary", time.Now(), 10*time.Second, func(r rpc) bool { return r.servedBy(primaryName) })
	}
	fault := time.Now()
	if _, err := f.primary.Admin.Fail(t.Context(), 503); err != nil {
		t.Fatal(err)
	}
	trip := f.waitTrip(t, primaryName, fault, 30*time.Second)
	cutoff := trip.At.Add(2 * lrsInterval)
	for _, c := range clients {
		c.waitFor(t, "calls after the cutoff", cutoff.Add(time.Second), 20*time.Second, func(rpc) bool { return true })
		requireServedBy(t, c.name+" after trip + 2 intervals", after(c.rpcs(), cutoff), secondaryName)
	}
	t.Logf("MEASURED DNS-named leaf (count=3 interval=10s, %d clients at 2/s): fault → trip %s (%d failures from %d proxies)",
		len(clients), secs(trip.At.Sub(fault)), trip.Errors, trip.Proxies)
	clients[0].stop(t)
}

// When every member of the pool is tripped, clients fail fast (no endpoint is healthy
// and the panic threshold is 0): no call reaches either backend, and the node groups'
// warnings on /status say so.
func TestFleetBreakerAllTrippedFailsFast(t *testing.T) {
	t.Parallel()
	f := startBreakerFleet(t, func(f *fleet) breakerSpec { return primaryFirst(f, 3, 10*time.Second, 30*time.Second, "fleet") })
	c := f.startClient(t, "all-sdc", sdc, "--rate", "4")
	fault := time.Now()
	for _, b := range []*harness.Backend{f.primary, f.secondary} {
		if _, err := b.Admin.Fail(t.Context(), 503); err != nil {
			t.Fatal(err)
		}
	}
	first := f.waitTrip(t, primaryName, fault, 30*time.Second)
	second := f.waitTrip(t, secondaryName, fault, 30*time.Second)
	cutoff := second.At.Add(2 * lrsInterval)
	c.waitFor(t, "calls after the cutoff", cutoff.Add(time.Second), 20*time.Second, func(rpc) bool { return true })
	before := grpcCount(t, f.primary) + grpcCount(t, f.secondary)
	c.waitFor(t, "more calls", time.Now().Add(time.Second), 20*time.Second, func(rpc) bool { return true })
	if n := grpcCount(t, f.primary) + grpcCount(t, f.secondary) - before; n != 0 {
		t.Errorf("%d calls reached a tripped backend while both were tripped", n)
	}
	rs := after(c.rpcs(), cutoff)
	var slowest time.Duration
	for _, r := range rs {
		if r.ok() || r.Code != "Unavailable" {
			t.Errorf("call %d after both trips: %s %s, want UNAVAILABLE", r.Seq, r.Code, r.Error)
		}
		slowest = max(slowest, r.ended().Sub(r.started()))
	}
	st, err := f.status(t)
	if err != nil {
		t.Fatal(err)
	}
	warned := false
	for _, g := range st.Groups {
		for _, w := range g.Warnings {
			warned = warned || strings.Contains(w, "the fleet breaker has tripped every member")
		}
	}
	if !warned {
		t.Errorf("no node group warns that every member of the pool is tripped")
	}
	t.Logf("MEASURED all members tripped: trips %s and %s after the fault; %d calls after, all UNAVAILABLE, the slowest took %s (deadline %v)",
		secs(first.At.Sub(fault)), secs(second.At.Sub(fault)), len(rs), secs(slowest), clientDeadline)
	c.stop(t)
}

// openTrips is /status's breaker.open: none when the server shows no breaker section.
func openTrips(st admin.Status) []admin.BreakerTrip {
	if st.Breaker == nil {
		return nil
	}
	return st.Breaker.Open
}
