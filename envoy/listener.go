package envoy

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// Extension names, as Envoy registers them.
const (
	HTTPConnectionManagerName = "envoy.filters.network.http_connection_manager"
	RouterName                = "envoy.filters.http.router"
)

// ADS is a config source that fetches over the node's ADS stream.
func ADS() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// HTTPConnectionManager fetches route configuration routeConfig over ADS (RDS) and ends
// its filter chain with the router, which both Envoy and gRPC require.
func HTTPConnectionManager(statPrefix, routeConfig string) *hcmv3.HttpConnectionManager {
	h := routerHCM(statPrefix)
	h.RouteSpecifier = &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
		ConfigSource:    ADS(),
		RouteConfigName: routeConfig,
	}}
	return h
}

// routerHCM is a connection manager whose only HTTP filter is the router, without its
// route configuration.
func routerHCM(statPrefix string) *hcmv3.HttpConnectionManager {
	return &hcmv3.HttpConnectionManager{
		StatPrefix: statPrefix,
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       RouterName,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})},
		}},
	}
}

// SocketListener is an Envoy listener on address:port serving routeConfig. bufferLimit > 0
// sets per_connection_buffer_limit_bytes (Envoy's default is 1 MiB).
func SocketListener(name, address string, port uint32, routeConfig string, bufferLimit uint32) *listenerv3.Listener {
	l := httpListener(name, address, port, HTTPConnectionManager(name, routeConfig))
	if bufferLimit > 0 {
		l.PerConnectionBufferLimitBytes = u32(bufferLimit)
	}
	return l
}

// StaticHTTPListener is an Envoy listener on address:port whose connection manager carries
// rc inline: a bootstrap's static listener, which has no RDS to fetch it from.
func StaticHTTPListener(name, address string, port uint32, rc *routev3.RouteConfiguration) *listenerv3.Listener {
	h := routerHCM(name)
	h.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rc}
	return httpListener(name, address, port, h)
}

// httpListener is a listener on address:port whose one filter is h.
func httpListener(name, address string, port uint32, h *hcmv3.HttpConnectionManager) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:    name,
		Address: SocketAddress(address, port),
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{
				Name:       HTTPConnectionManagerName,
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(h)},
			}},
		}},
	}
}

// APIListener is the listener a proxyless gRPC client asks for when it dials
// xds:///<name>: no socket, just an HCM in api_listener.
func APIListener(name, routeConfig string) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name: name,
		ApiListener: &listenerv3.ApiListener{
			ApiListener: mustAny(HTTPConnectionManager(name, routeConfig)),
		},
	}
}
