package xds

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
)

// streams serves xDS streams, state-of-the-world and delta, aggregated (ADS) and per
// type: poolpilot's own stream loop in place of go-control-plane's sotw and delta servers
// (pkg/server/sotw/v3, pkg/server/delta/v3), which it follows request for request (the
// same callbacks in the same order, nonces, the stale-nonce rule, wildcard rules, watches
// and the responses they send). What differs is the subscription each stream keeps per
// type: its maps are shared between streams rather than copied into each (subscription).
// Fetch (REST-like unary xDS) stays go-control-plane's.
type streams struct {
	serverv3.Server
	ctx       context.Context
	cache     cache.ConfigWatcher
	callbacks serverv3.Callbacks
	// share, when set, returns the shared set of names equal to a stream's subscription
	// (nil: none); nil shares nothing. shareList does the same for a state-of-the-world
	// request's names, without a set built from them (see sharing).
	share             func(node *corev3.Node, typeURL string, set map[string]struct{}) map[string]struct{}
	shareList         func(node *corev3.Node, typeURL string, names []string, returned map[string]string) (map[string]struct{}, bool)
	sotwIDs, deltaIDs atomic.Int64
}

func newStreams(ctx context.Context, c cache.Cache, cb serverv3.Callbacks) *streams {
	return &streams{Server: serverv3.NewServer(ctx, c, cb), ctx: ctx, cache: c, callbacks: cb}
}

// Each stream's responses wait in one channel. A watch answers at most once, and a
// stream holds one watch per type (of at most the served types: the callbacks refuse
// others) and drops a type's unsent response when it replaces the type's watch, so the
// cache, which sends while holding its lock, never blocks on it.
const (
	sotwResponses  = int(types.UnknownType)
	deltaResponses = 2 * int(types.UnknownType)
)

func (s *streams) StreamAggregatedResources(str discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	return s.sotw(str, resourcev3.AnyType)
}

func (s *streams) StreamClusters(str clusterservice.ClusterDiscoveryService_StreamClustersServer) error {
	return s.sotw(str, resourcev3.ClusterType)
}

func (s *streams) StreamEndpoints(str endpointservice.EndpointDiscoveryService_StreamEndpointsServer) error {
	return s.sotw(str, resourcev3.EndpointType)
}

func (s *streams) StreamListeners(str listenerservice.ListenerDiscoveryService_StreamListenersServer) error {
	return s.sotw(str, resourcev3.ListenerType)
}

func (s *streams) StreamRoutes(str routeservice.RouteDiscoveryService_StreamRoutesServer) error {
	return s.sotw(str, resourcev3.RouteType)
}

func (s *streams) DeltaAggregatedResources(str discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	return s.delta(str, resourcev3.AnyType)
}

func (s *streams) DeltaClusters(str clusterservice.ClusterDiscoveryService_DeltaClustersServer) error {
	return s.delta(str, resourcev3.ClusterType)
}

func (s *streams) DeltaEndpoints(str endpointservice.EndpointDiscoveryService_DeltaEndpointsServer) error {
	return s.delta(str, resourcev3.EndpointType)
}

func (s *streams) DeltaListeners(str listenerservice.ListenerDiscoveryService_DeltaListenersServer) error {
	return s.delta(str, resourcev3.ListenerType)
}

func (s *streams) DeltaRoutes(str routeservice.RouteDiscoveryService_DeltaRoutesServer) error {
	return s.delta(str, resourcev3.RouteType)
}

// adopt fills in what a request may leave out, as go-control-plane's servers do: the node
// (only a stream's first request must carry it; node is the stream's) and, on a per-type
// service, the type URL. An ADS request must name its type.
func adopt(node, reqNode **corev3.Node, typeURL *string, defaultTypeURL string) error {
	if *reqNode != nil {
		*node = *reqNode
	} else {
		*reqNode = *node
	}
	switch {
	case defaultTypeURL == resourcev3.AnyType && *typeURL == "":
		return status.Errorf(codes.InvalidArgument, "type URL is required for ADS")
	case *typeURL == "":
		*typeURL = defaultTypeURL
	}
	return nil
}

// shareFor is the sharing of a stream's watch of typeURL, made with the watch: a stream's
// node keeps its group (the callbacks end a stream whose node moves).
func (s *streams) shareFor(node *corev3.Node, typeURL string) sharing {
	var sh sharing
	if s.share != nil {
		sh.set = func(set map[string]struct{}) map[string]struct{} { return s.share(node, typeURL, set) }
	}
	if s.shareList != nil {
		sh.list = func(names []string, returned map[string]string) (map[string]struct{}, bool) {
			return s.shareList(node, typeURL, names, returned)
		}
	}
	return sh
}

// receive reads str's requests into a channel, closed when the stream ends.
func receive[Req any](ctx context.Context, str interface {
	Recv() (Req, error)
	Context() context.Context
}) <-chan Req {
	reqs := make(chan Req)
	go func() {
		defer close(reqs)
		for {
			req, err := str.Recv()
			if err != nil {
				return
			}
			select {
			case reqs <- req:
			case <-str.Context().Done():
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return reqs
}

// sotwStream is one state-of-the-world stream.
type sotwStream struct {
	s       *streams
	str     streamv3.Stream
	id      int64
	nonce   int64
	node    *corev3.Node
	watches map[string]*sotwWatch
	resps   chan cache.Response
}

type sotwWatch struct {
	cancel func()
	sub    subscription
	share  sharing
	// nonce is that of the last response sent on this watch ("" before one).
	nonce string
}

func (s *streams) sotw(str streamv3.Stream, defaultTypeURL string) error {
	st := &sotwStream{s: s, str: str, id: s.sotwIDs.Add(1), node: &corev3.Node{},
		watches: map[string]*sotwWatch{}, resps: make(chan cache.Response, sotwResponses)}
	return serve(s.ctx, receive[*discovery.DiscoveryRequest](s.ctx, str), st.resps,
		func() error { return s.callbacks.OnStreamOpen(str.Context(), st.id, defaultTypeURL) },
		func(req *discovery.DiscoveryRequest) error { return st.request(req, defaultTypeURL) },
		st.send,
		func() {
			for _, w := range st.watches {
				w.cancel()
			}
			s.callbacks.OnStreamClosed(st.id, st.node)
		})
}

// serve runs one stream: open (its error ends the stream), then the cache's responses
// sent and the client's requests handled, in the order they come, until the client ends
// the stream, the server stops, or either fails. closed runs last in every case, as
// go-control-plane's servers close a stream.
func serve[Req, Resp any](ctx context.Context, reqs <-chan Req, resps <-chan Resp, open func() error,
	request func(Req) error, send func(Resp) error, closed func()) error {
	defer closed()
	if err := open(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case resp := <-resps:
			if err := send(resp); err != nil {
				return err
			}
		case req, ok := <-reqs:
			if !ok {
				return nil
			}
			if err := request(req); err != nil {
				return err
			}
		}
	}
}

func (st *sotwStream) request(req *discovery.DiscoveryRequest, defaultTypeURL string) error {
	if req == nil {
		return status.Errorf(codes.Unavailable, "empty request")
	}
	if err := adopt(&st.node, &req.Node, &req.TypeUrl, defaultTypeURL); err != nil {
		return err
	}
	if err := st.s.callbacks.OnStreamRequest(st.id, req); err != nil {
		return err
	}
	typeURL := req.GetTypeUrl()
	w, ok := st.watches[typeURL]
	if ok {
		if w.nonce != "" && req.GetResponseNonce() != w.nonce {
			// A request answering an older response than the last one sent: the protocol
			// has the server ignore it, as the client will answer the last one.
			return nil
		}
		w.cancel()
		if err := st.drainExcept(typeURL); err != nil {
			return err
		}
		w.sub.setSotw(req.GetResourceNames(), w.share)
		w.nonce = ""
	} else {
		w = &sotwWatch{share: st.s.shareFor(st.node, typeURL)}
		w.sub = newSotwSubscription(req.GetResourceNames(), true, w.share)
	}
	cancel, err := st.s.cache.CreateWatch(req, w.sub, st.resps)
	if err != nil {
		return err
	}
	w.cancel = orNoop(cancel)
	st.watches[typeURL] = w
	return nil
}

// orNoop is cancel, or a function that does nothing when there is none: a cache may
// return no cancel function for a watch it answered at once (the stock caches'
// CreateDeltaWatch do), and go-control-plane's servers allow for it.
func orNoop(cancel func()) func() {
	if cancel == nil {
		return func() {}
	}
	return cancel
}

// drainExcept sends the responses waiting for other types than typeURL, and drops the
// one waiting for typeURL: its watch was just replaced.
func (st *sotwStream) drainExcept(typeURL string) error {
	for {
		select {
		case resp := <-st.resps:
			if resp.GetRequest().GetTypeUrl() == typeURL {
				continue
			}
			if err := st.send(resp); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

func (st *sotwStream) send(resp cache.Response) error {
	if resp == nil {
		return errors.New("missing response")
	}
	out, err := resp.GetDiscoveryResponse()
	if err != nil {
		return err
	}
	typeURL := resp.GetRequest().GetTypeUrl()
	w, ok := st.watches[typeURL]
	if !ok {
		return fmt.Errorf("no current watch for %s", typeURL)
	}
	st.nonce++
	out.Nonce = strconv.FormatInt(st.nonce, 10)
	w.sub.returned = resp.GetReturnedResources()
	w.nonce = out.Nonce
	st.s.callbacks.OnStreamResponse(resp.GetContext(), st.id, resp.GetRequest(), out)
	return st.str.Send(out)
}

// deltaStream is one delta stream.
type deltaStream struct {
	s       *streams
	str     streamv3.DeltaStream
	id      int64
	nonce   int64
	node    *corev3.Node
	watches map[string]*deltaStreamWatch
	resps   chan cache.DeltaResponse
}

type deltaStreamWatch struct {
	cancel func()
	sub    subscription
	share  sharing
}

func (s *streams) delta(str streamv3.DeltaStream, defaultTypeURL string) error {
	st := &deltaStream{s: s, str: str, id: s.deltaIDs.Add(1), node: &corev3.Node{},
		watches: map[string]*deltaStreamWatch{}, resps: make(chan cache.DeltaResponse, deltaResponses)}
	return serve(s.ctx, receive[*discovery.DeltaDiscoveryRequest](s.ctx, str), st.resps,
		func() error { return s.callbacks.OnDeltaStreamOpen(str.Context(), st.id, defaultTypeURL) },
		func(req *discovery.DeltaDiscoveryRequest) error { return st.request(req, defaultTypeURL) },
		st.send,
		func() {
			for _, w := range st.watches {
				w.cancel()
			}
			s.callbacks.OnDeltaStreamClosed(st.id, st.node)
		})
}

func (st *deltaStream) request(req *discovery.DeltaDiscoveryRequest, defaultTypeURL string) error {
	if req == nil {
		return status.Errorf(codes.Unavailable, "empty request")
	}
	// Send what is waiting first, so the request is compared with what was sent.
	if err := st.drain(); err != nil {
		return err
	}
	if err := st.s.callbacks.OnStreamDeltaRequest(st.id, req); err != nil {
		return err
	}
	if err := adopt(&st.node, &req.Node, &req.TypeUrl, defaultTypeURL); err != nil {
		return err
	}
	typeURL := req.GetTypeUrl()
	w, ok := st.watches[typeURL]
	if ok {
		w.cancel()
		w.sub.updateDelta(req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe(), w.share)
	} else {
		w = &deltaStreamWatch{share: st.s.shareFor(st.node, typeURL)}
		w.sub = newDeltaSubscription(req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe(),
			req.GetInitialResourceVersions(), true, w.share)
	}
	cancel, err := st.s.cache.CreateDeltaWatch(req, w.sub, st.resps)
	if err != nil {
		return err
	}
	w.cancel = orNoop(cancel)
	st.watches[typeURL] = w
	return nil
}

func (st *deltaStream) drain() error {
	for {
		select {
		case resp := <-st.resps:
			if err := st.send(resp); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

func (st *deltaStream) send(resp cache.DeltaResponse) error {
	if resp == nil {
		return errors.New("missing response")
	}
	out, err := resp.GetDeltaDiscoveryResponse()
	if err != nil {
		return err
	}
	typeURL := resp.GetDeltaRequest().GetTypeUrl()
	w, ok := st.watches[typeURL]
	if !ok {
		return fmt.Errorf("no current watch for %s", typeURL)
	}
	st.nonce++
	out.Nonce = strconv.FormatInt(st.nonce, 10)
	st.s.callbacks.OnStreamDeltaResponse(st.id, resp.GetDeltaRequest(), out)
	if err := st.str.Send(out); err != nil {
		return err
	}
	w.sub.returned = resp.GetNextVersionMap()
	return nil
}
