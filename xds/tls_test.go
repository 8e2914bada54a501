package xds

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	types "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/poolpilot/poolpilot/internal/testcerts"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
)

func TestServerTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "ca")
	certPEM, keyPEM := ca.Issue(t, "server", true)
	cert := adstest.WriteFile(t, dir, "server.pem", certPEM)
	key := adstest.WriteFile(t, dir, "server.key", keyPEM)
	notPEM := adstest.WriteFile(t, dir, "ca.pem", []byte("not a certificate\n"))

	cases := []struct {
		name  string
		files TLSFiles
		want  string
	}{
		{"cert without key", TLSFiles{CertFile: cert}, "--xds-tls-cert and --xds-tls-key must be given together"},
		{"client CA alone", TLSFiles{ClientCAFile: cert}, "must be given together"},
		{"missing cert file", TLSFiles{CertFile: dir + "/nope.pem", KeyFile: key}, "nope.pem"},
		{"key does not match", TLSFiles{CertFile: cert, KeyFile: cert}, "--xds-tls-key"},
		{"CA without PEM", TLSFiles{CertFile: cert, KeyFile: key, ClientCAFile: notPEM}, "--xds-client-ca " + notPEM + ": no PEM certificate found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ServerTLSConfig(c.files)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("ServerTLSConfig() = %v, %v; want an error containing %q", cfg, err, c.want)
			}
		})
	}

	if cfg, err := ServerTLSConfig(TLSFiles{}); cfg != nil || err != nil {
		t.Errorf("no files: got %v, %v; want plaintext (nil, nil)", cfg, err)
	}
	cfg, err := ServerTLSConfig(TLSFiles{CertFile: cert, KeyFile: key})
	if err != nil || cfg.ClientCAs != nil || len(cfg.Certificates) != 1 {
		t.Errorf("server TLS without client CA: %+v, %v", cfg, err)
	}
}

// TestMutualTLS serves ADS with a client CA: a client with a certificate from that CA gets
// resources; one without a certificate or with one from another CA gets nothing.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "poolpilot-ca")
	other := testcerts.NewCA(t, "other-ca")
	goodCert, goodKey := ca.IssueClient(t, "envoy-sdc-1", RegionURIPrefix+"r1")
	badCert, badKey := other.Issue(t, "envoy-sdc-1", false)
	var files TLSFiles
	files.CertFile, files.KeyFile, files.ClientCAFile = ca.WriteServerFiles(t, dir, "poolpilot")
	opts, err := ServerCredentials(files)
	if err != nil {
		t.Fatal(err)
	}
	addr := startTLSTestADS(t, opts)

	t.Run("certificate from the client CA", func(t *testing.T) {
		a := adstest.Open(t, addr, credentials.NewTLS(ca.ClientConfig(t, goodCert, goodKey)), adstest.Node("n1", "r1"))
		if err := a.Request(resourcev3.ClusterType, "", "", ""); err != nil {
			t.Fatal(err)
		}
		resp, err := a.Recv(10 * time.Second)
		if err != nil {
			t.Fatalf("no response: %v", err)
		}
		if len(resp.Resources) != 1 {
			t.Fatalf("got %d clusters, want 1", len(resp.Resources))
		}
	})
	// The client's error text depends on timing (the TLS alert, or a broken pipe when the
	// server has already closed), so the test asserts the code and that nothing arrived.
	refused := []struct {
		name  string
		creds credentials.TransportCredentials
	}{
		{"no client certificate", credentials.NewTLS(ca.ClientConfig(t, nil, nil))},
		{"certificate from another CA", credentials.NewTLS(ca.ClientConfig(t, badCert, badKey))},
		{"plaintext client", nil},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			err := tlsRefused(t, addr, c.creds)
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("got %v; want the stream refused (Unavailable)", err)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// tlsRefused opens a stream and asks for clusters; it returns the error that refused the
// client, or fails the test if a response arrives. Depending on timing (TLS 1.3 lets the
// client finish its handshake before the server checks its certificate) the refusal shows
// when opening the stream, on Send, or on Recv.
func tlsRefused(t *testing.T, addr string, creds credentials.TransportCredentials) error {
	t.Helper()
	a, err := adstest.Dial(t, addr, creds, adstest.Node("n2", "r1"))
	if err != nil {
		return err
	}
	_ = a.Request(resourcev3.ClusterType, "", "", "") // Send's error is io.EOF; Recv has the cause
	resp, err := a.Recv(10 * time.Second)
	if resp != nil {
		t.Fatalf("got %d resources; want nothing", len(resp.Resources))
	}
	if err == context.DeadlineExceeded {
		t.Fatal("stream neither answered nor failed within 10s; want it refused")
	}
	return err
}

// startTLSTestADS serves go-control-plane's ADS with one cluster for every node, with the
// given server options, on a free loopback port.
func startTLSTestADS(t *testing.T, opts []grpc.ServerOption) string {
	t.Helper()
	snaps := cache.NewSnapshotCache(false, cache.IDHash{}, nil)
	snap, err := cache.NewSnapshot("v1", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType: {&clusterv3.Cluster{Name: "c1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		if err := snaps.SetSnapshot(context.Background(), id, snap); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	gs := grpc.NewServer(opts...)
	discovery.RegisterAggregatedDiscoveryServiceServer(gs, serverv3.NewServer(ctx, snaps, nil))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(func() {
		cancel()
		gs.Stop()
	})
	return lis.Addr().String()
}
