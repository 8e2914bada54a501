package xds

import (
	"strings"
	"time"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds/redact"
)

// StreamKind is the xDS protocol variant of a stream.
type StreamKind string

const (
	// SotW is a state-of-the-world stream.
	SotW StreamKind = "sotw"
	// Delta is an incremental stream.
	Delta StreamKind = "delta"
)

// Status is a point-in-time copy of the server's state, safe to keep and render.
type Status struct {
	// ModelVersion is the content hash of the last applied model's resources; "" before
	// the first successful Apply.
	ModelVersion string
	AppliedAt    time.Time
	// LastApplyError is the error of the last Apply if it failed after the last success.
	LastApplyError   string
	LastApplyErrorAt time.Time
	// Groups are the node groups with a snapshot, sorted by key.
	Groups []GroupStatus
	// Streams are the open xDS streams, sorted by node id, then stream kind and id.
	Streams []StreamStatus
}

// GroupStatus is one node group's snapshot.
type GroupStatus struct {
	Key   string
	Group translator.Group
	// Versions maps a type URL to the snapshot's version for that type.
	Versions  map[string]string
	Clusters  int
	Endpoints int
	Routes    int
	Listeners int
	Warnings  []string
	BuiltAt   time.Time
}

// StreamStatus is one open stream of one node.
type StreamStatus struct {
	StreamID int64
	Kind     StreamKind
	// NodeID and Group are empty until the node's first request.
	NodeID         string
	Group          string
	ConnectedSince time.Time
	// Types maps a type URL to what happened for it on this stream.
	Types map[string]TypeStatus
}

// TypeStatus is the exchange of one resource type on one stream.
type TypeStatus struct {
	LastSentVersion string
	LastSentAt      time.Time
	AckedVersion    string
	AckedAt         time.Time
	// LastNack is the most recent rejection, kept after later ACKs so an operator can
	// see what went wrong; nil if the node never rejected this type on this stream.
	LastNack  *Nack
	Responses uint64
	Acks      uint64
	Nacks     uint64
}

// Nack is a rejection by a node: the version it rejected and why.
type Nack struct {
	Version string
	Message string
	At      time.Time
}

// Event describes one thing that happened on a stream, for an Observer.
type Event struct {
	StreamID int64
	Kind     StreamKind
	NodeID   string
	Group    string
	// TypeURL and Version are set for responses, ACKs and NACKs; Detail for NACKs.
	TypeURL string
	Version string
	Detail  string
}

// ApplyEvent describes one Apply: Err is nil on success, and then ModelVersion and
// Groups (group key → type URL → version) describe what is now served.
type ApplyEvent struct {
	ModelVersion string
	Groups       map[string]map[string]string
	Err          error
}

// Observer receives stream and apply events, e.g. to count them as metrics. Stream
// events are called synchronously on the stream's goroutine, outside the server's locks;
// Applied on the goroutine calling Apply, while Apply still serialises (so Applied events
// arrive in order). Keep them cheap and never block. Embed NopObserver to implement only
// some.
type Observer interface {
	// StreamOpened is called at a stream's first request, when the node is known.
	StreamOpened(Event)
	// StreamClosed is called when a stream whose node was known ends.
	StreamClosed(Event)
	Response(Event)
	Ack(Event)
	Nack(Event)
	Applied(ApplyEvent)
}

// NopObserver ignores every event.
type NopObserver struct{}

func (NopObserver) StreamOpened(Event) {}
func (NopObserver) StreamClosed(Event) {}
func (NopObserver) Response(Event)     {}
func (NopObserver) Ack(Event)          {}
func (NopObserver) Nack(Event)         {}
func (NopObserver) Applied(ApplyEvent) {}

// Model is the last applied model, nil before the first Apply.
func (s *Server) Model() *model.Model {
	if cur := s.served.Load(); cur != nil {
		return cur.model
	}
	return nil
}

// Redactor is the applied model's redactor, built once by Apply; before the first Apply
// it redacts nothing, as no secret is served.
func (s *Server) Redactor() redact.Redactor {
	if cur := s.served.Load(); cur != nil {
		return cur.redact
	}
	return redact.Redactor{}
}

// TypeName is a short, stable label for an xDS type URL: "clusters", "endpoints",
// "routes", "listeners" for the four types poolpilot serves, else the message name.
func TypeName(typeURL string) string {
	msg := typeURL[strings.LastIndex(typeURL, "/")+1:]
	switch msg {
	case "envoy.config.cluster.v3.Cluster":
		return "clusters"
	case "envoy.config.endpoint.v3.ClusterLoadAssignment":
		return "endpoints"
	case "envoy.config.route.v3.RouteConfiguration":
		return "routes"
	case "envoy.config.listener.v3.Listener":
		return "listeners"
	case "":
		return "unknown"
	}
	return msg
}
