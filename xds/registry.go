package xds

import (
	"fmt"
	"sort"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"

	"github.com/poolpilot/poolpilot/translator"
)

// maxTrackedNonces bounds the nonce → version memory per stream and type. A sotw client
// answers only the latest nonce; a delta client may answer a few in flight.
const maxTrackedNonces = 8

type streamKey struct {
	kind StreamKind
	id   int64
}

// registry is the per-stream status table. One mutex guards it: every operation is a
// few map look-ups, and Observer calls happen after it is released.
type registry struct {
	mu      sync.Mutex
	streams map[streamKey]*streamState
	// byNode indexes the streams whose node is known by node id (as stored, clipped), so
	// each load report finds its node's streams without a walk over every stream.
	byNode map[string]map[streamKey]*streamState
}

type streamState struct {
	status StreamStatus
	// known: the node's first request has been seen, and claimed is the group it asked
	// for (translator.ClaimedGroup); every later node of the stream must claim the same.
	known   bool
	claimed translator.Group
	// ident is what the client's certificate allows it to claim (nil: no mutual TLS).
	ident *clientIdentity
	types map[string]*typeState
	// rejecting is the last NACK request noted in the cache; forgotten at close in case
	// the stream ended before the server asked the cache for its watch.
	rejecting *discovery.DiscoveryRequest
}

type typeState struct {
	TypeStatus
	// answered is the last nonce an ACK or NACK was counted for: a client repeats a nonce
	// when it only changes its subscription, which is not another ACK.
	answered      string
	answeredNack  bool
	nonceVersions map[string]string
	// nonceOrder is the tracked nonces, oldest first; the last is the latest response's.
	nonceOrder []string
}

func newRegistry() *registry {
	return &registry{streams: map[streamKey]*streamState{}, byNode: map[string]map[streamKey]*streamState{}}
}

func (r *registry) open(k streamKey, now time.Time, ident *clientIdentity) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streams[k] = &streamState{
		status: StreamStatus{StreamID: k.id, Kind: k.kind, ConnectedSince: now},
		types:  map[string]*typeState{},
		ident:  ident,
	}
}

// close forgets a stream; it returns the stream's event, whether its node was known, and
// its last NACK request.
func (r *registry) close(k streamKey) (Event, bool, *discovery.DiscoveryRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.streams[k]
	if !ok {
		return Event{}, false, nil
	}
	delete(r.streams, k)
	if st.known {
		id := st.status.NodeID
		delete(r.byNode[id], k)
		if len(r.byNode[id]) == 0 {
			delete(r.byNode, id)
		}
	}
	return st.event(), st.known, st.rejecting
}

func (r *registry) setRejecting(k streamKey, req *discovery.DiscoveryRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.streams[k]; ok {
		st.rejecting = req
	}
}

// setNode records the stream's node the first time it is seen, bounded (clipText). It
// reports whether this was the first time, with the group the node claims. A node that
// claims another group than the stream's first node, or a region its certificate does
// not allow, is an error: the caller ends the stream. The stream's status and events
// carry the group resolved against known (a bounded set), never the raw claim.
func (r *registry) setNode(k streamKey, node *corev3.Node, known translator.Known) (Event, translator.Group, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.streams[k]
	if !ok || node == nil {
		return Event{}, translator.Group{}, false, nil
	}
	g := translator.ClaimedGroup(node)
	if st.known {
		if g != st.claimed {
			return Event{}, g, false, fmt.Errorf("node changed group mid-stream, from %s to %s: open a new stream for another group",
				st.claimed, g)
		}
		return Event{}, g, false, nil
	}
	if err := st.ident.allows(node.GetLocality().GetRegion()); err != nil {
		return Event{}, g, false, err
	}
	st.known = true
	st.claimed = g
	st.status.NodeID = clipText(node.GetId(), MaxNodeIDLen)
	if r.byNode[st.status.NodeID] == nil {
		r.byNode[st.status.NodeID] = map[streamKey]*streamState{}
	}
	r.byNode[st.status.NodeID][k] = st
	st.status.Group = g.Resolve(known).Key()
	return st.event(), g, true, nil
}

// sent records a response: nonce → version, for matching the client's answer.
func (r *registry) sent(k streamKey, typeURL, nonce, version string, now time.Time) (Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.streams[k]
	if !ok {
		return Event{}, false
	}
	ts := st.typeState(typeURL)
	ts.Responses++
	ts.LastSentVersion = version
	ts.LastSentAt = now
	ts.nonceVersions[nonce] = version
	ts.nonceOrder = append(ts.nonceOrder, nonce)
	if len(ts.nonceOrder) > maxTrackedNonces {
		delete(ts.nonceVersions, ts.nonceOrder[0])
		ts.nonceOrder = ts.nonceOrder[1:]
	}
	ev := st.event()
	ev.TypeURL, ev.Version = typeURL, version
	return ev, true
}

// answerKind classifies a request.
type answerKind int

const (
	answerNone answerKind = iota // first request, stale nonce, or a repeat of a counted answer
	answerAck
	answerNack
)

// answer matches a request to the response it answers. latestOnly makes a nonce other
// than the latest one stale (sotw: the server ignores such requests). It returns the
// version the request answers ("" if none), and what to count.
func (r *registry) answer(k streamKey, typeURL, nonce string, nack bool, detail string, latestOnly bool, now time.Time) (Event, answerKind, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.streams[k]
	if !ok || nonce == "" {
		return Event{}, answerNone, ""
	}
	ts := st.typeState(typeURL)
	version, known := ts.nonceVersions[nonce]
	if !known || (latestOnly && nonce != ts.nonceOrder[len(ts.nonceOrder)-1]) {
		return Event{}, answerNone, ""
	}
	ev := st.event()
	ev.TypeURL, ev.Version = typeURL, version
	repeat := ts.answered == nonce
	switch {
	case nack:
		if repeat && ts.answeredNack {
			return ev, answerNone, version
		}
		ts.answered, ts.answeredNack = nonce, true
		ts.Nacks++
		ts.LastNack = &Nack{Version: version, Message: detail, At: now}
		ev.Detail = detail
		return ev, answerNack, version
	default:
		if repeat {
			return ev, answerNone, version
		}
		ts.answered, ts.answeredNack = nonce, false
		ts.Acks++
		ts.AckedVersion = version
		ts.AckedAt = now
		return ev, answerAck, version
	}
}

// groups returns the node groups of the streams whose node is known, each resolved
// against known (Group.Resolve).
func (r *registry) groups(known translator.Known) map[string]translator.Group {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]translator.Group{}
	for _, st := range r.streams {
		if st.known {
			g := st.claimed.Resolve(known)
			out[g.Key()] = g
		}
	}
	return out
}

// nodeGroup returns the group an open stream of nodeID claims (the newest stream if it
// has several), before resolving it against the served model.
func (r *registry) nodeGroup(nodeID string) (translator.Group, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var best *streamState
	for _, st := range r.byNode[nodeID] {
		if best == nil || st.status.StreamID > best.status.StreamID {
			best = st
		}
	}
	if best == nil {
		return translator.Group{}, false
	}
	return best.claimed, true
}

// snapshot copies every stream's status, sorted by node id, kind and stream id.
func (r *registry) snapshot() []StreamStatus {
	r.mu.Lock()
	out := make([]StreamStatus, 0, len(r.streams))
	for _, st := range r.streams {
		s := st.status
		s.Types = make(map[string]TypeStatus, len(st.types))
		for url, ts := range st.types {
			t := ts.TypeStatus
			if t.LastNack != nil {
				n := *t.LastNack
				t.LastNack = &n
			}
			s.Types[url] = t
		}
		out = append(out, s)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.NodeID != b.NodeID {
			return a.NodeID < b.NodeID
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.StreamID < b.StreamID
	})
	return out
}

func (st *streamState) typeState(typeURL string) *typeState {
	ts, ok := st.types[typeURL]
	if !ok {
		ts = &typeState{nonceVersions: map[string]string{}}
		st.types[typeURL] = ts
	}
	return ts
}

func (st *streamState) event() Event {
	return Event{StreamID: st.status.StreamID, Kind: st.status.Kind, NodeID: st.status.NodeID, Group: st.status.Group}
}
