package xds

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"

	"github.com/poolpilot/poolpilot/translator"
)

// callbacks feed the status registry, the observer and the NACK-aware cache from the
// stream loop (streams), which calls them where go-control-plane's server would. They run
// synchronously on each stream's goroutine, before the loop asks the cache for a watch.
type callbacks struct{ s *Server }

var _ serverv3.Callbacks = callbacks{}

func (c callbacks) OnStreamOpen(ctx context.Context, id int64, typeURL string) error {
	return c.open(ctx, streamKey{SotW, id}, typeURL)
}

func (c callbacks) OnDeltaStreamOpen(ctx context.Context, id int64, typeURL string) error {
	return c.open(ctx, streamKey{Delta, id}, typeURL)
}

// open registers a stream with what its client certificate allows it to claim. typeURL
// is the per-type service's type, "" for ADS, whose requests each name theirs.
func (c callbacks) open(ctx context.Context, k streamKey, typeURL string) error {
	if err := checkTypeURL(typeURL); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	c.s.reg.open(k, time.Now(), identityOf(ctx))
	return nil
}

func (c callbacks) OnStreamClosed(id int64, _ *corev3.Node) { c.closed(streamKey{SotW, id}) }

func (c callbacks) OnDeltaStreamClosed(id int64, _ *corev3.Node) { c.closed(streamKey{Delta, id}) }

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

// OnStreamRequest runs before the server keeps any state for the request's type URL, so
// refusing an unknown type here (an error ends the stream with that status) means a
// client cannot make the server track types it does not serve.
func (c callbacks) OnStreamRequest(id int64, req *discovery.DiscoveryRequest) error {
	k := streamKey{SotW, id}
	if err := c.checkType(k, req.GetTypeUrl()); err != nil {
		return err
	}
	if err := c.firstRequest(k, req.GetNode()); err != nil {
		return err
	}
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
	if err := c.checkType(k, req.GetTypeUrl()); err != nil {
		return err
	}
	// Only the first request must carry the node; setNode ignores a later nil.
	if err := c.firstRequest(k, req.GetNode()); err != nil {
		return err
	}
	d := req.GetErrorDetail()
	c.answered(k, req.GetTypeUrl(), req.GetResponseNonce(), d != nil, d.GetMessage(), false)
	return nil
}

// checkType refuses, and logs, a request for a type poolpilot does not serve.
func (c callbacks) checkType(k streamKey, typeURL string) error {
	err := checkTypeURL(typeURL)
	if err == nil {
		return nil
	}
	c.s.log.Warn("xDS request refused", "stream", k.id, "kind", k.kind, "error", err)
	return status.Error(codes.InvalidArgument, err.Error())
}

// firstRequest registers the stream's node and makes sure its group has a snapshot before
// the cache is asked for a watch. A node that changes group mid-stream, or claims a
// region its certificate does not allow, ends the stream.
func (c callbacks) firstRequest(k streamKey, node *corev3.Node) error {
	known := c.s.known()
	ev, claimed, first, err := c.s.reg.setNode(k, node, known)
	if err != nil {
		code := codes.InvalidArgument
		if _, ok := err.(*identityError); ok {
			code = codes.PermissionDenied
		}
		c.s.log.Warn("xDS request refused", "stream", k.id, "kind", k.kind,
			"node", clipText(node.GetId(), MaxNodeIDLen), "error", err)
		return status.Error(code, err.Error())
	}
	if !first {
		return nil
	}
	group := claimed.Resolve(known)
	attrs := []any{"node", ev.NodeID, "group", ev.Group, "kind", ev.Kind, "stream", ev.StreamID,
		"user_agent", clipText(node.GetUserAgentName(), maxUserAgentLen)}
	if group.Region == translator.OtherRegion {
		attrs = append(attrs, "region", clipText(node.GetLocality().GetRegion(), 64))
		c.s.log.Info("xDS stream opened; the node's region is not in the model, so it shares the group of such nodes", attrs...)
	} else {
		c.s.log.Info("xDS stream opened", attrs...)
	}
	c.s.obs.StreamOpened(ev)
	c.s.ensureGroup(group)
	return nil
}

// answered counts an ACK or NACK and returns the version a NACK rejected ("" otherwise).
func (c callbacks) answered(k streamKey, typeURL, nonce string, isNack bool, msg string, latestOnly bool) string {
	if isNack && msg != "" {
		// A client may quote the rejected resource, endpoint metadata (credentials) included:
		// redact before the detail reaches the log, the status registry or the observer,
		// and keep a bounded prefix only.
		msg = clientText(c.s.Redactor(), msg, MaxNackDetailLen)
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
