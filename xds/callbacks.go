package xds

import (
	"context"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
)

// callbacks feed the status registry, the observer and the NACK-aware cache from the
// go-control-plane server. They run synchronously on each stream's goroutine, before the
// server asks the cache for a watch.
type callbacks struct{ s *Server }

var _ serverv3.Callbacks = callbacks{}

func (c callbacks) OnStreamOpen(_ context.Context, id int64, _ string) error {
	c.s.reg.open(streamKey{SotW, id}, time.Now())
	return nil
}

func (c callbacks) OnDeltaStreamOpen(_ context.Context, id int64, _ string) error {
	c.s.reg.open(streamKey{Delta, id}, time.Now())
	return nil
}

func (c callbacks) OnStreamClosed(id int64, _ *core.Node) { c.closed(streamKey{SotW, id}) }

func (c callbacks) OnDeltaStreamClosed(id int64, _ *core.Node) { c.closed(streamKey{Delta, id}) }

func (c callbacks) closed(k streamKey) {
	ev, known, rejecting := c.s.reg.close(k)
	if rejecting != nil {
		c.s.cache.forget(rejecting)
	}
	if known {
		c.s.log.Debug("xDS stream closed", "node", ev.NodeID, "group", ev.Group, "kind", ev.Kind, "stream", ev.StreamID)
		c.s.obs.StreamClosed(ev)
	}
}

func (c callbacks) OnStreamRequest(id int64, req *discovery.DiscoveryRequest) error {
	k := streamKey{SotW, id}
	c.firstRequest(k, req.GetNode())
	d := req.GetErrorDetail()
	rejected := c.answered(k, req.GetTypeUrl(), req.GetResponseNonce(), d != nil, d.GetMessage(), true)
	if rejected != "" {
		c.s.cache.noteRejected(req, rejected)
		c.s.reg.setRejecting(k, req)
	}
	return nil
}

func (c callbacks) OnStreamDeltaRequest(id int64, req *discovery.DeltaDiscoveryRequest) error {
	k := streamKey{Delta, id}
	// Only the first request must carry the node; setNode ignores a later nil.
	c.firstRequest(k, req.GetNode())
	d := req.GetErrorDetail()
	c.answered(k, req.GetTypeUrl(), req.GetResponseNonce(), d != nil, d.GetMessage(), false)
	return nil
}

// firstRequest registers the stream's node and makes sure its group has a snapshot before
// the cache is asked for a watch.
func (c callbacks) firstRequest(k streamKey, node *core.Node) {
	ev, group, first := c.s.reg.setNode(k, node)
	if !first {
		return
	}
	c.s.log.Info("xDS stream opened", "node", ev.NodeID, "group", ev.Group, "kind", ev.Kind, "stream", ev.StreamID,
		"user_agent", node.GetUserAgentName())
	c.s.obs.StreamOpened(ev)
	c.s.ensureGroup(group)
}

// answered counts an ACK or NACK and returns the version a NACK rejected ("" otherwise).
func (c callbacks) answered(k streamKey, typeURL, nonce string, isNack bool, msg string, latestOnly bool) string {
	if isNack && msg != "" {
		// A client may quote the rejected resource, endpoint metadata (credentials) included:
		// redact before the detail reaches the log, the status registry or the observer.
		msg = c.s.redactor().text(msg)
	}
	ev, kind, version := c.s.reg.answer(k, typeURL, nonce, isNack, msg, latestOnly, time.Now())
	switch kind {
	case answerAck:
		c.s.obs.Ack(ev)
	case answerNack:
		c.s.log.Warn("node rejected configuration", "node", ev.NodeID, "group", ev.Group, "kind", ev.Kind,
			"type", typeURL, "version", version, "error", msg)
		c.s.obs.Nack(ev)
	}
	if isNack {
		return version
	}
	return ""
}

func (c callbacks) OnStreamResponse(_ context.Context, id int64, _ *discovery.DiscoveryRequest, resp *discovery.DiscoveryResponse) {
	c.sent(streamKey{SotW, id}, resp.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo())
}

func (c callbacks) OnStreamDeltaResponse(id int64, _ *discovery.DeltaDiscoveryRequest, resp *discovery.DeltaDiscoveryResponse) {
	c.sent(streamKey{Delta, id}, resp.GetTypeUrl(), resp.GetNonce(), resp.GetSystemVersionInfo())
}

func (c callbacks) sent(k streamKey, typeURL, nonce, version string) {
	if ev, ok := c.s.reg.sent(k, typeURL, nonce, version, time.Now()); ok {
		c.s.obs.Response(ev)
	}
}

func (c callbacks) OnFetchRequest(context.Context, *discovery.DiscoveryRequest) error { return nil }

func (c callbacks) OnFetchResponse(*discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {}
