package main

import (
	"fmt"
	"net"
	"strconv"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/poolpilot/poolpilot/envoy"
	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
)

// xdsClusterName is the static cluster through which Envoy reaches poolpilot.
const xdsClusterName = "poolpilot_xds"

// BootstrapOptions is the identity and wiring of one Envoy proxy.
type BootstrapOptions struct {
	NodeID  string
	Cluster string // node.cluster; informational for poolpilot, required by some Envoy features
	Region  string // node.locality.region: selects the proxy's node group
	// XDSAddress is poolpilot's xDS address, host:port. The host may be a DNS name (e.g. a
	// compose service name): the xDS cluster is STRICT_DNS, so Envoy resolves it itself.
	XDSAddress string
	// AdminAddress is the IP Envoy's admin interface binds; "" means 127.0.0.1. The admin
	// serves /config_dump, credential metadata included, and mutating endpoints: keep it
	// off any network that untrusted containers or hosts share.
	AdminAddress string
	AdminPort    uint32
	// StatusPort > 0 adds a listener on 0.0.0.0:StatusPort that forwards only GET
	// /clusters, /stats and /ready to the admin interface, so the health and ejection
	// state can be read from outside the container without exposing /config_dump.
	StatusPort uint32
}

// Names of the read-only admin view.
const (
	statusListenerName = "admin_status"
	adminClusterName   = "admin_loopback"
)

// statusPaths are the admin paths the status listener forwards (GET only). None of them
// shows endpoint metadata.
var statusPaths = []string{"/clusters", "/stats", "/ready"}

// BuildBootstrap returns an Envoy v3 bootstrap that takes clusters and listeners from
// poolpilot over ADS. It checks its inputs but not the proto; callers run envoy.Validate.
func BuildBootstrap(o BootstrapOptions) (*bootstrapv3.Bootstrap, error) {
	if o.NodeID == "" {
		return nil, fmt.Errorf("bootstrap: node id is empty: --node-id is required")
	}
	if o.Region == "" {
		return nil, fmt.Errorf("bootstrap: region is empty: --region is required (it selects the node group)")
	}
	if !translator.ValidRegion(o.Region) {
		// poolpilot would serve such a node as OtherRegion, never as the region meant.
		return nil, fmt.Errorf("bootstrap: region %q: a model region is 1..%d of A-Z a-z 0-9 . _ -", o.Region, model.MaxNameLen)
	}
	host, portStr, err := net.SplitHostPort(o.XDSAddress)
	if err != nil || host == "" {
		return nil, fmt.Errorf("bootstrap: xds address %q: want host:port, e.g. poolpilot:18000", o.XDSAddress)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("bootstrap: xds address %q: port must be 1..65535", o.XDSAddress)
	}
	if o.AdminPort == 0 || o.AdminPort > 65535 {
		return nil, fmt.Errorf("bootstrap: admin port %d: must be 1..65535", o.AdminPort)
	}
	adminAddr := o.AdminAddress
	if adminAddr == "" {
		adminAddr = "127.0.0.1"
	}
	if ip := net.ParseIP(adminAddr); ip == nil {
		return nil, fmt.Errorf("bootstrap: admin address %q: want an IP address, e.g. 127.0.0.1", adminAddr)
	}
	if o.StatusPort > 65535 || (o.StatusPort != 0 && o.StatusPort == o.AdminPort) {
		return nil, fmt.Errorf("bootstrap: status port %d: must be 1..65535 and differ from the admin port, or 0 for none", o.StatusPort)
	}

	// The xDS connection is gRPC, so the static cluster must speak HTTP/2.
	http2, err := anypb.New(&upstreamhttpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				},
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}

	bs := &bootstrapv3.Bootstrap{
		Node: &corev3.Node{
			Id:       o.NodeID,
			Cluster:  o.Cluster,
			Locality: &corev3.Locality{Region: o.Region},
		},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			// poolpilot groups nodes by region and user agent: the node goes on every
			// request (set_node_on_first_message_only stays false) so a reconnect to
			// another replica is grouped at once.
			AdsConfig: xdsSource(),
			CdsConfig: envoy.ADS(),
			LdsConfig: envoy.ADS(),
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Clusters: []*clusterv3.Cluster{{
				Name:                 xdsClusterName,
				ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
				DnsLookupFamily:      clusterv3.Cluster_V4_PREFERRED,
				ConnectTimeout:       durationpb.New(1 * time.Second),
				TypedExtensionProtocolOptions: map[string]*anypb.Any{
					envoy.HTTPProtocolOptionsName: http2,
				},
				LoadAssignment: &endpointv3.ClusterLoadAssignment{
					ClusterName: xdsClusterName,
					Endpoints: []*endpointv3.LocalityLbEndpoints{{
						LbEndpoints: []*endpointv3.LbEndpoint{{
							HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
								Endpoint: &endpointv3.Endpoint{Address: envoy.SocketAddress(host, uint32(port))},
							},
						}},
					}},
				},
			}},
		},
		// Load reports go to poolpilot's fleet breaker on the same connection target as
		// ADS; poolpilot answers with the interval and send_all_clusters.
		ClusterManager: &bootstrapv3.ClusterManager{
			LoadStatsConfig: xdsSource(),
		},
		Admin: &bootstrapv3.Admin{
			Address: envoy.SocketAddress(adminAddr, o.AdminPort),
		},
	}
	if o.StatusPort > 0 {
		l, c := statusView(adminAddr, o.AdminPort, o.StatusPort)
		bs.StaticResources.Listeners = append(bs.StaticResources.Listeners, l)
		bs.StaticResources.Clusters = append(bs.StaticResources.Clusters, c)
	}
	return bs, nil
}

// xdsSource is a gRPC v3 config source on the static cluster through which Envoy reaches
// poolpilot: ADS and load reports both use it.
func xdsSource() *corev3.ApiConfigSource {
	return &corev3.ApiConfigSource{
		ApiType:             corev3.ApiConfigSource_GRPC,
		TransportApiVersion: corev3.ApiVersion_V3,
		GrpcServices: []*corev3.GrpcService{{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: xdsClusterName},
			},
		}},
	}
}

// statusView is a listener on 0.0.0.0:port that proxies GET statusPaths to the admin
// interface at adminAddr:adminPort, and the static cluster it proxies to. Anything else
// (config_dump, POST endpoints) gets 404 from the route table.
func statusView(adminAddr string, adminPort, port uint32) (*listenerv3.Listener, *clusterv3.Cluster) {
	var routes []*routev3.Route
	for _, p := range statusPaths {
		routes = append(routes, &routev3.Route{
			Match: &routev3.RouteMatch{
				PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: p},
				Headers: []*routev3.HeaderMatcher{{
					Name: ":method",
					HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
						MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "GET"},
					}},
				}},
			},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: adminClusterName},
			}},
		})
	}
	l := envoy.StaticHTTPListener(statusListenerName, "0.0.0.0", port, envoy.RouteConfiguration(statusListenerName,
		envoy.VirtualHost(statusListenerName, []string{"*"}, routes, false)))
	c := &clusterv3.Cluster{
		Name:                 adminClusterName,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(time.Second),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: adminClusterName,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: envoy.SocketAddress(adminAddr, adminPort),
				}},
			}}}},
		},
	}
	return l, c
}
