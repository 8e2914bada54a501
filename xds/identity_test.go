package xds_test

import (
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/poolpilot/poolpilot/internal/testcerts"
	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
	"github.com/poolpilot/poolpilot/xds/internal/livetest"
)

// TestClientCertificateLimitsRegion: with mutual TLS, a node may claim only a region its
// certificate names (URI SAN urn:poolpilot:region:<region>, or * for any); a node
// claiming another is refused with PermissionDenied and gets no configuration.
func TestClientCertificateLimitsRegion(t *testing.T) {
	ca := testcerts.NewCA(t, "fleet-ca")
	certFile, keyFile, caFile := ca.WriteServerFiles(t, t.TempDir(), "poolpilot")
	opts, err := xds.ServerCredentials(xds.TLSFiles{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	l := livetest.Start(t, map[string]string{"model.yaml": adstest.Model(8001, false)}, livetest.Options{GRPCOpts: opts})
	creds := func(cn string, uris ...string) credentials.TransportCredentials {
		cert, key := ca.IssueClient(t, cn, uris...)
		return credentials.NewTLS(ca.ClientConfig(t, cert, key))
	}
	sdc := creds("envoy-sdc", xds.RegionURIPrefix+"swedencentral")
	cases := []struct {
		name    string
		creds   credentials.TransportCredentials
		region  string
		allowed bool
	}{
		{"own region", sdc, "swedencentral", true},
		{"no region", sdc, "", true},
		{"another model region", sdc, "norwayeast", false},
		{"a region the model does not name", sdc, "westeurope", false},
		{"wildcard certificate", creds("envoy-any", xds.RegionURIPrefix+"*"), "norwayeast", true},
		{"certificate naming no region", creds("envoy-plain"), "swedencentral", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := adstest.Open(t, l.XDSAddr, c.creds, adstest.Node("n-"+c.name, c.region))
			if err := a.Request(resourcev3.ClusterType, "", "", ""); err != nil {
				t.Fatal(err)
			}
			if c.allowed {
				if r, err := a.Recv(10 * time.Second); err != nil || len(r.GetResources()) == 0 {
					t.Errorf("got %v, %v; want the clusters", r, err)
				}
				return
			}
			if r, err := a.Recv(10 * time.Second); err == nil {
				t.Errorf("got %d clusters; want PermissionDenied", len(r.GetResources()))
			} else if got := codeOf(err); got != codes.PermissionDenied {
				t.Errorf("ended with %v; want PermissionDenied", err)
			}
		})
	}
}

func codeOf(err error) codes.Code { return status.Code(err) }
