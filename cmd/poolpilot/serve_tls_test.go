package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// TestServeMutualTLSAndSIGTERM runs poolpilot serve as a child process with
// --xds-tls-cert/--xds-tls-key/--xds-client-ca: a client with a certificate from the CA
// gets clusters, one without a certificate is refused, and SIGTERM with that stream still
// open ends the process with exit 0 within 5 s.
func TestServeMutualTLSAndSIGTERM(t *testing.T) {
	dir := t.TempDir()
	ca := newCmdCA(t)
	srvCert, srvKey := ca.issue(t, true)
	cliCert, cliKey := ca.issue(t, false)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cmd := exec.Command(os.Args[0], "serve", "--xds-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0",
		"--log-format", "json",
		"--xds-tls-cert", write("server.pem", srvCert), "--xds-tls-key", write("server.key", srvKey),
		"--xds-client-ca", write("ca.pem", ca.pem))
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	logs := newLogLines(stderr)
	logs.waitFor(t, "xDS uses mutual TLS: clients need a certificate from the client CA", 30*time.Second)
	addr, _ := logs.waitFor(t, "serving xDS (ADS, state-of-the-world and delta)", 30*time.Second)["xds_address"].(string)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	good, err := tlsStream(ctx, addr, ca.clientConfig(t, cliCert, cliKey))
	if err != nil {
		t.Fatalf("client with a CA certificate: %v", err)
	}
	resp, err := good.Recv()
	if err != nil || len(resp.GetResources()) == 0 {
		t.Fatalf("client with a CA certificate got %v, %v; want clusters", resp, err)
	}

	if bad, err := tlsStream(ctx, addr, ca.clientConfig(t, nil, nil)); err == nil {
		if resp, err := bad.Recv(); err == nil {
			t.Fatalf("client without a certificate got %d resources; want refused", len(resp.GetResources()))
		}
	}

	// SIGTERM with the good stream open.
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) || err != nil {
			t.Errorf("serve after SIGTERM: %v; want exit 0\n%s", err, logs.text())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("serve did not exit within 5s of SIGTERM with a stream open\n%s", logs.text())
	}
	if _, err := good.Recv(); err == nil {
		t.Error("the open stream did not end")
	}
	t.Logf("exited %v after SIGTERM", time.Since(start))
}

// tlsStream opens an ADS stream over TLS as an Envoy in swedencentral and asks for clusters.
func tlsStream(ctx context.Context, addr string, cfg *tls.Config) (discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { conn.Close() })
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	node := &corev3.Node{Id: "tls-1", UserAgentName: "envoy", Locality: &corev3.Locality{Region: "swedencentral"}}
	if err := s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil {
		return nil, err
	}
	return s, nil
}

// cmdCA is a throwaway CA for the TLS test.
type cmdCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCmdCA(t *testing.T) *cmdCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &cmdCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

var cmdSerial int64 = 1

func (ca *cmdCA) issue(t *testing.T, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cmdSerial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(cmdSerial), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func (ca *cmdCA) clientConfig(t *testing.T, certPEM, keyPEM []byte) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if certPEM != nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// TestServeTLSFlagErrors: an incomplete TLS setting stops serve with an error naming the
// flags, instead of serving plaintext.
func TestServeTLSFlagErrors(t *testing.T) {
	_, errOut, code := runCLI(t, "serve", "--xds-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0",
		"--xds-tls-cert", "/no/such/cert.pem")
	if code == 0 || !strings.Contains(errOut, "--xds-tls-cert and --xds-tls-key must be given together") {
		t.Errorf("exit %d, stderr %q; want an error naming the TLS flags", code, errOut)
	}
}
