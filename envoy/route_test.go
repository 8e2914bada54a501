package envoy

import (
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

func TestRoute(t *testing.T) {
	r := Route(RouteSpec{
		Name: "api", Prefix: "/api/", Cluster: "pool", PrefixRewrite: "/x/", AutoHostRewrite: true,
		Timeout: 20 * time.Second, BodyBufferLimit: 1 << 20,
		Retry: &RetrySpec{RetryOn: []string{"5xx"}, NumRetries: 2},
	})
	rc := RouteConfiguration("public", VirtualHost("star", []string{"*"}, []*routev3.Route{r}, true))
	if err := Validate(rc); err != nil {
		t.Fatal(err)
	}
	a := r.GetRoute()
	if a.GetCluster() != "pool" || a.GetPrefixRewrite() != "/x/" || !a.GetAutoHostRewrite().GetValue() || a.GetTimeout().AsDuration() != 20*time.Second {
		t.Errorf("route action = %v", a)
	}
	if r.GetMatch().GetPrefix() != "/api/" || r.GetRequestBodyBufferLimit().GetValue() != 1<<20 {
		t.Errorf("route = %v", r)
	}
	if !rc.GetVirtualHosts()[0].GetIncludeAttemptCountInResponse() {
		t.Error("include_attempt_count_in_response not set")
	}
}

func TestRouteDefaults(t *testing.T) {
	r := Route(RouteSpec{Name: "api", Prefix: "/", Cluster: "pool"})
	if err := Validate(r); err != nil {
		t.Fatal(err)
	}
	a := r.GetRoute()
	if a.GetTimeout() != nil || a.GetHostRewriteSpecifier() != nil || a.GetRetryPolicy() != nil || r.GetRequestBodyBufferLimit() != nil {
		t.Errorf("unasked fields set: %v", r)
	}
}
