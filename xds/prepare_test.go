package xds

import (
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
)

// countTranslations makes s translate as it does by default and count each group it
// translates.
func countTranslations(s *Server) *atomic.Int64 {
	var n atomic.Int64
	s.translate = func(m *model.Model, g translator.Group, tr translator.Tripped) (*translator.Resources, error) {
		n.Add(1)
		return translator.TranslateUnvalidatedWith(m, g, tr)
	}
	return &n
}

func lastApplied(t *testing.T, o *recordingObserver) ApplyEvent {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.apply) == 0 {
		t.Fatal("no apply event")
	}
	return o.apply[len(o.apply)-1]
}

// Prepare publishes nothing; Commit publishes exactly what Apply would.
func TestPrepareThenCommit(t *testing.T) {
	obs := &recordingObserver{}
	s := New(Options{Logger: adstest.Logger(t), Observer: obs})
	t.Cleanup(s.Close)
	mustApply(t, s, testModel(t, 0))
	before := s.Status()
	events := len(obs.apply)

	p, err := s.Prepare(testModel(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.ModelVersion != before.ModelVersion || !st.AppliedAt.Equal(before.AppliedAt) || len(obs.apply) != events {
		t.Fatalf("Prepare changed what is served: version %q (was %q), %d apply events (was %d)",
			st.ModelVersion, before.ModelVersion, len(obs.apply), events)
	}
	if err := s.Commit(p); err != nil {
		t.Fatal(err)
	}
	committed := s.Version()

	ref := New(Options{Logger: adstest.Logger(t)})
	t.Cleanup(ref.Close)
	mustApply(t, ref, testModel(t, 1))
	if committed == before.ModelVersion || committed != ref.Version() {
		t.Errorf("after Commit the version is %q; want Apply's %q (was %q)", committed, ref.Version(), before.ModelVersion)
	}

	// A failed preparation changes nothing until Commit, which records it as Apply does.
	bad, err := s.Prepare(nil)
	if err == nil || bad == nil {
		t.Fatalf("Prepare(nil) = %v, %v; want a Prepared and an error", bad, err)
	}
	if st := s.Status(); st.LastApplyError != "" {
		t.Fatalf("a failed Prepare was recorded: %q", st.LastApplyError)
	}
	if err := s.Commit(bad); err == nil || s.Status().LastApplyError == "" || lastApplied(t, obs).Err == nil {
		t.Errorf("Commit of a failed Prepare: %v, status error %q; want the failure recorded", err, s.Status().LastApplyError)
	}
	if s.Version() != committed {
		t.Errorf("a failed Commit changed the version to %q", s.Version())
	}
}

// Commit after another Apply translates the model again rather than publish snapshots
// built before that Apply.
func TestCommitRebuildsAfterAnotherApply(t *testing.T) {
	s := New(Options{Logger: adstest.Logger(t)})
	t.Cleanup(s.Close)
	n := countTranslations(s)
	mustApply(t, s, testModel(t, 0))
	p, err := s.Prepare(testModel(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, testModel(t, 2))
	n.Store(0)
	if err := s.Commit(p); err != nil {
		t.Fatal(err)
	}
	if n.Load() == 0 {
		t.Error("Commit after another Apply published the snapshots prepared before it")
	}
	if got := s.served.Load().model; got != p.next.model {
		t.Error("Commit did not serve the prepared model")
	}
	// Nothing moved since this Prepare: Commit publishes it as built.
	p, err = s.Prepare(testModel(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	n.Store(0)
	if err := s.Commit(p); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 0 {
		t.Errorf("Commit with nothing changed translated %d groups again; want 0", n.Load())
	}
}

// Commit after the fleet breaker's state changed publishes snapshots with the trip, not
// the prepared ones without it.
func TestCommitRebuildsAfterBreakerTrip(t *testing.T) {
	obs := &recordingObserver{}
	s := New(Options{Logger: adstest.Logger(t), Observer: obs})
	t.Cleanup(s.Close)
	m := loadBreakerModel(t, "fleet")
	mustApply(t, s, m)
	p, err := s.Prepare(m)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if !s.Breaker().Adopt(breakerTrip("primary", now, now.Add(time.Hour))) {
		t.Fatal("Adopt refused the trip")
	}
	if err := s.Commit(p); err != nil {
		t.Fatal(err)
	}
	key := "swedencentral/envoy"
	published := lastApplied(t, obs).Groups[key][resourcev3.EndpointType]
	if prepared := p.built[key].status.Versions[resourcev3.EndpointType]; published == prepared {
		t.Errorf("Commit published the EDS version %q prepared before the trip", published)
	}
	if got := s.served.Load().breaker.Key(); got == "" {
		t.Error("the served model has no trip after Commit")
	}
}

// Commit after a node of a new group connected (its group built under the old model)
// publishes that group with the new model too, instead of dropping it, and translates
// only that group again.
func TestCommitBuildsNewNodeGroup(t *testing.T) {
	s, addr := startServer(t, Options{})
	n := countTranslations(s)
	mustApply(t, s, testModel(t, 0))
	p, err := s.Prepare(testModel(t, 1))
	if err != nil {
		t.Fatal(err)
	}

	node := adstest.Node("legacy-1", "swedencentral")
	v := node.GetUserAgentBuildVersion().GetVersion()
	v.MajorNumber, v.MinorNumber = 1, 35
	legacy := translator.ClaimedGroup(node).Key()
	if !strings.HasSuffix(legacy, "-legacy") {
		t.Fatalf("node's group is %q; want a legacy Envoy group", legacy)
	}
	if _, ok := p.built[legacy]; ok {
		t.Fatalf("the prepared model already has group %s", legacy)
	}
	c := newSotwClient(t, addr, node)
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	old := c.next(resourcev3.ClusterType)
	old1 := maps.Clone(groupVersions(t, s, legacy))
	c.ack(old)

	n.Store(0)
	if err := s.Commit(p); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("Commit translated %d groups; want 1, the new node's", got)
	}
	now := groupVersions(t, s, legacy)
	if now[resourcev3.ClusterType] == old1[resourcev3.ClusterType] {
		t.Errorf("group %s still serves the old model's clusters %q", legacy, now[resourcev3.ClusterType])
	}
	if got := c.next(resourcev3.ClusterType).GetVersionInfo(); got != now[resourcev3.ClusterType] {
		t.Errorf("the legacy node got CDS version %q; want the new model's %q", got, now[resourcev3.ClusterType])
	}
}
