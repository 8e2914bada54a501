package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/poolpilot/poolpilot/internal/testcerts"
	"github.com/poolpilot/poolpilot/xds"
)

// TestServeMutualTLSAndSIGTERM runs poolpilot serve as a child process with
// --xds-tls-cert/--xds-tls-key/--xds-client-ca: a client with a certificate from the CA
// gets clusters, one without a certificate is refused, and SIGTERM with that stream still
// open ends the process with exit 0 within 5 s.
func TestServeMutualTLSAndSIGTERM(t *testing.T) {
	ca := testcerts.NewCA(t, "test-ca")
	certFile, keyFile, caFile := ca.WriteServerFiles(t, t.TempDir(), "poolpilot")
	cliCert, cliKey := ca.IssueClient(t, "envoy", xds.RegionURIPrefix+"swedencentral")
	child := startServe(t, nil, nil, "--xds-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0",
		"--log-format", "json", "--xds-tls-cert", certFile, "--xds-tls-key", keyFile, "--xds-client-ca", caFile)
	logs := child.logs
	logs.waitFor(t, "xDS uses mutual TLS: clients need a certificate from the client CA", 30*time.Second)
	addr, _ := logs.waitFor(t, "serving xDS (ADS, state-of-the-world and delta)", 30*time.Second)["xds_address"].(string)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	good, err := clusterStream(ctx, addr, credentials.NewTLS(ca.ClientConfig(t, cliCert, cliKey)), "swedencentral")
	if err != nil {
		t.Fatalf("client with a CA certificate: %v", err)
	}
	resp, err := good.Recv()
	if err != nil || len(resp.GetResources()) == 0 {
		t.Fatalf("client with a CA certificate got %v, %v; want clusters", resp, err)
	}

	if bad, err := clusterStream(ctx, addr, credentials.NewTLS(ca.ClientConfig(t, nil, nil)), "swedencentral"); err == nil {
		if resp, err := bad.Recv(); err == nil {
			t.Fatalf("client without a certificate got %d resources; want refused", len(resp.GetResources()))
		}
	}

	start := time.Now()
	child.terminate(t, 5*time.Second) // with the good stream open
	if _, err := good.Recv(); err == nil {
		t.Error("the open stream did not end")
	}
	t.Logf("exited %v after SIGTERM", time.Since(start))
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

// TestServeRefusesCredentialsToStrangers: a model with backend credentials on an
// address other hosts can reach, without mutual TLS, is refused with the reason and the
// ways out; --insecure-serve-credentials lifts the refusal. 192.0.2.1 (TEST-NET-1) is on
// no interface here, so nothing is ever bound outside loopback: past the check, the bind
// fails.
func TestServeRefusesCredentialsToStrangers(t *testing.T) {
	args := []string{"serve", "--model", "../../examples/failover/model.yaml", "--xds-address", "192.0.2.1:0",
		"--admin-address", "127.0.0.1:0", "--watch=false"}
	_, errOut, code := runCLI(t, args...)
	if code == 0 || !strings.Contains(errOut, `the model has backend credentials (backend "func-primary-sdc" header "x-functions-key")`) ||
		!strings.Contains(errOut, "--insecure-serve-credentials") {
		t.Errorf("exit %d, stderr %q; want the credentials refusal", code, errOut)
	}
	_, errOut, code = runCLI(t, append(args, "--insecure-serve-credentials")...)
	if code == 0 || strings.Contains(errOut, "backend credentials") || !strings.Contains(errOut, "--xds-address 192.0.2.1:0") {
		t.Errorf("with --insecure-serve-credentials: exit %d, stderr %q; want only the bind error", code, errOut)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:18000": true, "[::1]:18000": true, "localhost:1": true, "127.1.2.3:1": true,
		"0.0.0.0:18000": false, ":18000": false, "[::]:1": false, "10.0.0.1:1": false, "poolpilot:18000": false, "bad": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v; want %v", addr, got, want)
		}
	}
}
