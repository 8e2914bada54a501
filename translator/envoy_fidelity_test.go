package translator

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	previousprioritiesv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/poolpilot/poolpilot/envoy"
	"github.com/poolpilot/poolpilot/model"
)

func mixed(t *testing.T) *model.Model { return loadCase(t, "testdata/in/mixed.yaml") }

// An https backend's validation context names a CA file (the default bundle, or the
// backend's tls.caFile) and never system_root_certs, which Envoy does not implement.
func TestHTTPSBackendsTrustAFile(t *testing.T) {
	for _, tc := range []struct {
		m       *model.Model
		cluster string
		want    map[string]string // transport socket match → CA file
	}{
		{failover(t), "load-balanced-pool", map[string]string{
			"tls-func-primary-sdc": model.DefaultCAFile, "tls-func-secondary-nwe": model.DefaultCAFile}},
		{mixed(t), "mixed-pool", map[string]string{"tls-keyed-a": "/etc/envoy/ca/internal.pem"}},
	} {
		c := clusterOf(t, translate(t, tc.m, Group{Region: "swedencentral", Client: Envoy}), tc.cluster)
		got := map[string]string{}
		for _, m := range c.GetTransportSocketMatches() {
			ctx := &tlsv3.UpstreamTlsContext{}
			if err := m.GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx); err != nil {
				t.Fatal(err)
			}
			vc := ctx.GetCommonTlsContext().GetValidationContext()
			if vc.GetSystemRootCerts() != nil {
				t.Errorf("%s: system_root_certs is set", m.GetName())
			}
			if len(vc.GetMatchTypedSubjectAltNames()) == 0 {
				t.Errorf("%s: no SAN matcher", m.GetName())
			}
			got[m.GetName()] = vc.GetTrustedCa().GetFilename()
		}
		if !maps.Equal(got, tc.want) {
			t.Errorf("%s: trusted_ca files = %v, want %v", tc.cluster, got, tc.want)
		}
	}
}

// In a pool mixing credential header names and a member without any, the upstream
// header_mutation removes every name of the union before it sets any, and the route drops
// client-sent copies: a host never receives a key that is not its own.
func TestCredentialHeadersRemovedBeforeSet(t *testing.T) {
	for _, region := range goldenRegions {
		res := translate(t, mixed(t), Group{Region: region, Client: Envoy})
		c := clusterOf(t, res, "mixed-pool")
		opts := &upstreamhttpv3.HttpProtocolOptions{}
		if err := c.GetTypedExtensionProtocolOptions()[envoy.HTTPProtocolOptionsName].UnmarshalTo(opts); err != nil {
			t.Fatal(err)
		}
		fs := opts.GetHttpFilters()
		if len(fs) != 2 || fs[0].GetName() != envoy.HeaderMutationName || fs[1].GetName() != envoy.UpstreamCodecName {
			t.Fatalf("%s: upstream filters = %v", region, fs)
		}
		hm := &headermutationv3.HeaderMutation{}
		if err := fs[0].GetTypedConfig().UnmarshalTo(hm); err != nil {
			t.Fatal(err)
		}
		removedAt, setAt := map[string]int{}, map[string]int{}
		for i, m := range hm.GetMutations().GetRequestMutations() {
			if r := m.GetRemove(); r != "" {
				removedAt[r] = i
			} else if h := m.GetAppend().GetHeader(); h != nil {
				setAt[h.GetKey()] = i
			}
		}
		for _, h := range []string{"x-api-key", "x-functions-key"} {
			r, removed := removedAt[h]
			s, set := setAt[h]
			if !removed || !set || r >= s {
				t.Errorf("%s: %s removed at %d (%v), set at %d (%v): want removed before set", region, h, r, removed, s, set)
			}
		}
		if len(removedAt) != 2 || len(setAt) != 2 {
			t.Errorf("%s: mutations %v", region, hm.GetMutations().GetRequestMutations())
		}
		rt := routeOf(t, res, "public", "mixed-api")
		if got := rt.GetRequestHeadersToRemove(); !slices.Equal(got, []string{"x-api-key", "x-functions-key"}) {
			t.Errorf("%s: route request_headers_to_remove = %v", region, got)
		}
	}
}

// Retry-After must not delay a retry that previous_priorities sends to another backend.
func TestRetryIgnoresRetryAfter(t *testing.T) {
	res := translate(t, failover(t), Group{Region: "swedencentral", Client: Envoy})
	if rl := routeOf(t, res, "public", "resilient-api").GetRoute().GetRetryPolicy().GetRateLimitedRetryBackOff(); rl != nil {
		t.Errorf("rate_limited_retry_back_off = %v, want none", rl)
	}
}

// update_frequency is the size of the largest priority level, so every member of a level
// is tried before previous_priorities excludes it.
func TestPreviousPrioritiesUpdateFrequency(t *testing.T) {
	for _, tc := range []struct {
		m     *model.Model
		route string
		want  int32
	}{
		{failover(t), "resilient-api", 1}, // one member per level
		{mixed(t), "mixed-api", 2},        // keyed-a and keyed-b share level 0
	} {
		res := translate(t, tc.m, Group{Region: "swedencentral", Client: Envoy})
		rp := routeOf(t, res, "public", tc.route).GetRoute().GetRetryPolicy()
		pp := &previousprioritiesv3.PreviousPrioritiesConfig{}
		if err := rp.GetRetryPriority().GetTypedConfig().UnmarshalTo(pp); err != nil {
			t.Fatal(err)
		}
		if pp.GetUpdateFrequency() != tc.want {
			t.Errorf("%s: update_frequency = %d, want %d", tc.route, pp.GetUpdateFrequency(), tc.want)
		}
	}
}

// Envoy < 1.36 ignores request_body_buffer_limit: the legacy group gets
// per_request_buffer_limit_bytes and a listener buffer limit at least as large.
func TestLegacyEnvoyBuffersRetriedBodies(t *testing.T) {
	res := translate(t, failover(t), Group{Region: "swedencentral", Client: Envoy, LegacyEnvoy: true})
	rt := routeOf(t, res, "public", "resilient-api")
	if rt.GetRequestBodyBufferLimit() != nil || rt.GetPerRequestBufferLimitBytes().GetValue() != bodyBufferLimit { //nolint:staticcheck // the field Envoy < 1.36 reads
		t.Errorf("route buffer limits = %v / %v, want only per_request_buffer_limit_bytes %d",
			rt.GetRequestBodyBufferLimit(), rt.GetPerRequestBufferLimitBytes(), bodyBufferLimit) //nolint:staticcheck
	}
	l := res.Listeners[0].(*listenerv3.Listener)
	if l.GetPerConnectionBufferLimitBytes().GetValue() < bodyBufferLimit {
		t.Errorf("listener per_connection_buffer_limit_bytes = %v, want ≥ %d", l.GetPerConnectionBufferLimitBytes(), bodyBufferLimit)
	}
	cur := translate(t, failover(t), Group{Region: "swedencentral", Client: Envoy})
	if rt := routeOf(t, cur, "public", "resilient-api"); rt.GetPerRequestBufferLimitBytes() != nil || rt.GetRequestBodyBufferLimit().GetValue() != bodyBufferLimit { //nolint:staticcheck
		t.Errorf("Envoy ≥ 1.36 route = %v", rt)
	}
	if cur.Listeners[0].(*listenerv3.Listener).GetPerConnectionBufferLimitBytes() != nil {
		t.Error("Envoy ≥ 1.36 needs no listener buffer limit")
	}
}

// Clusters bound the connect (not Envoy's 5 s default) and prefer IPv4 as the bootstrap does.
func TestClustersConnectTimeoutAndDNSFamily(t *testing.T) {
	for _, tc := range []struct {
		m       *model.Model
		cluster string
		want    time.Duration
	}{
		{failover(t), "load-balanced-pool", model.DefaultConnectTimeout},
		{mixed(t), "mixed-pool", 750 * time.Millisecond}, // the longest a member sets
	} {
		c := clusterOf(t, translate(t, tc.m, Group{Region: "norwayeast", Client: Envoy}), tc.cluster)
		if got := c.GetConnectTimeout().AsDuration(); got != tc.want {
			t.Errorf("%s: connect_timeout = %v, want %v", tc.cluster, got, tc.want)
		}
		if c.GetDnsLookupFamily() != clusterv3.Cluster_V4_PREFERRED {
			t.Errorf("%s: dns_lookup_family = %v", tc.cluster, c.GetDnsLookupFamily())
		}
	}
}

// A pool mixing count and percentage rules loses the 1 s sweep: Envoy returns ejected
// hosts only at interval ticks, and the interval is the percentage window. Say so.
func TestMixedCountAndPercentageWarns(t *testing.T) {
	m := loadYAML(t, `
backends:
  - name: a
    url: http://10.0.0.1:80
    circuitBreaker:
      rules: [{name: r, tripDuration: 30s, failureCondition: {count: 3, interval: 20s, statusCodeRanges: [{min: 502, max: 504}]}}]
  - name: b
    url: http://10.0.0.2:80
    circuitBreaker:
      rules: [{name: r, tripDuration: 30s, failureCondition: {percentage: 50, interval: 20s, statusCodeRanges: [{min: 502, max: 504}]}}]
pools:
  - name: p
    services: [{backend: a, priority: 1}, {backend: b, priority: 2}]
apis:
  - {name: api, pathPrefix: /, backend: p}
listeners:
  - {name: l, port: 10000, apis: [api]}
`)
	res := translate(t, m, Group{Client: Envoy})
	if got := clusterOf(t, res, "p").GetOutlierDetection().GetInterval().AsDuration(); got != 20*time.Second {
		t.Errorf("interval = %v, want the 20s percentage window", got)
	}
	want := `pool "p": count and percentage rules share one outlier interval (20s, the percentage window), so an ejection lasts tripDuration plus up to 20s, not the 1s sweep of a count rule`
	if !slices.Contains(res.Warnings, want) {
		t.Errorf("warnings = %q, want %q", res.Warnings, want)
	}
}

// loadYAML loads a one-file model written to a temporary directory.
func loadYAML(t *testing.T, y string) *model.Model {
	t.Helper()
	p := filepath.Join(t.TempDir(), "model.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return loadCase(t, p)
}
