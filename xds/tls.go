package xds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/poolpilot/poolpilot/translator"
)

// TLSFiles are the PEM files that secure the xDS server (--xds-tls-cert, --xds-tls-key,
// --xds-client-ca). All empty means plaintext.
type TLSFiles struct {
	CertFile string
	KeyFile  string
	// ClientCAFile, when set, turns on mutual TLS: every client must present a
	// certificate that chains to one of these CAs, or the handshake fails and the node
	// gets nothing.
	ClientCAFile string
}

// Enabled reports whether any TLS file is configured.
func (f TLSFiles) Enabled() bool {
	return f.CertFile != "" || f.KeyFile != "" || f.ClientCAFile != ""
}

// ServerTLSConfig builds the xDS server's TLS configuration from f. It returns nil, nil
// when f is empty (plaintext), and an error naming the flag and file for anything
// incomplete or unreadable, so a typo never silently downgrades to plaintext.
func ServerTLSConfig(f TLSFiles) (*tls.Config, error) {
	if !f.Enabled() {
		return nil, nil
	}
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("xDS TLS: --xds-tls-cert and --xds-tls-key must be given together" +
			" (--xds-client-ca needs both as well)")
	}
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("xDS TLS: --xds-tls-cert %s / --xds-tls-key %s: %w", f.CertFile, f.KeyFile, err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		// gRPC needs HTTP/2; grpc-go adds h2 itself, but say it for other consumers.
		NextProtos: []string{"h2"},
	}
	if f.ClientCAFile == "" {
		return cfg, nil
	}
	pool, err := loadCertPool(f.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("xDS TLS: --xds-client-ca %s: %w", f.ClientCAFile, err)
	}
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	return cfg, nil
}

// loadCertPool reads every certificate of a PEM bundle.
func loadCertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}

// ServerCredentials returns the grpc.ServerOption that serves xDS over TLS per f, or no
// option (plaintext) when f is empty.
func ServerCredentials(f TLSFiles) ([]grpc.ServerOption, error) {
	cfg, err := ServerTLSConfig(f)
	if err != nil || cfg == nil {
		return nil, err
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg))}, nil
}

// RegionURIPrefix starts the URI SANs of a client certificate that name the regions its
// node may claim: "urn:poolpilot:region:swedencentral", or "urn:poolpilot:region:*" for
// any region. With mutual TLS, a node whose certificate names no region may claim none
// (it gets the model's own order), and a node claiming a region its certificate does not
// name is refused: a certificate issued to one region's proxies cannot be used to get
// another region's configuration.
const RegionURIPrefix = "urn:poolpilot:region:"

// clientIdentity is what a verified client certificate allows; nil means the client
// presented none (plaintext, or TLS without --xds-client-ca): no restriction.
type clientIdentity struct {
	subject string
	regions []string
	any     bool
}

// identityError is a node claiming what its certificate does not allow.
type identityError struct{ msg string }

func (e *identityError) Error() string { return e.msg }

// identityOf reads the verified client certificate of a stream's connection.
func identityOf(ctx context.Context) *clientIdentity {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.PeerCertificates) == 0 {
		return nil
	}
	leaf := info.State.PeerCertificates[0]
	id := &clientIdentity{subject: clipText(leaf.Subject.CommonName, 64)}
	for _, u := range leaf.URIs {
		r, ok := strings.CutPrefix(u.String(), RegionURIPrefix)
		if !ok {
			continue
		}
		if r == "*" {
			id.any = true
		} else if translator.ValidRegion(r) {
			id.regions = append(id.regions, r)
		}
	}
	return id
}

// allows checks a node's claimed region against the certificate.
func (id *clientIdentity) allows(region string) error {
	if id == nil || id.any || region == "" || slices.Contains(id.regions, region) {
		return nil
	}
	allowed := "no region"
	if len(id.regions) > 0 {
		allowed = "only " + strings.Join(id.regions, ", ")
	}
	return &identityError{fmt.Sprintf("node claims region %q, but its client certificate (CN %q) allows %s: "+
		"issue it a certificate with the URI SAN %s<region>", clipText(region, 64), id.subject, allowed, RegionURIPrefix)}
}
