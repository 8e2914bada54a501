package xds

import (
	"maps"
	"slices"
	"time"

	"github.com/poolpilot/poolpilot/breaker"
	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds/lrs"
)

// Bounds of the wait before the breaker state is looked at again: a trip closes at its
// OpenUntil (NextChange), and the state is re-checked at least every maxBreakerWait.
const (
	minBreakerWait = 5 * time.Millisecond
	maxBreakerWait = time.Minute
)

// fleetBreaker is the fleet circuit breaker of a Server: the rule engine, the LRS service
// that feeds it, and the loop that republishes snapshots when its state changes.
type fleetBreaker struct {
	eng *breaker.Engine
	lrs *lrs.Server
	// kick asks the loop to look at the state now (a trip opened, or a model was applied).
	kick chan struct{}
}

func newFleetBreaker(s *Server, interval time.Duration) *fleetBreaker {
	if interval <= 0 {
		interval = lrs.DefaultInterval
	}
	fb := &fleetBreaker{kick: make(chan struct{}, 1)}
	fb.eng = breaker.New(breaker.Config{
		ReportInterval: interval,
		OnTrip: func(t breaker.Trip) {
			s.log.Warn("fleet breaker tripped", "backend", t.Backend, "scope", string(t.Scope), "region", t.Region,
				"rule", t.Rule, "condition", t.Condition, "requests", t.Requests, "failures", t.Failures,
				"proxies", t.Proxies, "open_until", t.OpenUntil)
			fb.poke()
		},
	})
	opts := lrs.Options{Streams: breakerStreams{s}, Lookup: breakerLookup{s}, Sink: fb.eng, Interval: interval, Logger: s.log}
	srv, err := lrs.New(opts)
	if err != nil {
		s.log.Error("load reporting interval refused; using the default", "interval", interval, "default", lrs.DefaultInterval, "error", err)
		opts.Interval = lrs.DefaultInterval
		srv, _ = lrs.New(opts)
	}
	fb.lrs = srv
	return fb
}

func (fb *fleetBreaker) poke() {
	select {
	case fb.kick <- struct{}{}:
	default:
	}
}

// Breaker is the fleet breaker's rule engine, for the status page and metrics
// (Stats, Trips, State). Callers must not call SetRules on it: Apply does.
func (s *Server) Breaker() *breaker.Engine { return s.brk.eng }

// LoadReporting is the LRS service the server registers, for its counters and interval.
func (s *Server) LoadReporting() *lrs.Server { return s.brk.lrs }

// LoadReports are the LRS service's counts since the server started, for the status
// page and metrics (which do not import the service).
type LoadReports = lrs.Counts

// LoadReports reads the LRS service's counters.
func (s *Server) LoadReports() LoadReports { return s.brk.lrs.Counters().Load() }

// setBreakerRules gives the engine the rules of m, just applied, and asks the loop to
// publish any change of state they make (a rule removed closes its trips).
func (s *Server) setBreakerRules(m *model.Model) {
	rules, err := breaker.RulesFromModel(m)
	if err == nil {
		err = s.brk.eng.SetRules(rules)
	}
	if err != nil {
		s.log.Error("fleet breaker rules not set; the previous rules stay", "error", err)
	}
	s.brk.poke()
}

// breakerLoop republishes the snapshots whenever the breaker state changes: when a trip
// opens (kick) and when the next one closes (NextChange), until the server closes.
func (s *Server) breakerLoop() {
	t := time.NewTimer(maxBreakerWait)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.brk.kick:
		case <-t.C:
		}
		s.applyBreakerState()
		wait := maxBreakerWait
		if at, ok := s.brk.eng.NextChange(); ok {
			wait = min(max(time.Until(at), minBreakerWait), maxBreakerWait)
		}
		t.Reset(wait)
	}
}

// applyBreakerState rebuilds the groups whose tripped backends the engine's current state
// changes and publishes those whose versions changed, all or nothing like Apply. Nothing happens when
// the state is the one being served.
func (s *Server) applyBreakerState() {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	cur := s.served.Load()
	if cur == nil {
		return
	}
	st := s.brk.eng.State()
	if st.Key() == cur.breaker.Key() {
		return
	}
	next := *cur
	next.breaker = st
	// Only the groups whose tripped backends change: the others would translate to the
	// resources they serve.
	s.stateMu.Lock()
	all := make(map[string]translator.Group, len(s.groups))
	for k, g := range s.groups {
		if !maps.Equal(cur.trippedFor(g.Group), next.trippedFor(g.Group)) {
			all[k] = g.Group
		}
	}
	s.stateMu.Unlock()
	built, err := s.buildAll(&next, all)
	if err != nil {
		s.log.Error("fleet breaker state not applied; the previous snapshots keep serving", "error", err)
		return
	}
	var changed []string
	s.stateMu.Lock()
	for _, k := range sortedKeys(built) {
		if p := s.groups[k]; p != nil && maps.Equal(p.Versions, built[k].status.Versions) {
			continue
		}
		changed = append(changed, k)
	}
	s.stateMu.Unlock()
	for _, k := range changed {
		if err := s.cache.SetSnapshot(s.ctx, k, built[k].snapshot); err != nil {
			s.log.Error("set snapshot", "group", k, "error", err)
		}
	}
	s.stateMu.Lock()
	for _, k := range changed {
		s.groups[k] = &built[k].status
	}
	s.stateMu.Unlock()
	s.gen++
	s.served.Store(&next)
	open := make([]string, 0, len(st.Open))
	for _, t := range st.Open {
		o := t.Backend
		if t.Scope == breaker.ScopeRegion {
			o += "@" + regionName(t.Region)
		}
		open = append(open, o)
	}
	s.log.Info("fleet breaker state applied", "open", open, "groups_changed", changed)
}

// trippedFor is the set of backends out of rotation for group g's nodes under st.
func (cur *servedModel) trippedFor(g translator.Group) translator.Tripped {
	if len(cur.breaker.Open) == 0 {
		return nil
	}
	region := cur.foldRegion(g.Region)
	out := translator.Tripped{}
	for _, t := range cur.breaker.Open {
		if t.Scope == breaker.ScopeFleet || t.Region == region {
			out[t.Backend] = true
		}
	}
	return out
}

// foldRegion maps a node's region to the region of the node group it is served in: a
// region of the model, "" for nodes that report none, or OtherRegion for any other, so
// the engine's regions stay bounded by the model's.
func (cur *servedModel) foldRegion(region string) string {
	return translator.Group{Region: region}.Resolve(cur.known).Region
}

func regionName(r string) string {
	if r == "" {
		return "-"
	}
	return r
}

// breakerStreams tells the LRS service which nodes have an open xDS stream, and the
// region they are served in.
type breakerStreams struct{ s *Server }

func (b breakerStreams) HasStream(nodeID string) (string, bool) {
	g, ok := b.s.reg.nodeGroup(nodeID)
	if !ok {
		return "", false
	}
	cur := b.s.served.Load()
	if cur == nil {
		return "", false
	}
	return cur.foldRegion(g.Region), true
}

// breakerLookup maps a reported cluster and locality to a backend of the served model.
type breakerLookup struct{ s *Server }

func (b breakerLookup) Backend(cluster string, loc lrs.Locality) (string, bool) {
	cur := b.s.served.Load()
	if cur == nil {
		return "", false
	}
	if b, ok := cur.members.Backend(cluster, loc); ok {
		return b, true
	}
	// grpc-go reports a LOGICAL_DNS cluster under an empty locality (it has no
	// localities: cdsbalancer/configbuilder.go, buildClusterImplConfigForDNS). poolpilot's
	// LOGICAL_DNS clusters are one backend's leaf, so the cluster names the backend.
	if ms := cur.members[cluster]; len(ms) == 1 && loc == (lrs.Locality{}) {
		return ms[0], true
	}
	return "", false
}

// unionMembers merges every group's cluster → backends map.
func unionMembers(built map[string]*builtGroup) lrs.Members {
	out := lrs.Members{}
	for _, k := range sortedKeys(built) {
		for cluster, bs := range built[k].members {
			for _, b := range bs {
				if !slices.Contains(out[cluster], b) {
					out[cluster] = append(out[cluster], b)
				}
			}
		}
	}
	return out
}
