package testcerts

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
)

// TestIssue: leaves verify against their CA for their use, and not against another CA.
func TestIssue(t *testing.T) {
	ca, other := NewCA(t, "ca"), NewCA(t, "other")
	if b, _ := pem.Decode(ca.PEM); b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("CA PEM = %q", ca.PEM)
	}
	for _, c := range []struct {
		server bool
		usage  x509.ExtKeyUsage
	}{{true, x509.ExtKeyUsageServerAuth}, {false, x509.ExtKeyUsageClientAuth}} {
		certPEM, keyPEM := ca.Issue(t, "leaf", c.server)
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		leaf := pair.Leaf
		if leaf == nil {
			if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
				t.Fatal(err)
			}
		}
		opts := x509.VerifyOptions{Roots: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{c.usage}}
		if c.server {
			opts.DNSName = "127.0.0.1"
		}
		opts.Roots.AddCert(ca.Cert)
		if _, err := leaf.Verify(opts); err != nil {
			t.Errorf("server %v: %v", c.server, err)
		}
		opts.Roots = x509.NewCertPool()
		opts.Roots.AddCert(other.Cert)
		if _, err := leaf.Verify(opts); err == nil {
			t.Errorf("server %v: verifies against another CA", c.server)
		}
	}
	if cfg := ca.ClientConfig(t, nil, nil); cfg.GetClientCertificate != nil || cfg.ServerName != "127.0.0.1" {
		t.Errorf("client config without a certificate = %+v", cfg)
	}
}

// TestWriteServerFiles: the written key pair loads, and ca.pem is the CA that signed it.
func TestWriteServerFiles(t *testing.T) {
	ca := NewCA(t, "ca")
	certFile, keyFile, caFile := ca.WriteServerFiles(t, t.TempDir(), "server")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("server certificate does not verify against %s: %v", caFile, err)
	}
}
