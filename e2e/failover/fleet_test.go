package failover

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/poolpilot/poolpilot/e2e/internal/harness"
	"github.com/poolpilot/poolpilot/xds/admin"
)

// The scenario's settings, shortened for test speed. docs/failover.md quotes them; every
// MEASURED line repeats them.
const (
	sdc = "swedencentral"
	nwe = "norwayeast"

	primaryName   = "func-primary-sdc"   // the backend in swedencentral
	secondaryName = "func-secondary-nwe" // the backend in norwayeast
	apiName       = "resilient-api"      // gRPC clients dial xds:///resilient-api

	tripDuration    = 3 * time.Second // circuitBreaker tripDuration
	breakerInterval = time.Second     // failureCondition.interval
	breakerCount    = 3               // failureCondition.count
	retryCount      = 3               // api retry.count
	retryInterval   = 100 * time.Millisecond

	clientRate     = 20 // calls per second per client
	clientDeadline = time.Second
	// clientRunLimit bounds a client's life; tests stop their clients long before.
	clientRunLimit = 2 * time.Minute

	startTimeout = 30 * time.Second
	poll         = 25 * time.Millisecond
)

// settings is the settings string of every MEASURED line.
var settings = fmt.Sprintf("interval=%v trip=%v count=%d retry=%dx%v rate=%d/s deadline=%v",
	breakerInterval, tripDuration, breakerCount, retryCount, retryInterval, clientRate, clientDeadline)

// member is a pool member in a test model.
type member struct {
	Backend          *harness.Backend
	Priority, Weight int
}

// modelSpec is a two-backend model in the shape of examples/failover/model.yaml, with
// the demo backends' gRPC ports as the URLs and the test settings above.
type modelSpec struct {
	PreferLocal bool
	Members     []member
	// Extra is appended to the pool, e.g. an unknown field to make the model invalid.
	Extra string
}

var modelTmpl = template.Must(template.New("model").Parse(`# written by e2e/failover
backends:
{{- range .Members}}
  - name: {{.Backend.Name}}
    url: http://{{.Backend.GRPCAddr}}
    region: {{.Backend.Region}}
    circuitBreaker:
      rules:
        - name: breaker
          tripDuration: {{$.Trip}}
          failureCondition:
            count: {{$.Count}}
            interval: {{$.Interval}}
            errorReasons: [BackendConnectionFailure]
            statusCodeRanges: [{min: 502, max: 504}]
{{- end}}
pools:
  - name: load-balanced-pool
    preferLocalRegion: {{.PreferLocal}}
    services:
{{- range .Members}}
      - {backend: {{.Backend.Name}}, priority: {{.Priority}}, weight: {{.Weight}}}
{{- end}}
{{- if .Extra}}
    {{.Extra}}
{{- end}}
apis:
  - name: ` + apiName + `
    pathPrefix: /resilient-api/
    backend: load-balanced-pool
    rewritePrefix: /api/ProcessRequestFunction
    retry:
      count: {{.RetryCount}}
      interval: {{.RetryInterval}}
      statusCodeRanges: [{min: 500, max: 599}]
      errorReasons: [BackendConnectionFailure]
listeners:
  - {name: public, port: 10000, apis: [` + apiName + `]}
`))

func (s modelSpec) yaml(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := modelTmpl.Execute(&buf, struct {
		modelSpec
		Trip, Interval, RetryInterval string
		Count, RetryCount             int
	}{s, tripDuration.String(), breakerInterval.String(), retryInterval.String(), breakerCount, retryCount})
	if err != nil {
		t.Fatalf("model template: %v", err)
	}
	return buf.Bytes()
}

// failoverSpec is the scenario's model: each region prefers its own backend.
func failoverSpec(primary, secondary *harness.Backend) modelSpec {
	return modelSpec{PreferLocal: true, Members: []member{
		{Backend: primary, Priority: 1, Weight: 1},
		{Backend: secondary, Priority: 2, Weight: 1},
	}}
}

// fleet is one scenario's processes: two demo backends, poolpilot, and its model file.
type fleet struct {
	ctx                context.Context
	primary, secondary *harness.Backend
	modelPath          string
	xdsAddr, adminAddr string
	poolpilot          *harness.Process
}

// newFleet starts the two regional backends. The model and poolpilot come next, since
// the model needs the backends' ports.
func newFleet(t *testing.T) *fleet {
	t.Helper()
	ctx := t.Context()
	f := &fleet{
		ctx:       ctx,
		modelPath: filepath.Join(t.TempDir(), "model.yaml"),
		xdsAddr:   harness.FreeAddr(t),
		adminAddr: harness.FreeAddr(t),
	}
	f.primary = harness.StartBackend(ctx, t, harness.BackendOptions{Name: primaryName, Region: sdc})
	f.secondary = harness.StartBackend(ctx, t, harness.BackendOptions{Name: secondaryName, Region: nwe})
	return f
}

// writeModel replaces the model file atomically (write, then rename), as a careful editor
// or a ConfigMap update does, so the watcher never reads half a file.
func (f *fleet) writeModel(t testing.TB, spec modelSpec) {
	t.Helper()
	f.writeModelBytes(t, spec.yaml(t))
}

func (f *fleet) writeModelBytes(t testing.TB, b []byte) {
	t.Helper()
	tmp := f.modelPath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, f.modelPath); err != nil {
		t.Fatal(err)
	}
}

var (
	servingXDS   = regexp.MustCompile(`msg="serving xDS`)
	servingAdmin = regexp.MustCompile(`msg="serving admin`)
)

// startPoolpilot starts `poolpilot serve` on the fleet's fixed addresses (fixed, so a
// restarted process is where the clients reconnect) and waits until it serves.
func (f *fleet) startPoolpilot(t testing.TB) *harness.Process {
	t.Helper()
	p := harness.Start(f.ctx, t, harness.Options{
		Bin:  harness.Build(t, "./cmd/poolpilot"),
		Args: []string{"serve", "--model", f.modelPath, "--xds-address", f.xdsAddr, "--admin-address", f.adminAddr},
		Name: "poolpilot",
	})
	p.RequireLine(t, servingXDS, startTimeout)
	p.RequireLine(t, servingAdmin, startTimeout)
	f.poolpilot = p
	return p
}

// status reads poolpilot's GET /status.
func (f *fleet) status(t testing.TB) (admin.Status, error) {
	t.Helper()
	var st admin.Status
	ctx, cancel := context.WithTimeout(f.ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+f.adminAddr+"/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /status: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// metrics reads poolpilot's GET /metrics.
func (f *fleet) metrics(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+f.adminAddr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %v %s", err, resp.Status)
	}
	return string(body)
}

// waitStatus polls /status until ok accepts it, and returns it; it fails the test after
// timeout with the last status seen.
func (f *fleet) waitStatus(t testing.TB, what string, timeout time.Duration, ok func(admin.Status) bool) admin.Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last admin.Status
	var lastErr error
	for time.Now().Before(deadline) {
		st, err := f.status(t)
		if err == nil && ok(st) {
			return st
		}
		last, lastErr = st, err
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := json.MarshalIndent(last, "", "  ")
	t.Fatalf("poolpilot /status: %s not seen within %v (last error %v); last status:\n%s", what, timeout, lastErr, b)
	return last
}

// bootstrap is a grpc-go xDS bootstrap that reports region as node.locality.region.
func bootstrap(xdsAddr, nodeID, region string) string {
	b, _ := json.Marshal(map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri":      xdsAddr,
			"channel_creds":   []any{map[string]string{"type": "insecure"}},
			"server_features": []string{"xds_v3"},
		}},
		"node": map[string]any{"id": nodeID, "locality": map[string]string{"region": region}},
	})
	return string(b)
}

// client is a running e2e/internal/xdsclient process.
type client struct {
	name string
	p    *harness.Process
}

var clientReady = regexp.MustCompile(`^\{"event":"ready"`)

// startClient starts a grpc-go xDS client as node nodeID in region, calling the API at
// clientRate (override with extra flags, e.g. "--rate=0"), and waits for its first
// successful call.
func (f *fleet) startClient(t testing.TB, nodeID, region string, extra ...string) *client {
	t.Helper()
	args := append([]string{
		"--target", "xds:///" + apiName,
		"--rate", fmt.Sprint(clientRate),
		"--deadline", clientDeadline.String(),
		"--duration", clientRunLimit.String(),
	}, extra...)
	p := harness.Start(f.ctx, t, harness.Options{
		Bin:  harness.Build(t, "./e2e/internal/xdsclient"),
		Args: args,
		Env:  []string{"GRPC_XDS_BOOTSTRAP_CONFIG=" + bootstrap(f.xdsAddr, nodeID, region)},
		Name: "xdsclient " + nodeID,
	})
	p.RequireLine(t, clientReady, startTimeout)
	return &client{name: nodeID, p: p}
}

// rpc is one call the client made (an "rpc" line).
type rpc struct {
	Seq     int64  `json:"seq"`
	Start   int64  `json:"start"`
	End     int64  `json:"end"`
	Backend string `json:"backend"`
	Code    string `json:"code"`
	Error   string `json:"error"`
}

func (r rpc) started() time.Time { return time.Unix(0, r.Start) }
func (r rpc) ended() time.Time   { return time.Unix(0, r.End) }
func (r rpc) ok() bool           { return r.Code == "OK" }
func (r rpc) servedBy(backend string) bool {
	return r.ok() && r.Backend == backend
}

// rpcs parses the calls printed so far, in start order.
func (c *client) rpcs() []rpc {
	var out []rpc
	for _, l := range strings.Split(c.p.Output(), "\n") {
		if !strings.HasPrefix(l, `{"event":"rpc"`) {
			continue
		}
		var r rpc
		if json.Unmarshal([]byte(l), &r) == nil {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// waitFor polls the client's calls until one started at or after since satisfies pred,
// and returns the earliest such call; it fails the test after timeout.
func (c *client) waitFor(t testing.TB, what string, since time.Time, timeout time.Duration, pred func(rpc) bool) rpc {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rs := c.rpcs()
		for _, r := range rs {
			if !r.started().Before(since) && pred(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no call %s within %v; calls since then: %s", c.name, what, timeout, summarize(after(rs, since)))
		}
		time.Sleep(poll)
	}
}

// stop ends the client (SIGTERM: it finishes the calls in flight) and returns every call.
func (c *client) stop(t testing.TB) []rpc {
	t.Helper()
	if err := c.p.Stop(); err != nil {
		t.Errorf("%s: %v", c.name, err)
	}
	if !strings.Contains(c.p.Output(), `{"event":"done"`) {
		t.Errorf("%s: no done line; the client did not finish cleanly:\n%s", c.name, c.p.Tail(20))
	}
	return c.rpcs()
}

// after returns the calls started at or after since.
func after(rs []rpc, since time.Time) []rpc {
	var out []rpc
	for _, r := range rs {
		if !r.started().Before(since) {
			out = append(out, r)
		}
	}
	return out
}

// between returns the calls started in [from, to).
func between(rs []rpc, from, to time.Time) []rpc {
	var out []rpc
	for _, r := range after(rs, from) {
		if r.started().Before(to) {
			out = append(out, r)
		}
	}
	return out
}

func failed(rs []rpc) []rpc {
	var out []rpc
	for _, r := range rs {
		if !r.ok() {
			out = append(out, r)
		}
	}
	return out
}

// summarize counts calls per outcome, e.g. "40 calls: 38 OK@func-a, 2 Unavailable".
func summarize(rs []rpc) string {
	counts := map[string]int{}
	for _, r := range rs {
		k := r.Code
		if r.ok() {
			k += "@" + r.Backend
		}
		counts[k]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", counts[k], k)
	}
	s := fmt.Sprintf("%d calls: %s", len(rs), strings.Join(parts, ", "))
	if f := failed(rs); len(f) > 0 {
		s += fmt.Sprintf(" (first failure: %s)", f[0].Error)
	}
	return s
}

// requireServedBy fails the test unless every call succeeded on backend.
func requireServedBy(t testing.TB, who string, rs []rpc, backend string) {
	t.Helper()
	if len(rs) == 0 {
		t.Errorf("%s: no calls to check", who)
		return
	}
	for _, r := range rs {
		if !r.servedBy(backend) {
			t.Errorf("%s: want every call served by %s; got %s", who, backend, summarize(rs))
			return
		}
	}
}

// grpcCount is a backend's count of RPCs that reached its handlers.
func grpcCount(t testing.TB, b *harness.Backend) uint64 {
	t.Helper()
	st, err := b.Admin.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Requests.GRPC
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }
