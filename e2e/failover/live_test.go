package failover

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolpilot/poolpilot/xds/admin"
)

// followBound is how long a client may take to follow a model edit before the test gives
// up on it: a failure bound, not a measurement (the machines are shared and noisy). The
// times measured are logged (MEASURED) and recorded in docs/failover.md; poolpilot's
// watcher debounces 200 ms.
const followBound = 10 * time.Second

// Scenario 5: an edit on disk swaps the pool's priorities; both regions' clients follow
// and no call fails. preferLocalRegion is off, so the model's order
// is every region's order and the swap moves both clients.
func TestModelEditSwapsPriorities(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	spec := modelSpec{Members: []member{
		{Backend: f.primary, Priority: 1, Weight: 1},
		{Backend: f.secondary, Priority: 2, Weight: 1},
	}}
	f.writeModel(t, spec)
	f.startPoolpilot(t)
	before, err := f.status(t)
	if err != nil {
		t.Fatal(err)
	}
	clients := []*client{f.startClient(t, "client-sdc", sdc), f.startClient(t, "client-nwe", nwe)}
	for _, c := range clients {
		c.waitFor(t, "served by the primary", time.Now(), 10*time.Second, func(r rpc) bool { return r.servedBy(primaryName) })
	}

	spec.Members[0].Priority, spec.Members[1].Priority = 2, 1
	edited := time.Now()
	f.writeModel(t, spec)
	for _, c := range clients {
		moved := c.waitFor(t, "served by the secondary after the edit", edited, followBound,
			func(r rpc) bool { return r.servedBy(secondaryName) })
		t.Logf("MEASURED model-edit client=%s followed=%s", c.name, secs(moved.ended().Sub(edited)))
	}
	st := f.waitStatus(t, "the edit applied", 5*time.Second, func(s admin.Status) bool {
		return s.LastReload != nil && s.LastReload.OK && s.LastReload.Trigger == "file"
	})
	if st.ModelVersion == before.ModelVersion {
		t.Errorf("model version %s unchanged after the edit", st.ModelVersion)
	}
	time.Sleep(time.Second) // traffic after the switch must stay on the new order
	for _, c := range clients {
		rs := c.stop(t)
		if bad := failed(rs); len(bad) > 0 {
			t.Errorf("%s: %d calls failed across the edit, want 0: %s", c.name, len(bad), summarize(rs))
		}
		var firstMoved time.Time
		for _, r := range rs {
			if r.servedBy(secondaryName) {
				firstMoved = r.started()
				break
			}
		}
		requireServedBy(t, c.name+" after it moved", after(rs, firstMoved), secondaryName)
	}
}

// Scenario 6: an invalid model written over the good one changes nothing: the clients
// keep their backends, and /status shows the errors with file:line. The bad model would
// move every client to the secondary if any of it were applied.
func TestBadModelKeepsLastGoodConfig(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	f.writeModel(t, failoverSpec(f.primary, f.secondary))
	f.startPoolpilot(t)
	good, err := f.status(t)
	if err != nil {
		t.Fatal(err)
	}
	cs, cn := f.startClient(t, "client-sdc", sdc), f.startClient(t, "client-nwe", nwe)

	bad := modelSpec{Members: []member{
		{Backend: f.primary, Priority: 2, Weight: 1},
		{Backend: f.secondary, Priority: 1, Weight: 1},
	}, Extra: "colour: blue"}
	written := time.Now()
	f.writeModel(t, bad)
	st := f.waitStatus(t, "the bad model rejected", 10*time.Second, func(s admin.Status) bool {
		return s.LastReload != nil && !s.LastReload.OK
	})
	if st.ModelVersion != good.ModelVersion {
		t.Errorf("model version %s after a bad model, want the last good %s", st.ModelVersion, good.ModelVersion)
	}
	if st.LastGoodReload == nil || st.LastGoodReload.Version != good.ModelVersion {
		t.Errorf("lastGoodReload = %+v, want version %s", st.LastGoodReload, good.ModelVersion)
	}
	errs := strings.Join(st.LastReload.Errors, "\n")
	if !strings.Contains(errs, "model.yaml:") || !strings.Contains(errs, "colour") {
		t.Errorf("lastReload.errors = %q, want the unknown field colour with model.yaml:line", st.LastReload.Errors)
	}
	t.Logf("bad model rejected; /status lastReload.errors: %q", st.LastReload.Errors)

	time.Sleep(1500 * time.Millisecond) // the clients keep going on the last good config
	requireServedBy(t, "client-sdc after the bad model", after(cs.stop(t), written), primaryName)
	requireServedBy(t, "client-nwe after the bad model", after(cn.stop(t), written), secondaryName)
}

// Scenario 7: poolpilot is killed (SIGKILL) and restarted on the same addresses. The
// clients keep their last config and keep being served during the outage; afterwards
// they reconnect, receive the same versions (content hashes) and ACK them: no NACK.
func TestRestartServesSameVersionsWithoutNack(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	f.writeModel(t, failoverSpec(f.primary, f.secondary))
	old := f.startPoolpilot(t)
	cs, cn := f.startClient(t, "client-sdc", sdc), f.startClient(t, "client-nwe", nwe)
	nodes := []string{"client-sdc", "client-nwe"}

	acked := func(s admin.Status) map[string]map[string]string {
		out := map[string]map[string]string{}
		for _, n := range s.Nodes {
			out[n.NodeID] = map[string]string{}
			for typ, tv := range n.Types {
				out[n.NodeID][typ] = tv.AckedVersion
			}
		}
		return out
	}
	allAcked := func(s admin.Status) bool {
		a := acked(s)
		for _, id := range nodes {
			for _, typ := range []string{"listeners", "routes", "clusters", "endpoints"} {
				if a[id][typ] == "" {
					return false
				}
			}
		}
		return true
	}
	oldSt := f.waitStatus(t, "both clients ACKing all four types", 10*time.Second, allAcked)
	oldAcked := acked(oldSt)

	old.Kill()
	killed := time.Now()
	time.Sleep(1500 * time.Millisecond) // the outage
	f.startPoolpilot(t)
	restarted := time.Now()
	newSt := f.waitStatus(t, "both clients back with the same versions ACKed", 20*time.Second, func(s admin.Status) bool {
		if !allAcked(s) {
			return false
		}
		a := acked(s)
		for _, id := range nodes {
			for typ, v := range oldAcked[id] {
				if a[id][typ] != v {
					return false
				}
			}
		}
		return true
	})
	reconnected := time.Since(restarted)
	if newSt.ModelVersion != oldSt.ModelVersion {
		t.Errorf("model version %s after the restart, want %s", newSt.ModelVersion, oldSt.ModelVersion)
	}
	for _, n := range newSt.Nodes {
		for typ, tv := range n.Types {
			if tv.Nacks != 0 || tv.LastNack != nil {
				t.Errorf("node %s NACKed %s after the restart: %d NACKs, last %+v", n.NodeID, typ, tv.Nacks, tv.LastNack)
			}
		}
	}
	t.Logf("MEASURED restart outage=%s reconnected_after=%s versions=%v", secs(restarted.Sub(killed)), secs(reconnected), oldAcked["client-sdc"])

	rs := cs.stop(t)
	requireServedBy(t, "client-sdc during the outage", between(rs, killed, restarted), primaryName)
	requireServedBy(t, "client-sdc overall", rs, primaryName)
	rn := cn.stop(t)
	requireServedBy(t, "client-nwe during the outage", between(rn, killed, restarted), secondaryName)
	requireServedBy(t, "client-nwe overall", rn, secondaryName)
}

// weightedCalls is how many calls scenario 8 counts. gRPC picks a locality at random by
// weight, so the 3:1 ratio is checked to ±10% (2.7–3.3): at 16000 calls that band is
// more than five standard deviations wide on each side (σ of the 75% share ≈ 0.34%).
const weightedCalls = 16000

// Scenario 8: two backends of weight 3 and 1 in one priority share the traffic 3:1.
func TestWeightedPoolSharesThreeToOne(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	f.writeModel(t, modelSpec{Members: []member{
		{Backend: f.primary, Priority: 1, Weight: 3},
		{Backend: f.secondary, Priority: 1, Weight: 1},
	}})
	f.startPoolpilot(t)
	// gRPC spreads calls only over localities that are READY, so the calls made while the
	// second connection is still being set up all go to the first: count only the calls
	// started after both backends have answered once. 1000 extra calls cover that start.
	made := weightedCalls + 1000
	c := f.startClient(t, "client-sdc", sdc, "--rate=0", "--concurrency=4", "--count="+strconv.Itoa(made))
	select {
	case <-c.p.Done():
	case <-time.After(time.Minute):
		t.Fatalf("client did not finish %d calls within a minute", made)
	}
	rs := c.stop(t)
	if len(rs) != made {
		t.Fatalf("%d calls made, want %d", len(rs), made)
	}
	if bad := failed(rs); len(bad) > 0 {
		t.Fatalf("calls failed: %s", summarize(rs))
	}
	var bothReady time.Time
	for _, backend := range []string{primaryName, secondaryName} {
		first := time.Time{}
		for _, r := range rs {
			if r.Backend == backend && (first.IsZero() || r.ended().Before(first)) {
				first = r.ended()
			}
		}
		if first.IsZero() {
			t.Fatalf("no call reached %s: %s", backend, summarize(rs))
		}
		if first.After(bothReady) {
			bothReady = first
		}
	}
	counted := after(rs, bothReady)
	if len(counted) < weightedCalls {
		t.Fatalf("only %d calls started after both backends answered (at %v), want at least %d", len(counted), bothReady, weightedCalls)
	}
	counted = counted[:weightedCalls]
	n := map[string]int{}
	for _, r := range counted {
		n[r.Backend]++
	}
	ratio := float64(n[primaryName]) / float64(n[secondaryName])
	t.Logf("MEASURED weighted calls=%d %s=%d %s=%d ratio=%.3f want=3±10%%", len(counted), primaryName, n[primaryName], secondaryName, n[secondaryName], ratio)
	if ratio < 2.7 || ratio > 3.3 {
		t.Errorf("weight 3:1 gave %d:%d calls, ratio %.3f, want 2.7–3.3", n[primaryName], n[secondaryName], ratio)
	}
}
