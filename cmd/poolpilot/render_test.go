package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/poolpilot/poolpilot/envoy"
	"github.com/poolpilot/poolpilot/translator"
)

// parsedRender is render's JSON output read back strictly into Envoy protos.
type parsedRender struct {
	clusters  []*clusterv3.Cluster
	endpoints []*endpointv3.ClusterLoadAssignment
	routes    []*routev3.RouteConfiguration
	listeners []json.RawMessage
}

func parseRender(t *testing.T, out string) parsedRender {
	t.Helper()
	var raw map[string][]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("render output is not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"clusters", "endpoints", "routes", "listeners"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("render output has no %q", k)
		}
	}
	var p parsedRender
	for _, j := range raw["clusters"] {
		p.clusters = append(p.clusters, mustUnmarshal(t, j, &clusterv3.Cluster{}))
	}
	for _, j := range raw["endpoints"] {
		p.endpoints = append(p.endpoints, mustUnmarshal(t, j, &endpointv3.ClusterLoadAssignment{}))
	}
	for _, j := range raw["routes"] {
		p.routes = append(p.routes, mustUnmarshal(t, j, &routev3.RouteConfiguration{}))
	}
	p.listeners = raw["listeners"]
	return p
}

func mustUnmarshal[M proto.Message](t *testing.T, j []byte, m M) M {
	t.Helper()
	if err := protojson.Unmarshal(j, m); err != nil {
		t.Fatalf("not a %s: %v\n%s", m.ProtoReflect().Descriptor().FullName(), err, j)
	}
	return m
}

// poolAssignment finds the load assignment (EDS or inline in a DNS cluster) that holds
// both regions of the example, and the cluster it belongs to.
func poolAssignment(t *testing.T, p parsedRender) (*clusterv3.Cluster, *endpointv3.ClusterLoadAssignment) {
	t.Helper()
	twoRegions := func(cla *endpointv3.ClusterLoadAssignment) bool {
		seen := map[string]bool{}
		for _, l := range cla.GetEndpoints() {
			seen[l.GetLocality().GetRegion()] = true
		}
		return seen["swedencentral"] && seen["norwayeast"]
	}
	for _, c := range p.clusters {
		if cla := c.GetLoadAssignment(); cla != nil && twoRegions(cla) {
			return c, cla
		}
	}
	for _, cla := range p.endpoints {
		if !twoRegions(cla) {
			continue
		}
		for _, c := range p.clusters {
			if c.GetName() == cla.GetClusterName() || c.GetEdsClusterConfig().GetServiceName() == cla.GetClusterName() {
				return c, cla
			}
		}
		t.Fatalf("load assignment %q has no cluster", cla.GetClusterName())
	}
	t.Fatalf("no load assignment holds both regions")
	return nil, nil
}

func TestRenderMirrorsPriorities(t *testing.T) {
	outs := map[string]string{}
	for region, local := range map[string]string{"swedencentral": "swedencentral", "norwayeast": "norwayeast"} {
		out, errOut, code := runCLI(t, "render", exampleDir, "--region", region, "-o", "json")
		if code != 0 {
			t.Fatalf("render --region %s: exit %d\n%s", region, code, errOut)
		}
		outs[region] = out
		p := parseRender(t, out)
		c, cla := poolAssignment(t, p)

		prio := map[string]uint32{}
		for _, l := range cla.GetEndpoints() {
			prio[l.GetLocality().GetRegion()] = l.GetPriority()
		}
		other := map[string]string{"swedencentral": "norwayeast", "norwayeast": "swedencentral"}[local]
		if prio[local] != 0 || prio[other] != 1 {
			t.Errorf("%s: priorities %v, want %s at 0 and %s at 1", region, prio, local, other)
		}
		if f := cla.GetPolicy().GetOverprovisioningFactor(); f == nil || f.GetValue() < 10000 {
			t.Errorf("%s: overprovisioning_factor %v, want a very high value", region, f)
		}
		if pt := c.GetCommonLbConfig().GetHealthyPanicThreshold(); pt == nil || pt.GetValue() != 0 {
			t.Errorf("%s: healthy_panic_threshold %v, want explicitly 0", region, pt)
		}
		if od := c.GetOutlierDetection(); od.GetMaxEjectionPercent().GetValue() != 100 {
			t.Errorf("%s: outlier_detection.max_ejection_percent %v, want 100", region, od.GetMaxEjectionPercent())
		}
		var retry *routev3.RetryPolicy
		for _, rc := range p.routes {
			for _, vh := range rc.GetVirtualHosts() {
				for _, r := range vh.GetRoutes() {
					if rp := r.GetRoute().GetRetryPolicy(); rp != nil {
						retry = rp
					}
				}
				if rp := vh.GetRetryPolicy(); rp != nil {
					retry = rp
				}
			}
		}
		if retry.GetRetryPriority().GetName() != "envoy.retry_priorities.previous_priorities" {
			t.Errorf("%s: retry policy %v, want retry_priority previous_priorities", region, retry)
		}
		if len(p.listeners) == 0 {
			t.Errorf("%s: no listeners", region)
		}
	}
	if outs["swedencentral"] == outs["norwayeast"] {
		t.Errorf("both regions render the same resources")
	}
}

// TestRenderNoRegion: --no-region renders the group of nodes without a region (-/envoy):
// the model's own order (swedencentral's backend first, as the example lists it) and a
// warning that the pool prefers the local region.
func TestRenderNoRegion(t *testing.T) {
	out, errOut, code := runCLI(t, "render", exampleDir, "--no-region", "-o", "json")
	if code != 0 {
		t.Fatalf("render --no-region: exit %d\n%s", code, errOut)
	}
	_, cla := poolAssignment(t, parseRender(t, out))
	prio := map[string]uint32{}
	for _, l := range cla.GetEndpoints() {
		prio[l.GetLocality().GetRegion()] = l.GetPriority()
	}
	if prio["swedencentral"] != 0 || prio["norwayeast"] != 1 {
		t.Errorf("priorities %v; want the model's order: swedencentral at 0, norwayeast at 1", prio)
	}
	if !strings.Contains(errOut, "reports no region") || !strings.Contains(errOut, "-/envoy") {
		t.Errorf("stderr %q; want the no-region warning for group -/envoy", errOut)
	}
	nwe, _, code := runCLI(t, "render", exampleDir, "--region", "norwayeast", "-o", "json")
	if code != 0 || nwe == out {
		t.Errorf("render --region norwayeast: exit %d, same output as --no-region: %v", code, nwe == out)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	for _, format := range []string{"json", "yaml"} {
		var first string
		for i := range 2 {
			out, errOut, code := runCLI(t, "render", exampleDir, "--region", "norwayeast", "-o", format)
			if code != 0 {
				t.Fatalf("render: exit %d\n%s", code, errOut)
			}
			if i == 0 {
				first = out
			} else if out != first {
				t.Errorf("-o %s: two runs differ", format)
			}
		}
	}
}

// TestRenderYAMLMatchesJSON checks that -o yaml is the same document as -o json.
func TestRenderYAMLMatchesJSON(t *testing.T) {
	j, _, code := runCLI(t, "render", exampleDir, "--region", "swedencentral", "--client", "grpc")
	y, errOut, code2 := runCLI(t, "render", exampleDir, "--region", "swedencentral", "--client", "grpc", "-o", "yaml")
	if code != 0 || code2 != 0 {
		t.Fatalf("render: exit %d/%d\n%s", code, code2, errOut)
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal([]byte(j), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(y), &fromYAML); err != nil {
		t.Fatalf("-o yaml is not YAML: %v", err)
	}
	a, _ := json.Marshal(fromJSON)
	b, _ := json.Marshal(fromYAML)
	if string(a) != string(b) {
		t.Errorf("-o yaml and -o json differ:\n%s\n%s", a, b)
	}
	if strings.Contains(y, "{\"") {
		t.Errorf("-o yaml contains JSON flow mappings:\n%s", y)
	}
}

// TestRenderRedactsSecrets renders the example with a real-looking key in the
// environment: it must appear only with --show-secrets.
func TestRenderRedactsSecrets(t *testing.T) {
	const secret = "sekrit-value"
	t.Setenv("FUNC_PRIMARY_KEY", secret)
	t.Setenv("POOLPILOT_ALLOW_ENV", "FUNC_PRIMARY_KEY")
	for _, format := range []string{"json", "yaml"} {
		for _, client := range []string{"envoy", "grpc"} {
			out, errOut, code := runCLI(t, "render", exampleDir, "--region", "swedencentral", "--client", client, "-o", format)
			if code != 0 {
				t.Fatalf("render: exit %d\n%s", code, errOut)
			}
			if strings.Contains(out+errOut, secret) {
				t.Errorf("render -o %s --client %s prints the secret without --show-secrets", format, client)
			}
		}
	}
	out, errOut, code := runCLI(t, "render", exampleDir, "--region", "swedencentral", "--show-secrets")
	if code != 0 {
		t.Fatalf("render --show-secrets: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(out, secret) {
		t.Errorf("render --show-secrets does not print the secret (so the redaction test proves nothing)")
	}
}

// render --client envoy-legacy prints the legacy-Envoy group: the body buffer limit in the
// field Envoy < 1.36 reads, and the current group keeps the new field.
func TestRenderLegacyEnvoy(t *testing.T) {
	legacy, errOut, code := runCLI(t, "render", exampleDir, "--region", "swedencentral", "--client", "envoy-legacy")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	current, _, _ := runCLI(t, "render", exampleDir, "--region", "swedencentral")
	if !strings.Contains(legacy, `"per_request_buffer_limit_bytes"`) || strings.Contains(legacy, `"request_body_buffer_limit"`) {
		t.Errorf("legacy group renders no per_request_buffer_limit_bytes:\n%s", legacy)
	}
	if strings.Contains(current, `"per_request_buffer_limit_bytes"`) || !strings.Contains(current, `"request_body_buffer_limit"`) {
		t.Errorf("current group renders the legacy field")
	}
}

func TestRenderUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"render", exampleDir}, "--region is required"},
		{[]string{"render", exampleDir, "--region", "r", "--client", "curl"}, `--client "curl": want envoy, grpc, envoy-legacy`},
		{[]string{"render", exampleDir, "--region", "r", "--client", "grpc-legacy"}, `--client "grpc-legacy"`},
		{[]string{"render", exampleDir, "--region", "r", "-o", "xml"}, `-o "xml"`},
		{[]string{"render", "--region", "r"}, "want PATH"},
		{[]string{"render", exampleDir, "--region", ""}, "--region is required"},
		{[]string{"render", exampleDir, "--region", "r", "--no-region"}, `--region "r" and --no-region`},
	} {
		_, errOut, code := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, exitUsage, tc.want)
		}
	}
	// An invalid model is reported like validate does.
	_, errOut, code := runCLI(t, "render", "testdata/four-errors.yaml", "--region", "r1")
	if code != exitError || !strings.Contains(errOut, "invalid: 4 errors") {
		t.Errorf("invalid model: exit %d, stderr %q", code, errOut)
	}
}

// The example's https backends, as render prints them, pass envoy.Check: every validation
// context has a CA, no field Envoy does not implement is set, and every credential header
// is removed before it is set.
func TestRenderPassesEnvoyCheck(t *testing.T) {
	for _, region := range []string{"swedencentral", "norwayeast"} {
		out, errOut, code := runCLI(t, "render", exampleDir, "--region", region)
		if code != 0 {
			t.Fatalf("render exited %d: %s", code, errOut)
		}
		p := parseRender(t, out)
		var msgs []proto.Message
		for _, c := range p.clusters {
			msgs = append(msgs, c)
		}
		for _, e := range p.endpoints {
			msgs = append(msgs, e)
		}
		for _, r := range p.routes {
			msgs = append(msgs, r)
		}
		for _, j := range p.listeners {
			msgs = append(msgs, mustUnmarshal(t, j, &listenerv3.Listener{}))
		}
		tls := 0
		for _, m := range msgs {
			if err := envoy.Check(m); err != nil {
				t.Errorf("%s: %v", region, err)
			}
		}
		for _, c := range p.clusters {
			tls += len(c.GetTransportSocketMatches())
		}
		if tls == 0 {
			t.Errorf("%s: the example has https backends but render printed no TLS context", region)
		}
	}
}

// render -o yaml prints exactly the translator's golden files of a group, joined in xDS
// order: goldens, render and docs share one format (proto field names). The cases here
// have no credentials, so redaction changes nothing.
func TestRenderYAMLIsTheGoldenFiles(t *testing.T) {
	const dir = "../../translator/testdata"
	for _, name := range []string{"statuses", "weighted"} {
		for _, region := range []string{"swedencentral", "norwayeast", ""} {
			for _, client := range translator.ClientNames() {
				g, _ := translator.Group{Region: region}.WithClient(client)
				args := []string{"render", filepath.Join(dir, "in", name+".yaml"), "--client", client, "-o", "yaml"}
				if region == "" {
					args = append(args, "--no-region")
				} else {
					args = append(args, "--region", region)
				}
				var want []byte
				for _, part := range []string{"clusters", "endpoints", "routes", "listeners"} {
					b, err := os.ReadFile(filepath.Join(dir, "out", name+"."+strings.ReplaceAll(g.Key(), "/", ".")+"."+part+".yaml"))
					if err != nil {
						if g.LegacyEnvoy && region != "swedencentral" {
							want = nil // the legacy group has goldens in swedencentral only
							break
						}
						t.Fatal(err)
					}
					want = append(want, b...)
				}
				if want == nil {
					continue
				}
				out, errOut, code := runCLI(t, args...)
				if code != 0 || out != string(want) {
					t.Errorf("%v: exit %d (%s); output differs from the golden files:\n%s", args, code, errOut, out)
				}
			}
		}
	}
}
