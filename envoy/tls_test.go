package envoy

import (
	"testing"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

func TestUpstreamTLSMatch(t *testing.T) {
	m := TransportSocketMatch("tls-a", map[string]string{"backend": "a"}, UpstreamTLS("a.example.net", "/etc/ssl/certs/ca-certificates.crt"))
	if err := Validate(m); err != nil {
		t.Fatal(err)
	}
	if m.GetMatch().GetFields()["backend"].GetStringValue() != "a" {
		t.Errorf("match = %v", m.GetMatch())
	}
	ctx := &tlsv3.UpstreamTlsContext{}
	if err := m.GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx); err != nil {
		t.Fatal(err)
	}
	vc := ctx.GetCommonTlsContext().GetValidationContext()
	if ctx.GetSni() != "a.example.net" || vc.GetSystemRootCerts() != nil || vc.GetTrustedCa().GetFilename() != "/etc/ssl/certs/ca-certificates.crt" || vc.GetMatchTypedSubjectAltNames()[0].GetMatcher().GetExact() != "a.example.net" {
		t.Errorf("tls context = %v", ctx)
	}
}
