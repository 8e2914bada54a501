package compose

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/poolpilot/poolpilot/envoy"
)

var update = flag.Bool("update", false, "rewrite the committed Envoy bootstraps from `poolpilot bootstrap`")

// TestBootstrapsParseStrictly decodes every committed bootstrap the way a strict reader
// would (unknown fields are errors) and runs Envoy's proto validation, inside Anys too.
func TestBootstrapsParseStrictly(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "examples", "failover", "envoy", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(bootstraps) {
		t.Fatalf("examples/failover/envoy holds %d bootstraps, want %d (one per region in the bootstraps table)", len(files), len(bootstraps))
	}
	for _, b := range bootstraps {
		t.Run(b.region, func(t *testing.T) {
			y, err := os.ReadFile(filepath.Join(root, b.file()))
			if err != nil {
				t.Fatal(err)
			}
			j, err := yamlToJSON(y)
			if err != nil {
				t.Fatalf("%s: %v", b.file(), err)
			}
			var bs bootstrapv3.Bootstrap
			if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(j, &bs); err != nil {
				t.Fatalf("%s does not decode into envoy.config.bootstrap.v3.Bootstrap: %v", b.file(), err)
			}
			if err := envoy.Validate(&bs); err != nil {
				t.Fatalf("%s: %v", b.file(), err)
			}
			// The identity the compose demo relies on: poolpilot groups the proxy by
			// region; the admin (config_dump with credential metadata) stays on the
			// container's loopback, and the compose file publishes only the read-only
			// status listener on 9901, which every container on the network may reach.
			if got := bs.GetNode().GetLocality().GetRegion(); got != b.region {
				t.Errorf("%s: node.locality.region = %q, want %q", b.file(), got, b.region)
			}
			if got := bs.GetNode().GetId(); got != b.service {
				t.Errorf("%s: node.id = %q, want %q", b.file(), got, b.service)
			}
			if got := bs.GetAdmin().GetAddress().GetSocketAddress(); got.GetAddress() != "127.0.0.1" {
				t.Errorf("%s: admin address = %s:%d, want 127.0.0.1 (the backends share the compose network)", b.file(), got.GetAddress(), got.GetPortValue())
			}
			ls := bs.GetStaticResources().GetListeners()
			if len(ls) != 1 || ls[0].GetAddress().GetSocketAddress().GetPortValue() != 9901 {
				t.Errorf("%s: static listeners = %v, want the status listener on 9901 (published by docker-compose.yml)", b.file(), ls)
			}
			if err := envoy.Check(&bs); err != nil {
				t.Errorf("%s: %v", b.file(), err)
			}
			if bs.GetDynamicResources().GetAdsConfig() == nil {
				t.Errorf("%s: no dynamic_resources.ads_config", b.file())
			}
		})
	}
}

// TestBootstrapDrift fails when a committed bootstrap differs from what
// `poolpilot bootstrap` generates today. With -update it rewrites them.
func TestBootstrapDrift(t *testing.T) {
	root := repoRoot(t)
	for _, b := range bootstraps {
		t.Run(b.region, func(t *testing.T) {
			want := runPoolpilot(t, b.args()...)
			path := filepath.Join(root, b.file())
			if *update {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from `poolpilot %v`; regenerate with\n"+
					"  go test ./e2e/compose -run TestBootstrapDrift -update\n"+
					"committed:\n%s\ngenerated:\n%s", b.file(), strings.Join(b.args(), " "), got, want)
			}
		})
	}
}
