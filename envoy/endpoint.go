package envoy

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// TransportSocketMatchNamespace is the endpoint metadata namespace Envoy reads to pick a
// cluster's transport_socket_matches entry for a host.
const TransportSocketMatchNamespace = "envoy.transport_socket_match"

// Host is one upstream address.
type Host struct {
	// Address is an IP literal (EDS, LOGICAL_DNS) or a DNS name (STRICT_DNS, LOGICAL_DNS).
	Address string
	Port    uint32
	// Hostname is what auto_host_rewrite puts in the Host header.
	Hostname string
	// Metadata is filter_metadata: namespace → key → string value.
	Metadata map[string]map[string]string
	// Unhealthy sets health_status UNHEALTHY: clients send the host no traffic.
	Unhealthy bool
}

// LocalityGroup is one LocalityLbEndpoints: the hosts of one locality at one priority.
type LocalityGroup struct {
	Region   string
	SubZone  string
	Priority uint32
	// Weight is the locality's load_balancing_weight; it must be ≥ 1 (gRPC drops a
	// locality without one, Envoy's locality-weighted LB never picks it).
	Weight uint32
	Hosts  []Host
}

// LoadAssignment builds a ClusterLoadAssignment. overprovisioning is Envoy's factor in
// percent (140 = 1.4); 0 leaves Envoy's default.
func LoadAssignment(cluster string, groups []LocalityGroup, overprovisioning uint32) *endpointv3.ClusterLoadAssignment {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: cluster}
	for _, g := range groups {
		lle := &endpointv3.LocalityLbEndpoints{
			Locality:            &corev3.Locality{Region: g.Region, SubZone: g.SubZone},
			Priority:            g.Priority,
			LoadBalancingWeight: u32(g.Weight),
		}
		for _, h := range g.Hosts {
			lle.LbEndpoints = append(lle.LbEndpoints, lbEndpoint(h))
		}
		cla.Endpoints = append(cla.Endpoints, lle)
	}
	if overprovisioning > 0 {
		cla.Policy = &endpointv3.ClusterLoadAssignment_Policy{OverprovisioningFactor: u32(overprovisioning)}
	}
	return cla
}

func lbEndpoint(h Host) *endpointv3.LbEndpoint {
	e := &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address:  SocketAddress(h.Address, h.Port),
			Hostname: h.Hostname,
		}},
		Metadata: metadata(h.Metadata),
	}
	if h.Unhealthy {
		e.HealthStatus = corev3.HealthStatus_UNHEALTHY
	}
	return e
}

// SocketAddress is a TCP address.
func SocketAddress(address string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Protocol:      corev3.SocketAddress_TCP,
		Address:       address,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func metadata(md map[string]map[string]string) *corev3.Metadata {
	if len(md) == 0 {
		return nil
	}
	out := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
	for ns, kv := range md {
		s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
		for k, v := range kv {
			s.Fields[k] = structpb.NewStringValue(v)
		}
		out.FilterMetadata[ns] = s
	}
	return out
}
