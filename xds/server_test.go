package xds

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
)

// testTranslate and testModel are what the stream tests serve: the real translator on
// the example model.
var testTranslate TranslateFunc = translator.Translate

// testModel loads testdata/two-region.yaml (IP backends, so every group has EDS);
// variant > 0 changes every backend's breaker count and port, which changes the clusters
// (outlier detection) and endpoints of every group.
func testModel(t *testing.T, variant int) *model.Model {
	t.Helper()
	return loadVariant(t, "testdata/two-region.yaml", variant)
}

func loadVariant(t *testing.T, path string, variant int) *model.Model {
	t.Helper()
	m, err := model.Load(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	for _, b := range m.Backends {
		b.Endpoint.Port += uint32(variant)
		if cb := b.CircuitBreaker; cb != nil && len(cb.Rules) > 0 && cb.Rules[0].FailureCondition.Count > 0 {
			cb.Rules[0].FailureCondition.Count += variant
		}
	}
	return m
}

func mustApply(t *testing.T, s *Server, m *model.Model) {
	t.Helper()
	if err := s.Apply(m); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func groupVersions(t *testing.T, s *Server, key string) map[string]string {
	t.Helper()
	for _, g := range s.Status().Groups {
		if g.Key == key {
			return g.Versions
		}
	}
	t.Fatalf("no group %q in status", key)
	return nil
}

func streamOf(t *testing.T, s *Server, nodeID string, kind StreamKind) StreamStatus {
	t.Helper()
	for _, st := range s.Status().Streams {
		if st.NodeID == nodeID && st.Kind == kind {
			return st
		}
	}
	t.Fatalf("no %s stream of node %q in status", kind, nodeID)
	return StreamStatus{}
}

func TestEnvoyNodeReceivesAndAcksItsGroup(t *testing.T) {
	s, addr := startServer(t, Options{})
	mustApply(t, s, testModel(t, 0))
	want := groupVersions(t, s, "swedencentral/envoy")

	c := newSotwClient(t, addr, envoyNode("envoy-sdc-1", "swedencentral"))
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	cds := c.next(resourcev3.ClusterType)
	if cds.GetVersionInfo() != want[resourcev3.ClusterType] {
		t.Errorf("CDS version %q, want the group's %q", cds.GetVersionInfo(), want[resourcev3.ClusterType])
	}
	clusters := resourceNames(t, cds)
	if len(clusters) == 0 {
		t.Fatal("CDS response has no clusters")
	}
	c.ack(cds)

	c.subscribeExactly(resourcev3.EndpointType, clusters)

	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	lds := c.next(resourcev3.ListenerType)
	if len(lds.GetResources()) == 0 {
		t.Fatal("LDS response has no listeners")
	}
	routeNames := rdsNames(t, lds)
	c.ack(lds)

	c.subscribeExactly(resourcev3.RouteType, routeNames)

	adstest.WaitFor(t, "four ACKs in status", func() bool {
		st := streamOf(t, s, "envoy-sdc-1", SotW)
		for _, url := range []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType} {
			if st.Types[url].AckedVersion != want[url] || st.Types[url].Acks != 1 {
				return false
			}
		}
		return true
	})
	st := streamOf(t, s, "envoy-sdc-1", SotW)
	if st.Group != "swedencentral/envoy" {
		t.Errorf("stream group %q, want swedencentral/envoy", st.Group)
	}
	if n := c.count(resourcev3.ClusterType, 300*time.Millisecond); n != 0 {
		t.Errorf("%d CDS responses after the ACK, want 0", n)
	}
}

func TestGRPCNodeGetsAPIListeners(t *testing.T) {
	s, addr := startServer(t, Options{})
	mustApply(t, s, testModel(t, 0))

	c := newSotwClient(t, addr, grpcNode("grpc-client-1", "norwayeast"))
	// A gRPC client dialling xds:///resilient-api asks for exactly that listener.
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResourceNames: []string{"resilient-api"}})
	lds := c.next(resourcev3.ListenerType)
	if got := resourceNames(t, lds); !slices.Equal(got, []string{"resilient-api"}) {
		t.Fatalf("LDS listeners %v, want [resilient-api]", got)
	}
	l := unmarshalListener(t, lds.GetResources()[0])
	if l.GetApiListener() == nil {
		t.Errorf("listener %q has no api_listener; a gRPC client needs one", l.GetName())
	}
	c.ack(lds, "resilient-api")
	adstest.WaitFor(t, "LDS ACK in status", func() bool {
		return streamOf(t, s, "grpc-client-1", SotW).Types[resourcev3.ListenerType].Acks == 1
	})
	if g := streamOf(t, s, "grpc-client-1", SotW).Group; g != "norwayeast/grpc" {
		t.Errorf("group %q, want norwayeast/grpc", g)
	}
}

func TestNackDoesNotLoopAndIsRecorded(t *testing.T) {
	s, addr := startServer(t, Options{})
	mustApply(t, s, testModel(t, 0))

	c := newSotwClient(t, addr, envoyNode("envoy-nack", "swedencentral"))
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	first := c.next(resourcev3.ClusterType)

	// Reject it, as a client does: the last accepted version (none) and the error.
	const detail = "cluster func-primary-sdc: priority 0 missing"
	c.send(&discovery.DiscoveryRequest{
		TypeUrl: resourcev3.ClusterType, ResponseNonce: first.GetNonce(),
		ErrorDetail: &status.Status{Code: 3, Message: detail},
	})
	if n := c.rejectFor(resourcev3.ClusterType, "", detail, 2*time.Second); n > 2 {
		t.Fatalf("%d CDS responses in the 2s after a NACK, want at most 2 (resend loop)", n)
	}

	st := streamOf(t, s, "envoy-nack", SotW).Types[resourcev3.ClusterType]
	if st.LastNack == nil {
		t.Fatal("NACK not recorded in Status")
	}
	if st.LastNack.Message != detail || st.LastNack.Version != first.GetVersionInfo() {
		t.Errorf("recorded NACK %+v, want version %q and detail %q", *st.LastNack, first.GetVersionInfo(), detail)
	}
	if st.Nacks != 1 || st.Acks != 0 {
		t.Errorf("counts: %d NACKs, %d ACKs; want 1, 0", st.Nacks, st.Acks)
	}

	// The stream is not stuck: the next model reaches it.
	mustApply(t, s, testModel(t, 1))
	next := c.next(resourcev3.ClusterType)
	if next.GetVersionInfo() == first.GetVersionInfo() {
		t.Fatalf("after a new model the rejected version %q was sent again", first.GetVersionInfo())
	}
	if want := groupVersions(t, s, "swedencentral/envoy")[resourcev3.ClusterType]; next.GetVersionInfo() != want {
		t.Errorf("got version %q, want the new snapshot's %q", next.GetVersionInfo(), want)
	}
	c.ack(next)
	adstest.WaitFor(t, "ACK of the new version", func() bool {
		return streamOf(t, s, "envoy-nack", SotW).Types[resourcev3.ClusterType].AckedVersion == next.GetVersionInfo()
	})
}

// A NACK of a version the snapshot has already moved past is answered at once with the
// newer version, not held.
func TestNackOfOldVersionGetsNewerSnapshot(t *testing.T) {
	s, addr := startServer(t, Options{})
	mustApply(t, s, testModel(t, 0))
	c := newSotwClient(t, addr, envoyNode("envoy-old-nack", "swedencentral"))
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	first := c.next(resourcev3.ClusterType)
	c.ack(first)
	adstest.WaitFor(t, "ACK", func() bool {
		return streamOf(t, s, "envoy-old-nack", SotW).Types[resourcev3.ClusterType].Acks == 1
	})

	mustApply(t, s, testModel(t, 1))
	second := c.next(resourcev3.ClusterType)
	mustApply(t, s, testModel(t, 2)) // the snapshot moves on before the client answers
	c.send(&discovery.DiscoveryRequest{
		TypeUrl: resourcev3.ClusterType, VersionInfo: first.GetVersionInfo(), ResponseNonce: second.GetNonce(),
		ErrorDetail: &status.Status{Code: 3, Message: "rejected"},
	})
	third := c.next(resourcev3.ClusterType)
	if want := groupVersions(t, s, "swedencentral/envoy")[resourcev3.ClusterType]; third.GetVersionInfo() != want {
		t.Errorf("after NACK of %q got %q, want the current %q", second.GetVersionInfo(), third.GetVersionInfo(), want)
	}
}

func TestVersionsAreDeterministic(t *testing.T) {
	for _, path := range []string{"testdata/two-region.yaml", "../examples/failover/model.yaml"} {
		t.Run(path, func(t *testing.T) { testDeterministic(t, path) })
	}
}

// testDeterministic: two servers (as two replicas, or one before and after a restart)
// loading the same file give identical versions.
func testDeterministic(t *testing.T, path string) {
	a := New(Options{Logger: adstest.Logger(t), Translate: testTranslate})
	b := New(Options{Logger: adstest.Logger(t), Translate: testTranslate})
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	mustApply(t, a, loadVariant(t, path, 0))
	mustApply(t, b, loadVariant(t, path, 0))
	sa, sb := a.Status(), b.Status()
	if sa.ModelVersion == "" || sa.ModelVersion != sb.ModelVersion {
		t.Fatalf("model versions %q and %q, want equal and non-empty", sa.ModelVersion, sb.ModelVersion)
	}
	if len(sa.Groups) != len(sb.Groups) || len(sa.Groups) == 0 {
		t.Fatalf("%d and %d groups", len(sa.Groups), len(sb.Groups))
	}
	for i := range sa.Groups {
		ga, gb := sa.Groups[i], sb.Groups[i]
		if ga.Key != gb.Key || !maps.Equal(ga.Versions, gb.Versions) {
			t.Errorf("group %s versions %v, other server %s %v", ga.Key, ga.Versions, gb.Key, gb.Versions)
		}
	}
	// The same content applied again keeps every version; different content changes it.
	mustApply(t, a, loadVariant(t, path, 0))
	if v := a.Status().ModelVersion; v != sa.ModelVersion {
		t.Errorf("re-applying the same model changed the version %q → %q", sa.ModelVersion, v)
	}
	mustApply(t, a, loadVariant(t, path, 1))
	if v := a.Status().ModelVersion; v == sa.ModelVersion {
		t.Errorf("a changed model kept version %q", v)
	}
}

func TestApplyIsAtomic(t *testing.T) {
	var fail atomic.Bool
	translate := func(m *model.Model, g translator.Group) (*translator.Resources, error) {
		if fail.Load() && g.Region == "norwayeast" && g.Client == translator.GRPC {
			return nil, errInjected
		}
		return testTranslate(m, g)
	}
	s, addr := startServer(t, Options{Translate: translate})
	mustApply(t, s, testModel(t, 0))
	before := s.Status()

	c := newSotwClient(t, addr, envoyNode("envoy-atomic", "swedencentral"))
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	c.ack(c.next(resourcev3.ClusterType))

	fail.Store(true)
	err := s.Apply(testModel(t, 1))
	if err == nil || !strings.Contains(err.Error(), "norwayeast/grpc") || !strings.Contains(err.Error(), errInjected.Error()) {
		t.Fatalf("Apply error %v, want one naming group norwayeast/grpc and the cause", err)
	}
	after := s.Status()
	if after.ModelVersion != before.ModelVersion {
		t.Errorf("failed Apply changed the model version %q → %q", before.ModelVersion, after.ModelVersion)
	}
	for i := range before.Groups {
		if !maps.Equal(before.Groups[i].Versions, after.Groups[i].Versions) {
			t.Errorf("failed Apply changed group %s: %v → %v", before.Groups[i].Key, before.Groups[i].Versions, after.Groups[i].Versions)
		}
	}
	if !strings.Contains(after.LastApplyError, errInjected.Error()) {
		t.Errorf("LastApplyError %q, want the failure", after.LastApplyError)
	}
	// Other groups translated fine, but the connected node must not see them.
	if n := c.count(resourcev3.ClusterType, 500*time.Millisecond); n != 0 {
		t.Errorf("%d CDS responses after a failed Apply, want 0", n)
	}

	fail.Store(false)
	mustApply(t, s, testModel(t, 1))
	if got := s.Status(); got.LastApplyError != "" || got.ModelVersion == before.ModelVersion {
		t.Errorf("after a good Apply: error %q, version %q (was %q)", got.LastApplyError, got.ModelVersion, before.ModelVersion)
	}
	c.next(resourcev3.ClusterType)
}

// TestUnseenRegionNodeGetsASnapshot: a node of a region the model does not name joins
// the shared OtherRegion group, which every Apply builds; the group of its made-up
// region never exists.
func TestUnseenRegionNodeGetsASnapshot(t *testing.T) {
	s, addr := startServer(t, Options{})
	mustApply(t, s, testModel(t, 0))

	c := newSotwClient(t, addr, envoyNode("envoy-typo", "swedencentrall"))
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	cds := c.next(resourcev3.ClusterType)
	if len(cds.GetResources()) == 0 {
		t.Fatal("node of an unseen region got no clusters")
	}
	if want := groupVersions(t, s, translator.OtherRegion+"/envoy")[resourcev3.ClusterType]; cds.GetVersionInfo() != want {
		t.Errorf("version %q, want the shared group's %q", cds.GetVersionInfo(), want)
	}
	c.ack(cds)

	mustApply(t, s, testModel(t, 1))
	if next := c.next(resourcev3.ClusterType); next.GetVersionInfo() == cds.GetVersionInfo() {
		t.Errorf("unseen-region node kept version %q after a model change", cds.GetVersionInfo())
	}
	for _, g := range s.Status().Groups {
		if g.Key == "swedencentrall/envoy" {
			t.Errorf("a group was made for the node's own region: %s", g.Key)
		}
	}
}

func TestNodeBeforeFirstApplyWaits(t *testing.T) {
	s, addr := startServer(t, Options{})
	c := newSotwClient(t, addr, envoyNode("envoy-early", "norwayeast"))
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	if n := c.count(resourcev3.ClusterType, 300*time.Millisecond); n != 0 {
		t.Fatalf("%d responses before any model, want 0", n)
	}
	adstest.WaitFor(t, "stream registered", func() bool { return len(s.Status().Streams) == 1 })
	mustApply(t, s, testModel(t, 0))
	if cds := c.next(resourcev3.ClusterType); len(cds.GetResources()) == 0 {
		t.Fatal("no clusters after the first Apply")
	}
}

// subscribeExactly asks for names of typeURL, checks the response holds exactly those
// resources (one load assignment per cluster, one route configuration per RDS name), and
// ACKs it.
func (c *sotwClient) subscribeExactly(typeURL string, names []string) {
	c.t.Helper()
	c.send(&discovery.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names})
	resp := c.next(typeURL)
	if got := resourceNames(c.t, resp); !sameSet(got, names) {
		c.t.Errorf("%s: resources %v, want %v", TypeName(typeURL), got, names)
	}
	c.ack(resp, names...)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestVersionsStableAcrossProcesses runs this test binary twice as a child that prints
// the versions of the example model: a restart (fresh process, fresh map seeds) must give
// the versions this process computes.
func TestVersionsStableAcrossProcesses(t *testing.T) {
	const path = "../examples/failover/model.yaml"
	if os.Getenv("POOLPILOT_PRINT_VERSIONS") == "1" {
		s := New(Options{Logger: adstest.Logger(t), Translate: testTranslate})
		defer s.Close()
		mustApply(t, s, loadVariant(t, path, 0))
		fmt.Println("VERSIONS", versionsLine(s.Status()))
		return
	}
	s := New(Options{Logger: adstest.Logger(t), Translate: testTranslate})
	t.Cleanup(s.Close)
	mustApply(t, s, loadVariant(t, path, 0))
	want := versionsLine(s.Status())
	for i := 0; i < 2; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestVersionsStableAcrossProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "POOLPILOT_PRINT_VERSIONS=1")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("child process: %v\n%s", err, out)
		}
		var got string
		for line := range strings.SplitSeq(string(out), "\n") {
			if v, ok := strings.CutPrefix(line, "VERSIONS "); ok {
				got = v
			}
		}
		if got != want {
			t.Errorf("child %d versions\n%s\nwant\n%s", i, got, want)
		}
	}
}

func versionsLine(st Status) string {
	var b strings.Builder
	b.WriteString(st.ModelVersion)
	for _, g := range st.Groups {
		fmt.Fprintf(&b, " %s=%v", g.Key, g.Versions)
	}
	return b.String()
}
