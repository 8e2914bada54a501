package envoy

import (
	"strings"
	"testing"

	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

const caBundle = "/etc/ssl/certs/ca-certificates.crt"

func TestCheckAcceptsUpstreamTLS(t *testing.T) {
	m := TransportSocketMatch("tls-a", map[string]string{"backend": "a"}, UpstreamTLS("a.example.net", caBundle))
	if err := Check(m); err != nil {
		t.Fatal(err)
	}
}

// The shape UpstreamTLS had before: generated validation passes it, Envoy NACKs it.
func TestCheckRejectsSANWithoutCAAndSystemRoots(t *testing.T) {
	ctx := &tlsv3.UpstreamTlsContext{Sni: "a.example.net", CommonTlsContext: &tlsv3.CommonTlsContext{
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			SystemRootCerts: &tlsv3.CertificateValidationContext_SystemRootCerts{},
			MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
				SanType: tlsv3.SubjectAltNameMatcher_DNS,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "a.example.net"}},
			}},
		}},
	}}
	m := TransportSocketMatch("tls-a", map[string]string{"backend": "a"}, &corev3.TransportSocket{
		Name: TLSName, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)},
	})
	if err := Validate(m); err != nil {
		t.Fatalf("generated validation should accept it: %v", err)
	}
	err := Check(m)
	if err == nil {
		t.Fatal("Check accepted SAN matching without a trusted CA")
	}
	for _, want := range []string{"SAN matchers without trusted_ca", "CertificateValidationContext.system_root_certs is not implemented", "transport_socket.typed_config"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestCheckCredentialHeaderRemovedBeforeSet(t *testing.T) {
	opts := HTTPProtocolOptions(ProtocolSpec{HTTP1: true, Headers: []MetadataHeader{
		{Header: "x-a", Namespace: "poolpilot", Key: "x-a"},
		{Header: "x-b", Namespace: "poolpilot", Key: "x-b"},
	}})
	if err := Check(opts[HTTPProtocolOptionsName]); err != nil {
		t.Fatalf("builder output: %v", err)
	}
	appendOnly := &headermutationv3.HeaderMutation{Mutations: &headermutationv3.Mutations{RequestMutations: []*mutationrulesv3.HeaderMutation{
		{Action: &mutationrulesv3.HeaderMutation_Append{Append: &corev3.HeaderValueOption{
			Header: &corev3.HeaderValue{Key: "x-a", Value: "%UPSTREAM_METADATA(poolpilot:x-a)%"},
		}}},
		{Action: &mutationrulesv3.HeaderMutation_Remove{Remove: "x-a"}}, // too late
	}}}
	err := Check(appendOnly)
	if err == nil || !strings.Contains(err.Error(), `request_mutations[0] sets "x-a" from host metadata without removing it first`) {
		t.Fatalf("Check = %v, want a remove-before-set error", err)
	}
}

func TestCheckNotImplementedField(t *testing.T) {
	if !notImplemented["envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext.system_root_certs"] {
		t.Fatal("system_root_certs missing from the list")
	}
	vc := &tlsv3.CertificateValidationContext{
		TrustedCa:       &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: caBundle}},
		SystemRootCerts: &tlsv3.CertificateValidationContext_SystemRootCerts{},
	}
	if err := Check(vc); err == nil || !strings.Contains(err.Error(), "system_root_certs") {
		t.Fatalf("Check = %v, want a not-implemented error", err)
	}
}
