package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/poolpilot/poolpilot/envoy"
)

// parseBootstrap reads YAML back strictly (unknown fields are errors) into a Bootstrap.
func parseBootstrap(t *testing.T, y string) *bootstrapv3.Bootstrap {
	t.Helper()
	var doc any
	if err := yaml.Unmarshal([]byte(y), &doc); err != nil {
		t.Fatalf("bootstrap is not YAML: %v\n%s", err, y)
	}
	j, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var b bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{}).Unmarshal(j, &b); err != nil {
		t.Fatalf("bootstrap does not parse strictly as envoy.config.bootstrap.v3.Bootstrap: %v\n%s", err, y)
	}
	return &b
}

func TestBuildBootstrap(t *testing.T) {
	b, err := BuildBootstrap(BootstrapOptions{
		NodeID: "envoy-1", Cluster: "gw", Region: "norwayeast",
		XDSAddress: "poolpilot:18000", AdminPort: 9901,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := envoy.Validate(b); err != nil {
		t.Fatalf("bootstrap fails validation: %v", err)
	}
	if got := b.GetNode().GetLocality().GetRegion(); got != "norwayeast" {
		t.Errorf("node.locality.region = %q, want norwayeast", got)
	}
	ads := b.GetDynamicResources().GetAdsConfig()
	if ads.GetApiType() != corev3.ApiConfigSource_GRPC || ads.GetTransportApiVersion() != corev3.ApiVersion_V3 || ads.GetSetNodeOnFirstMessageOnly() {
		t.Errorf("ads_config = %v", ads)
	}
	if got := ads.GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName(); got != xdsClusterName {
		t.Errorf("ads cluster = %q", got)
	}
	// Load reports for the fleet breaker go to poolpilot over gRPC, like ADS.
	lsc := b.GetClusterManager().GetLoadStatsConfig()
	if lsc.GetApiType() != corev3.ApiConfigSource_GRPC || lsc.GetTransportApiVersion() != corev3.ApiVersion_V3 ||
		len(lsc.GetGrpcServices()) != 1 || lsc.GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName() != xdsClusterName {
		t.Errorf("cluster_manager.load_stats_config = %v, want gRPC V3 to %s", lsc, xdsClusterName)
	}
	if err := envoy.Check(b); err != nil {
		t.Errorf("bootstrap fails envoy.Check: %v", err)
	}
	for name, cs := range map[string]*corev3.ConfigSource{"cds": b.GetDynamicResources().GetCdsConfig(), "lds": b.GetDynamicResources().GetLdsConfig()} {
		if cs.GetAds() == nil || cs.GetResourceApiVersion() != corev3.ApiVersion_V3 {
			t.Errorf("%s_config = %v, want ads with V3", name, cs)
		}
	}
	c := b.GetStaticResources().GetClusters()[0]
	if c.GetType().String() != "STRICT_DNS" {
		t.Errorf("xds cluster type = %v, want STRICT_DNS so a DNS name resolves", c.GetType())
	}
	sa := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if sa.GetAddress() != "poolpilot" || sa.GetPortValue() != 18000 {
		t.Errorf("xds endpoint = %v", sa)
	}
	var hpo upstreamhttpv3.HttpProtocolOptions
	if err := c.GetTypedExtensionProtocolOptions()[envoy.HTTPProtocolOptionsName].UnmarshalTo(&hpo); err != nil {
		t.Fatalf("typed_extension_protocol_options[%s]: %v", envoy.HTTPProtocolOptionsName, err)
	}
	if hpo.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		t.Errorf("xds cluster does not use http2: %v", &hpo)
	}
	// The admin serves /config_dump with credential metadata: loopback unless asked.
	if got := b.GetAdmin().GetAddress().GetSocketAddress(); got.GetAddress() != "127.0.0.1" || got.GetPortValue() != 9901 {
		t.Errorf("admin = %v, want 127.0.0.1:9901", got)
	}
	if len(b.GetStaticResources().GetListeners()) != 0 {
		t.Errorf("no status port was asked for, got listeners %v", b.GetStaticResources().GetListeners())
	}
}

// The status view forwards only GET /clusters, /stats and /ready to the loopback admin.
func TestBootstrapStatusView(t *testing.T) {
	b, err := BuildBootstrap(BootstrapOptions{
		NodeID: "envoy-1", Region: "norwayeast", XDSAddress: "poolpilot:18000",
		AdminPort: 9900, StatusPort: 9901,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := envoy.Validate(b); err != nil {
		t.Fatalf("bootstrap fails validation: %v", err)
	}
	if err := envoy.Check(b); err != nil {
		t.Fatalf("bootstrap fails envoy.Check: %v", err)
	}
	ls := b.GetStaticResources().GetListeners()
	if len(ls) != 1 || ls[0].GetAddress().GetSocketAddress().GetAddress() != "0.0.0.0" || ls[0].GetAddress().GetSocketAddress().GetPortValue() != 9901 {
		t.Fatalf("listeners = %v, want one on 0.0.0.0:9901", ls)
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := ls[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	var prefixes []string
	for _, r := range hcm.GetRouteConfig().GetVirtualHosts()[0].GetRoutes() {
		prefixes = append(prefixes, r.GetMatch().GetPrefix())
		if m := r.GetMatch().GetHeaders(); len(m) != 1 || m[0].GetName() != ":method" || m[0].GetStringMatch().GetExact() != "GET" {
			t.Errorf("route %s: header matchers %v, want :method GET only", r.GetMatch().GetPrefix(), m)
		}
		if r.GetRoute().GetCluster() != adminClusterName {
			t.Errorf("route %s goes to %q", r.GetMatch().GetPrefix(), r.GetRoute().GetCluster())
		}
	}
	if strings.Join(prefixes, " ") != "/clusters /stats /ready" {
		t.Errorf("forwarded paths = %v", prefixes)
	}
	var admin *clusterv3.Cluster
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() == adminClusterName {
			admin = c
		}
	}
	sa := admin.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if sa.GetAddress() != "127.0.0.1" || sa.GetPortValue() != 9900 {
		t.Errorf("admin cluster endpoint = %v, want 127.0.0.1:9900", sa)
	}
}

func TestBuildBootstrapRejects(t *testing.T) {
	ok := BootstrapOptions{NodeID: "n", Region: "r", XDSAddress: "h:1", AdminPort: 1}
	for name, tc := range map[string]struct {
		mod  func(*BootstrapOptions)
		want string
	}{
		"no node id":    {func(o *BootstrapOptions) { o.NodeID = "" }, "--node-id is required"},
		"no region":     {func(o *BootstrapOptions) { o.Region = "" }, "--region is required"},
		"bad region":    {func(o *BootstrapOptions) { o.Region = "sweden central" }, `region "sweden central": a model region is 1..100`},
		"no port":       {func(o *BootstrapOptions) { o.XDSAddress = "poolpilot" }, "want host:port"},
		"bad port":      {func(o *BootstrapOptions) { o.XDSAddress = "poolpilot:99999" }, "port must be 1..65535"},
		"no host":       {func(o *BootstrapOptions) { o.XDSAddress = ":18000" }, "want host:port"},
		"no admin port": {func(o *BootstrapOptions) { o.AdminPort = 0 }, "admin port 0"},
		"admin not IP":  {func(o *BootstrapOptions) { o.AdminAddress = "localhost" }, `admin address "localhost": want an IP`},
		"status=admin":  {func(o *BootstrapOptions) { o.StatusPort = 1 }, "differ from the admin port"},
	} {
		o := ok
		tc.mod(&o)
		_, err := BuildBootstrap(o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", name, err, tc.want)
		}
	}
}

func TestBootstrapCommandRoundTrips(t *testing.T) {
	out, errOut, code := runCLI(t, "bootstrap", "--region", "swedencentral", "--node-id", "envoy-sdc-1",
		"--cluster", "gateways", "--xds-address", "poolpilot:18000", "--admin-port", "9902", "--status-port", "9903", "--admin-ip", "127.0.0.2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := parseBootstrap(t, out)
	want, err := BuildBootstrap(BootstrapOptions{NodeID: "envoy-sdc-1", Cluster: "gateways", Region: "swedencentral",
		XDSAddress: "poolpilot:18000", AdminAddress: "127.0.0.2", AdminPort: 9902, StatusPort: 9903})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("YAML does not round-trip:\n got %v\nwant %v", got, want)
	}
	if err := envoy.Validate(got); err != nil {
		t.Errorf("parsed bootstrap fails validation: %v", err)
	}
}

func TestBootstrapCommandMissingFlags(t *testing.T) {
	_, errOut, code := runCLI(t, "bootstrap", "--region", "swedencentral")
	if code != exitUsage || !strings.Contains(errOut, "--node-id is required") {
		t.Errorf("exit %d, stderr %q; want exit %d naming --node-id", code, errOut, exitUsage)
	}
	_, errOut, code = runCLI(t, "bootstrap", "--bogus")
	if code != exitUsage || !strings.Contains(errOut, "bogus") {
		t.Errorf("unknown flag: exit %d, stderr %q", code, errOut)
	}
}

// TestSettingPrecedence checks flag > environment > config file > default, on the
// bootstrap command because its output shows the resolved values.
func TestSettingPrecedence(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "poolpilot.yaml")
	if err := os.WriteFile(cfg, []byte("xds-address: fromconfig:1\nnode-id: cfg-node\nregion: cfgregion\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	xdsHost := func(args ...string) string {
		t.Helper()
		out, errOut, code := runCLI(t, append([]string{"bootstrap"}, args...)...)
		if code != 0 {
			t.Fatalf("bootstrap %v: exit %d: %s", args, code, errOut)
		}
		sa := parseBootstrap(t, out).GetStaticResources().GetClusters()[0].GetLoadAssignment().
			GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
		return sa.GetAddress()
	}
	base := []string{"--node-id", "n", "--region", "r"}

	if got := xdsHost(base...); got != "127.0.0.1" {
		t.Errorf("default: xds host %q, want 127.0.0.1", got)
	}
	if got := xdsHost(append(base, "--config", cfg)...); got != "fromconfig" {
		t.Errorf("config over default: xds host %q, want fromconfig", got)
	}
	// Required values may come from the config file too.
	if got := xdsHost("--config", cfg); got != "fromconfig" {
		t.Errorf("config only: xds host %q, want fromconfig", got)
	}
	t.Setenv("POOLPILOT_XDS_ADDRESS", "fromenv:2")
	if got := xdsHost(append(base, "--config", cfg)...); got != "fromenv" {
		t.Errorf("env over config: xds host %q, want fromenv", got)
	}
	if got := xdsHost(append(base, "--config", cfg, "--xds-address", "fromflag:3")...); got != "fromflag" {
		t.Errorf("flag over env: xds host %q, want fromflag", got)
	}
	// --config itself can come from the environment.
	t.Setenv("POOLPILOT_XDS_ADDRESS", "")
	_ = os.Unsetenv("POOLPILOT_XDS_ADDRESS")
	t.Setenv("POOLPILOT_CONFIG", cfg)
	if got := xdsHost(base...); got != "fromconfig" {
		t.Errorf("POOLPILOT_CONFIG: xds host %q, want fromconfig", got)
	}
}

func TestConfigFileUnknownKey(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "poolpilot.yaml")
	if err := os.WriteFile(cfg, []byte("xds-adress: typo:1\n"), 0o600); err != nil { //nolint:misspell // the misspelt key is the test
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "bootstrap", "--node-id", "n", "--region", "r", "--config", cfg)
	if code != exitUsage || !strings.Contains(errOut, `unknown key(s) xds-adress`) || !strings.Contains(errOut, "xds-address") { //nolint:misspell // the misspelt key is the test
		t.Errorf("exit %d, stderr %q; want exit %d naming the unknown key and the allowed ones", code, errOut, exitUsage)
	}
	// A flag of cobra's completion command is no setting of poolpilot's.
	if err := os.WriteFile(cfg, []byte("no-descriptions: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runCLI(t, "bootstrap", "--node-id", "n", "--region", "r", "--config", cfg)
	if code != exitUsage || !strings.Contains(errOut, `unknown key(s) no-descriptions`) {
		t.Errorf("completion flag as a config key: exit %d, stderr %q; want exit %d naming it unknown", code, errOut, exitUsage)
	}
}
