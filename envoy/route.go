package envoy

import (
	"math"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// RouteSpec is one prefix route to one cluster.
type RouteSpec struct {
	Name          string
	Prefix        string
	Cluster       string
	PrefixRewrite string
	// AutoHostRewrite sets the Host header to the chosen endpoint's hostname.
	AutoHostRewrite bool
	// Timeout bounds the whole request, retries included; 0 keeps Envoy's default (15s).
	Timeout time.Duration
	// Retry, when set, is the route's retry_policy.
	Retry *RetrySpec
	// BodyBufferLimit > 0 lets Envoy buffer a request body this large, so a retry can
	// resend it.
	BodyBufferLimit uint64
	// LegacyBufferLimit writes BodyBufferLimit as per_request_buffer_limit_bytes instead,
	// for Envoy older than 1.36, which has no request_body_buffer_limit (and ignores it).
	LegacyBufferLimit bool
	// RemoveHeaders are request headers dropped before the request is routed.
	RemoveHeaders []string
}

// Route builds a route.
func Route(s RouteSpec) *routev3.Route {
	action := &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: s.Cluster},
		PrefixRewrite:    s.PrefixRewrite,
	}
	if s.Retry != nil {
		action.RetryPolicy = RetryPolicy(*s.Retry)
	}
	if s.AutoHostRewrite {
		action.HostRewriteSpecifier = &routev3.RouteAction_AutoHostRewrite{AutoHostRewrite: wrapperspb.Bool(true)}
	}
	if s.Timeout > 0 {
		action.Timeout = dur(s.Timeout)
	}
	r := &routev3.Route{
		Name:   s.Name,
		Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: s.Prefix}},
		Action: &routev3.Route_Route{Route: action},
	}
	switch {
	case s.BodyBufferLimit > 0 && s.LegacyBufferLimit:
		r.PerRequestBufferLimitBytes = u32(uint32(min(s.BodyBufferLimit, math.MaxUint32))) //nolint:staticcheck // the only field Envoy < 1.36 reads
	case s.BodyBufferLimit > 0:
		r.RequestBodyBufferLimit = wrapperspb.UInt64(s.BodyBufferLimit)
	}
	r.RequestHeadersToRemove = s.RemoveHeaders
	return r
}

// VirtualHost builds a virtual host. attemptCount adds x-envoy-attempt-count to responses.
func VirtualHost(name string, domains []string, routes []*routev3.Route, attemptCount bool) *routev3.VirtualHost {
	return &routev3.VirtualHost{
		Name:                          name,
		Domains:                       domains,
		Routes:                        routes,
		IncludeAttemptCountInResponse: attemptCount,
	}
}

// RouteConfiguration builds a route configuration (an RDS resource).
func RouteConfiguration(name string, vhosts ...*routev3.VirtualHost) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: name, VirtualHosts: vhosts}
}
