package failover

import (
	"context"
	"testing"
	"time"

	"github.com/poolpilot/poolpilot/e2e/internal/harness"
)

// startScenario starts the fleet with the scenario's model and one client per region.
func startScenario(t *testing.T, clientFlags ...string) (f *fleet, sdcClient, nweClient *client) {
	t.Helper()
	f = newFleet(t)
	f.writeModel(t, failoverSpec(f.primary, f.secondary))
	f.startPoolpilot(t)
	return f, f.startClient(t, "client-sdc", sdc, clientFlags...), f.startClient(t, "client-nwe", nwe, clientFlags...)
}

// failPrimary waits until cs is served by the primary, applies fault to the primary (an
// admin switch, e.g. f.primary.Admin.Stop) and waits up to bound for the first call
// served by the secondary. It returns when the fault began, that call, and the primary's
// state the switch answered.
func failPrimary(t *testing.T, f *fleet, cs *client, fault func(context.Context) (harness.BackendState, error), what string, bound time.Duration) (at time.Time, over rpc, st harness.BackendState) {
	t.Helper()
	cs.waitFor(t, "served by the primary", time.Now(), 10*time.Second, func(r rpc) bool { return r.servedBy(primaryName) })
	at = time.Now()
	st, err := fault(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	over = cs.waitFor(t, "served by the secondary after "+what, at, bound, func(r rpc) bool { return r.servedBy(secondaryName) })
	return at, over, st
}

// waitPast waits until c has started a call at or after at, so that the calls checked
// afterwards reach past it.
func (c *client) waitPast(t *testing.T, what string, at time.Time) {
	t.Helper()
	c.waitFor(t, what, at, 10*time.Second, func(rpc) bool { return true })
}

// Scenario 1: each region's client is served by its own region's backend only.
func TestHealthyRegionsServeLocally(t *testing.T) {
	t.Parallel()
	f, cs, cn := startScenario(t)
	start := time.Now()
	cs.waitFor(t, "20 calls in", start, 10*time.Second, func(r rpc) bool { return r.Seq >= 20 })
	cn.waitFor(t, "20 calls in", start, 10*time.Second, func(r rpc) bool { return r.Seq >= 20 })
	// Each client is in its region's gRPC node group.
	st, err := f.status(t)
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]string{}
	for _, n := range st.Nodes {
		groups[n.NodeID] = n.Group
	}
	if groups["client-sdc"] != sdc+"/grpc" || groups["client-nwe"] != nwe+"/grpc" {
		t.Errorf("node groups in /status = %v, want client-sdc in %s/grpc and client-nwe in %s/grpc", groups, sdc, nwe)
	}
	requireServedBy(t, "client-sdc", cs.stop(t), primaryName)
	requireServedBy(t, "client-nwe", cn.stop(t), secondaryName)
}

// Scenario 2: the primary answers UNAVAILABLE. gRPC's failure_percentage outlier
// detection ejects it within two breaker intervals; while it is ejected nothing reaches
// it (even once healthy again); after tripDuration the client returns to it. The other
// region's client never notices.
func TestUnavailableBackendIsEjectedAndReturns(t *testing.T) {
	t.Parallel()
	f, cs, cn := startScenario(t)
	ctx := t.Context()
	fail503 := func(ctx context.Context) (harness.BackendState, error) { return f.primary.Admin.Fail(ctx, 503) }
	fault, over, _ := failPrimary(t, f, cs, fail503, "the fault", 10*time.Second)
	failover := over.ended().Sub(fault)
	if failover > 2*breakerInterval {
		t.Errorf("failover took %v after the primary began answering UNAVAILABLE, want at most 2 breaker intervals (%v)", failover, 2*breakerInterval)
	}

	// Ejected: make the primary healthy at once; still no attempt may reach it until
	// tripDuration has passed. The ejection began no later than the first answer from
	// the secondary, so [over+300ms, over+trip-500ms] lies inside it.
	time.Sleep(300 * time.Millisecond)
	before := grpcCount(t, f.primary)
	recovered := time.Now()
	if _, err := f.primary.Admin.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(over.ended().Add(tripDuration - 500*time.Millisecond)))
	if during := grpcCount(t, f.primary); during != before {
		t.Errorf("%d calls reached the ejected primary (gRPC counter %d → %d); want none before tripDuration %v", during-before, before, during, tripDuration)
	}

	back := cs.waitFor(t, "served by the primary again", recovered, 3*tripDuration,
		func(r rpc) bool { return r.servedBy(primaryName) })
	returned := back.started().Sub(over.ended())
	if returned < tripDuration-500*time.Millisecond {
		t.Errorf("traffic returned to the primary %v after the failover, want no earlier than tripDuration %v", returned, tripDuration)
	}
	// A few more calls, then look at everything.
	cs.waitPast(t, "a second past the return", back.started().Add(time.Second))
	rs := cs.stop(t)
	failedDuring := failed(between(rs, fault, over.started()))
	t.Logf("MEASURED failure=unavailable failover=%s failed_calls=%d returned_after=%s %s",
		secs(failover), len(failedDuring), secs(returned), settings)
	requireServedBy(t, "client-sdc while the primary was ejected", between(rs, over.started(), back.started()), secondaryName)
	requireServedBy(t, "client-sdc after the return", after(rs, back.started()), primaryName)
	requireServedBy(t, "client-nwe", cn.stop(t), secondaryName)
}

// Scenario 3: the primary stops listening (connection refused). gRPC's priority policy
// moves to the next priority as soon as the local one is in TRANSIENT_FAILURE; the
// retry policy (unavailable) covers the call in flight. The client returns once the
// primary listens again.
func TestStoppedBackendFailsOverAndReturns(t *testing.T) {
	t.Parallel()
	f, cs, cn := startScenario(t)
	ctx := t.Context()
	fault, over, _ := failPrimary(t, f, cs, f.primary.Admin.Stop, "the stop", 10*time.Second)
	failover := over.ended().Sub(fault)
	// Stay stopped for a second of traffic, then listen again.
	time.Sleep(time.Second)
	restarted := time.Now()
	if _, err := f.primary.Admin.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	back := cs.waitFor(t, "served by the primary after it listens again", restarted, 30*time.Second,
		func(r rpc) bool { return r.servedBy(primaryName) })
	cs.waitPast(t, "a second past the return", back.started().Add(time.Second))
	rs := cs.stop(t)
	bad := failed(rs)
	t.Logf("MEASURED failure=stopped failover=%s failed_calls=%d returned_after_restart=%s %s",
		secs(failover), len(bad), secs(back.started().Sub(restarted)), settings)
	if len(bad) > 1 {
		t.Errorf("client-sdc: %d failed calls, want at most 1: %s", len(bad), summarize(rs))
	}
	requireServedBy(t, "client-sdc after the failover", between(rs, over.started(), restarted), secondaryName)
	requireServedBy(t, "client-sdc after the return", after(rs, back.started()), primaryName)
	requireServedBy(t, "client-nwe", cn.stop(t), secondaryName)
}

// Scenario 4, request level: the primary accepts calls and never answers. Each call ends
// at its deadline (DEADLINE_EXCEEDED), which gRPC's outlier detection counts as a
// failure, so the primary is ejected one deadline plus about one interval later.
func TestHungBackendFailsOver(t *testing.T) {
	t.Parallel()
	f, cs, cn := startScenario(t)
	ctx := t.Context()
	fault, over, _ := failPrimary(t, f, cs, f.primary.Admin.Hang, "the hang", 20*time.Second)
	failover := over.ended().Sub(fault)
	// Recover before tripDuration ends, so the return finds a healthy primary.
	if _, err := f.primary.Admin.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	cs.waitPast(t, "a second past the failover", over.started().Add(time.Second))
	rs := cs.stop(t)
	t.Logf("MEASURED failure=hung-rpc failover=%s failed_calls=%d %s",
		secs(failover), len(failed(between(rs, fault, over.started()))), settings)
	if bad := failed(after(rs, over.started())); len(bad) > 0 {
		t.Errorf("client-sdc: %d calls failed after the failover: %s", len(bad), summarize(after(rs, over.started())))
	}
	requireServedBy(t, "client-nwe", cn.stop(t), secondaryName)
}

// grpc-go's priority failover timer (10 s, not configurable over xDS), less a margin
// for when the timer starts relative to the admin call, and the bound on waiting for it.
const (
	priorityTimerMin = 9 * time.Second
	hungTCPWaitBound = 30 * time.Second
)

// Scenario 4, connection level: the primary accepts TCP and never speaks HTTP/2 (a frozen
// process). No call ever reaches it, so outlier detection sees nothing: the channel
// stays CONNECTING, and gRPC's priority policy moves on only when its failover timer
// (10 s in grpc-go) fires. The demo backend's switch keeps its listeners open, so the
// client's reconnect is never refused: a failover well under the timer would mean it
// saw TRANSIENT_FAILURE (the stopped-backend path) instead.
func TestHungTCPBackendFailsOverAfterPriorityTimer(t *testing.T) {
	t.Parallel()
	f, cs, cn := startScenario(t)
	ctx := t.Context()
	fault, over, st := failPrimary(t, f, cs, f.primary.Admin.HangTCP, "the TCP hang", hungTCPWaitBound)
	before := st.Requests.GRPC
	failover := over.ended().Sub(fault)
	if failover < priorityTimerMin {
		t.Errorf("failover took %v after the TCP hang, want at least %v (the priority failover timer): sooner means the reconnect was refused, not held in CONNECTING", failover, priorityTimerMin)
	}
	if n := grpcCount(t, f.primary); n != before {
		t.Errorf("%d calls reached the TCP-hung primary; want none (it never completes a handshake)", n-before)
	}
	if _, err := f.primary.Admin.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	cs.waitPast(t, "a second past the failover", over.started().Add(time.Second))
	rs := cs.stop(t)
	t.Logf("MEASURED failure=hung-tcp failover=%s failed_calls=%d %s",
		secs(failover), len(failed(between(rs, fault, over.started()))), settings)
	if bad := failed(after(rs, over.started())); len(bad) > 0 {
		t.Errorf("client-sdc: %d calls failed after the failover: %s", len(bad), summarize(after(rs, over.started())))
	}
	requireServedBy(t, "client-nwe", cn.stop(t), secondaryName)
}
