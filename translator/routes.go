package translator

import (
	"fmt"
	"sort"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/poolpilot/poolpilot/envoy"
	"github.com/poolpilot/poolpilot/model"
)

// bodyBufferLimit is how much request body Envoy keeps for a retry when the API asks for
// bufferRequestBody; a larger body is sent once and not retried.
const bodyBufferLimit = 10 << 20

// envoyListeners emits, per model listener, a socket listener and a route configuration
// of the same name, and the clusters its APIs route to.
func (tr *translation) envoyListeners() error {
	for _, l := range tr.m.Listeners {
		var apis []*model.API
		for _, name := range l.APIs {
			a := tr.ix.API(name)
			if a == nil {
				return fmt.Errorf("listener %q: no API named %q", l.Name, name)
			}
			apis = append(apis, a)
		}
		routes := map[string]*routev3.Route{}
		var bufferLimit uint32
		for _, a := range apis {
			if err := tr.addTarget(a.Backend); err != nil {
				return fmt.Errorf("api %q: %w", a.Name, err)
			}
			r, err := tr.envoyRoute(a)
			if err != nil {
				return err
			}
			routes[a.Name] = r
			if tr.g.LegacyEnvoy && a.Retry != nil && a.Retry.BufferRequestBody {
				// Envoy < 1.36 buffers at most the smaller of the route's
				// per_request_buffer_limit_bytes and this listener limit (1 MiB by default).
				bufferLimit = bodyBufferLimit
			}
		}
		addr := l.Address
		if addr == "" {
			addr = model.DefaultAddress
		}
		tr.res.Routes = append(tr.res.Routes, envoy.RouteConfiguration(l.Name, virtualHosts(apis, routes)...))
		tr.res.Listeners = append(tr.res.Listeners, envoy.SocketListener(l.Name, addr, uint32(l.Port), l.Name, bufferLimit))
	}
	return nil
}

func (tr *translation) envoyRoute(a *model.API) (*routev3.Route, error) {
	s := envoy.RouteSpec{
		Name:            a.Name,
		Prefix:          a.PathPrefix,
		Cluster:         a.Backend,
		PrefixRewrite:   tr.prefixRewrite(a),
		AutoHostRewrite: true,
		Timeout:         a.Timeout.Duration,
		// A client must not send credentials of its own to a backend: the upstream filter
		// sets them per host, and only for hosts that have them.
		RemoveHeaders: headerNames(credentialHeaders(tr.targetBackends(a.Backend))),
	}
	if a.Retry != nil {
		policy, warnings, err := envoyRetry(a, tr.levelSize[a.Backend])
		if err != nil {
			return nil, err
		}
		tr.warn(warnings...)
		s.Retry = policy
		if a.Retry.BufferRequestBody {
			s.BodyBufferLimit = bodyBufferLimit
			s.LegacyBufferLimit = tr.g.LegacyEnvoy
		}
	}
	return envoy.Route(s), nil
}

// prefixRewrite is the API's rewritePrefix; without one, the backends' common URL path
// replaces the API's path prefix, as APIM appends the operation to the backend's URL.
func (tr *translation) prefixRewrite(a *model.API) string {
	if a.RewritePrefix != "" {
		return a.RewritePrefix
	}
	paths := map[string]bool{}
	var path string
	for _, b := range tr.targetBackends(a.Backend) {
		path = strings.TrimSuffix(b.Endpoint.Path, "/")
		paths[path] = true
	}
	if len(paths) != 1 || path == "" {
		if len(paths) > 1 {
			tr.warn(fmt.Sprintf("api %q: the backends of %q have different URL paths; none is applied (set rewritePrefix)", a.Name, a.Backend))
		}
		return ""
	}
	if strings.HasSuffix(a.PathPrefix, "/") {
		path += "/"
	}
	return path
}

func headerNames(hs []envoy.MetadataHeader) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Header)
	}
	return out
}

func (tr *translation) targetBackends(name string) []*model.Backend {
	if b := tr.ix.Backend(name); b != nil {
		return []*model.Backend{b}
	}
	var out []*model.Backend
	if p := tr.ix.Pool(name); p != nil {
		for _, s := range p.Services {
			if b := tr.ix.Backend(s.Backend); b != nil {
				out = append(out, b)
			}
		}
	}
	return out
}

// virtualHosts groups the listener's APIs by host: one virtual host per domain (Envoy
// rejects a domain twice in one route configuration). APIs on "*" are also served on
// every named domain, since Envoy picks the most specific virtual host and never falls
// back. Within a virtual host the longest path prefix comes first.
func virtualHosts(apis []*model.API, routes map[string]*routev3.Route) []*routev3.VirtualHost {
	byDomain := map[string][]*model.API{}
	var wildcard []*model.API
	for _, a := range apis {
		for _, h := range a.Hosts {
			h = strings.ToLower(h)
			byDomain[h] = append(byDomain[h], a)
			if h == model.DefaultHost {
				wildcard = append(wildcard, a)
			}
		}
	}
	domains := make([]string, 0, len(byDomain))
	for d := range byDomain {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	order := map[string]int{}
	for i, a := range apis {
		order[a.Name] = i
	}
	var out []*routev3.VirtualHost
	for _, d := range domains {
		served := byDomain[d]
		if d != model.DefaultHost {
			served = append(served, wildcard...)
		}
		seen := map[string]bool{}
		var list []*model.API
		for _, a := range served {
			if !seen[a.Name] {
				seen[a.Name] = true
				list = append(list, a)
			}
		}
		sort.SliceStable(list, func(i, j int) bool {
			if li, lj := len(list[i].PathPrefix), len(list[j].PathPrefix); li != lj {
				return li > lj
			}
			return order[list[i].Name] < order[list[j].Name]
		})
		rs := make([]*routev3.Route, len(list))
		for i, a := range list {
			rs[i] = routes[a.Name]
		}
		out = append(out, envoy.VirtualHost(d, []string{d}, rs, true))
	}
	return out
}

// grpcAPIs emits, per API, an API listener and a route configuration named exactly like
// the API (a gRPC client dials xds:///<api>), routing every method ("/") to the target.
// gRPC ignores path rewrites and the model's pathPrefix: the listener is the API.
func (tr *translation) grpcAPIs() error {
	for _, a := range tr.m.APIs {
		if err := tr.addTarget(a.Backend); err != nil {
			return fmt.Errorf("api %q: %w", a.Name, err)
		}
		s := envoy.RouteSpec{Name: a.Name, Prefix: "/", Cluster: a.Backend}
		if a.Retry != nil {
			policy, warnings, err := grpcRetry(a)
			if err != nil {
				return err
			}
			tr.warn(warnings...)
			s.Retry = policy
		}
		vh := envoy.VirtualHost(a.Name, []string{"*"}, []*routev3.Route{envoy.Route(s)}, false)
		tr.res.Routes = append(tr.res.Routes, envoy.RouteConfiguration(a.Name, vh))
		tr.res.Listeners = append(tr.res.Listeners, envoy.APIListener(a.Name, a.Name))
	}
	return nil
}
