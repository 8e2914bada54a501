package envoy

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// TLSName is the TLS transport socket's extension name.
const TLSName = "envoy.transport_sockets.tls"

// UpstreamTLS is a TLS transport socket that sends sni and verifies the server's
// certificate against the system's trusted roots and the DNS name sni.
func UpstreamTLS(sni string) *corev3.TransportSocket {
	ctx := &tlsv3.UpstreamTlsContext{
		Sni: sni,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{
				ValidationContext: &tlsv3.CertificateValidationContext{
					SystemRootCerts: &tlsv3.CertificateValidationContext_SystemRootCerts{},
					MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
						SanType: tlsv3.SubjectAltNameMatcher_DNS,
						Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: sni}},
					}},
				},
			},
		},
	}
	return &corev3.TransportSocket{
		Name:       TLSName,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)},
	}
}

// TransportSocketMatch applies ts to the endpoints whose envoy.transport_socket_match
// metadata contains every key/value of match.
func TransportSocketMatch(name string, match map[string]string, ts *corev3.TransportSocket) *clusterv3.Cluster_TransportSocketMatch {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for k, v := range match {
		s.Fields[k] = structpb.NewStringValue(v)
	}
	return &clusterv3.Cluster_TransportSocketMatch{Name: name, Match: s, TransportSocket: ts}
}
