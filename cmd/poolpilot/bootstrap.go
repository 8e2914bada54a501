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
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/poolpilot/poolpilot/envoy"
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
	AdminPort  uint32
}

// BuildBootstrap returns an Envoy v3 bootstrap that takes clusters and listeners from
// poolpilot over ADS. It checks its inputs but not the proto; callers run envoy.Validate.
func BuildBootstrap(o BootstrapOptions) (*bootstrapv3.Bootstrap, error) {
	if o.NodeID == "" {
		return nil, fmt.Errorf("bootstrap: node id is empty: --node-id is required")
	}
	if o.Region == "" {
		return nil, fmt.Errorf("bootstrap: region is empty: --region is required (it selects the node group)")
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

	return &bootstrapv3.Bootstrap{
		Node: &corev3.Node{
			Id:       o.NodeID,
			Cluster:  o.Cluster,
			Locality: &corev3.Locality{Region: o.Region},
		},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:             corev3.ApiConfigSource_GRPC,
				TransportApiVersion: corev3.ApiVersion_V3,
				// poolpilot groups nodes by region and user agent: send the node on
				// every request so a reconnect to another replica is grouped at once.
				SetNodeOnFirstMessageOnly: false,
				GrpcServices: []*corev3.GrpcService{{
					TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
						EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: xdsClusterName},
					},
				}},
			},
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
		Admin: &bootstrapv3.Admin{
			Address: envoy.SocketAddress("0.0.0.0", o.AdminPort),
		},
	}, nil
}
