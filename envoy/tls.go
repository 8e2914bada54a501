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

// TLSMatch is one transport_socket_matches entry: UpstreamTLS(SNI, CAFile) for the
// endpoints whose envoy.transport_socket_match metadata contains every key/value of Match.
type TLSMatch struct {
	Name   string
	Match  map[string]string
	SNI    string
	CAFile string
}

// UpstreamTLS is a TLS transport socket that sends sni and verifies the server's
// certificate against the CA bundle in the file caFile (on the proxy's file system) and
// the DNS name sni. Envoy refuses SAN matching without a trusted CA, and does not
// implement system_root_certs, so the bundle is always named explicitly.
func UpstreamTLS(sni, caFile string) *corev3.TransportSocket {
	ctx := &tlsv3.UpstreamTlsContext{
		Sni: sni,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{
				ValidationContext: &tlsv3.CertificateValidationContext{
					TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: caFile}},
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
