package xds_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/admin"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
	"github.com/poolpilot/poolpilot/xds/internal/livetest"
)

// soakRSSBound is the stated bound on the test process's peak RSS during the soak: the
// server and every client run in it, so the server's own share is smaller.
const soakRSSBound = 256 << 20

// TestSoakHostileClients runs the server for a while (20 s; POOLPILOT_SOAK=3m for longer)
// against well-behaved Envoy nodes and hostile clients (made-up regions, group changes,
// unknown types, huge NACKs quoting the secret, 3 MB requests, idle admin connections)
// and a model edited every second (some edits invalid,
// some removing every API). It asserts that the well-behaved nodes never receive an
// empty configuration, end holding the latest good model, that RSS stays under
// soakRSSBound (not under the race detector, whose shadow memory multiplies it) and that
// the server keeps answering.
func TestSoakHostileClients(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: skipped with -short")
	}
	d := 20 * time.Second
	if v := os.Getenv("POOLPILOT_SOAK"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d <= 0 || d > 30*time.Minute {
			t.Fatalf("POOLPILOT_SOAK=%q: want a duration up to 30m", v)
		}
	}
	l := livetest.Start(t, map[string]string{"model.yaml": adstest.Model(8001, false)}, livetest.Options{Debounce: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	var problems sync.Map // text → struct{}: what went wrong, reported once each
	problem := func(format string, args ...any) { problems.Store(fmt.Sprintf(format, args...), struct{}{}) }
	conn := func() *grpc.ClientConn {
		c, err := grpc.NewClient(l.XDSAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	loop := func(f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				f(i)
			}
		}()
	}

	// The well-behaved fleet: each node ACKs every response and records the last version.
	const fleet = 8
	type held struct {
		mu       sync.Mutex
		versions map[string]string
		group    string
	}
	nodes := make([]*held, fleet)
	var responses atomic.Int64
	// The fleet outlives the soak's context, to be checked after it.
	fleetCtx, fleetCancel := context.WithCancel(context.Background())
	var fleetWG sync.WaitGroup
	t.Cleanup(func() { fleetCancel(); fleetWG.Wait() })
	for i := range fleet {
		region := []string{"swedencentral", "norwayeast"}[i%2]
		h := &held{versions: map[string]string{}, group: region + "/envoy"}
		nodes[i] = h
		stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn()).StreamAggregatedResources(fleetCtx)
		if err != nil {
			t.Fatal(err)
		}
		node := adstest.Node(fmt.Sprintf("good-%d", i), region)
		// Every load assignment too: the edits change endpoints (ports, priorities).
		for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.EndpointType} {
			if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: typ}); err != nil {
				t.Fatal(err)
			}
		}
		fleetWG.Add(1)
		go func() {
			defer fleetWG.Done()
			for {
				r, err := stream.Recv()
				if err != nil {
					if fleetCtx.Err() == nil {
						problem("good node %d: stream ended: %v", i, err)
					}
					return
				}
				responses.Add(1)
				if len(r.GetResources()) == 0 {
					problem("good node %d got an empty %s (version %s)", i, xds.TypeName(r.GetTypeUrl()), r.GetVersionInfo())
				}
				h.mu.Lock()
				h.versions[r.GetTypeUrl()] = r.GetVersionInfo()
				h.mu.Unlock()
				_ = stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: r.GetTypeUrl(), VersionInfo: r.GetVersionInfo(),
					ResponseNonce: r.GetNonce()})
			}
		}()
	}

	// Hostile clients, each on its own connection, each step bounded by the soak's context.
	hostile := func(name string, f func(c discovery.AggregatedDiscoveryServiceClient, i int)) {
		c := discovery.NewAggregatedDiscoveryServiceClient(conn())
		loop(func(i int) { f(c, i) })
	}
	once := func(c discovery.AggregatedDiscoveryServiceClient, reqs ...*discovery.DiscoveryRequest) {
		sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
		defer scancel()
		s, err := c.StreamAggregatedResources(sctx)
		if err != nil {
			return
		}
		for _, r := range reqs {
			if s.Send(r) != nil {
				return
			}
		}
		_, _ = s.Recv()
	}
	secretForms := adstest.QuotedForms(adstest.Secret)
	hostile("made-up regions", func(c discovery.AggregatedDiscoveryServiceClient, i int) {
		region := fmt.Sprintf("made-up-%d", i)
		if i%10 == 0 {
			region = strings.Repeat("r", 100<<10)
		}
		once(c, &discovery.DiscoveryRequest{Node: adstest.Node(fmt.Sprintf("bad-%d", i), region), TypeUrl: resourcev3.ClusterType})
	})
	hostile("group changer", func(c discovery.AggregatedDiscoveryServiceClient, i int) {
		once(c, &discovery.DiscoveryRequest{Node: adstest.Node("shifty", "swedencentral"), TypeUrl: resourcev3.ClusterType},
			&discovery.DiscoveryRequest{Node: adstest.Node("shifty", strings.Repeat("x", 64<<10)), TypeUrl: resourcev3.ListenerType})
	})
	hostile("unknown types", func(c discovery.AggregatedDiscoveryServiceClient, i int) {
		once(c, &discovery.DiscoveryRequest{Node: adstest.Node("typer", "norwayeast"), TypeUrl: resourcev3.ClusterType},
			&discovery.DiscoveryRequest{TypeUrl: fmt.Sprintf("type.googleapis.com/made.up.T%d", i)})
	})
	hostile("NACK quoting the secret", func(c discovery.AggregatedDiscoveryServiceClient, i int) {
		sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
		defer scancel()
		s, err := c.StreamAggregatedResources(sctx)
		if err != nil {
			return
		}
		node := adstest.Node(strings.Repeat("n", 200<<10), "swedencentral")
		if s.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}) != nil {
			return
		}
		r, err := s.Recv()
		if err != nil {
			return
		}
		form := []string{secretForms["raw"], secretForms["go %q"], secretForms["c octal"], secretForms["cut raw"]}[i%4]
		_ = s.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType, ResponseNonce: r.GetNonce(),
			ErrorDetail: &rpcstatus.Status{Code: 3, Message: strings.Repeat("detail ", 50<<10) + form}})
		_, _ = s.Recv()
	})
	big, err := structpb.NewStruct(map[string]any{"junk": strings.Repeat("m", 3<<20)})
	if err != nil {
		t.Fatal(err)
	}
	hostile("3 MB requests", func(c discovery.AggregatedDiscoveryServiceClient, i int) {
		n := adstest.Node("big", "swedencentral")
		n.Metadata = big
		once(c, &discovery.DiscoveryRequest{Node: n, TypeUrl: resourcev3.ClusterType})
	})
	adminHost := strings.TrimPrefix(l.AdminURL, "http://")
	for range 2 * admin.MaxConns {
		if c, err := net.Dial("tcp", adminHost); err == nil {
			t.Cleanup(func() { _ = c.Close() })
		}
	}

	// The model edited every second: good edits, and every 5th invalid, every 7th without
	// its APIs (refused). latestGood is the last good content written.
	latestGood := adstest.Model(8001, false)
	loop(func(i int) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		content := adstest.Model(8001+i%50, i%2 == 1)
		switch {
		case i%5 == 4:
			content = "backends: [oops\n"
		case i%7 == 6:
			content = adstest.WithoutAPIs(content)
		default:
			latestGood = content
		}
		if err := writeAtomically(l.Dir, "model.yaml", content); err != nil {
			problem("edit the model: %v", err)
		}
	})

	// Peak RSS, sampled.
	var peak atomic.Int64
	loop(func(int) {
		if rss := readRSS(); rss > peak.Load() {
			peak.Store(rss)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	})

	<-ctx.Done()
	wg.Wait()
	problems.Range(func(k, _ any) bool { t.Error(k); return true })

	// The server is alive and answering.
	resp, err := http.Get(l.AdminURL + "/healthz")
	if err != nil {
		t.Fatalf("/healthz after the soak: %v", err)
	}
	_ = resp.Body.Close()

	// Every good node holds the latest good model: the versions a fresh server gives it.
	adstest.ReplaceFile(t, l.Dir, "model.yaml", latestGood)
	fresh := xds.New(xds.Options{Logger: adstest.Logger(t), Translate: translator.Translate})
	lookup := func(k string) (string, bool) { v, ok := adstest.Env[k]; return v, ok }
	m, err := model.LoadBytes("model.yaml", []byte(latestGood), model.WithLookupEnv(lookup))
	if err != nil {
		t.Fatal(err)
	}
	xds.MustApply(t, fresh, m)
	adstest.WaitFor(t, "the latest good model served", func() bool { return l.Srv.Version() == fresh.Version() })
	for i, h := range nodes {
		want := xds.GroupVersions(t, fresh, h.group)
		adstest.WaitFor(t, fmt.Sprintf("node %d holding the latest good model", i), func() bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.EndpointType} {
				if h.versions[typ] != want[typ] {
					return false
				}
			}
			return true
		})
	}
	last, _ := l.Reloader.Last()
	t.Logf("soak %v: %d good-node responses, %d reloads (%v ok, %v error, %v refused), peak RSS %d MiB (bound %d MiB), last reload ok=%v",
		d, responses.Load(), l.Reloader.Attempts(), l.Reloads(admin.ReloadOK), l.Reloads(admin.ReloadError), l.Reloads(admin.ReloadRefused),
		peak.Load()>>20, soakRSSBound>>20, last.OK)
	if p := peak.Load(); p > soakRSSBound && !raceEnabled {
		t.Errorf("peak RSS %d MiB; want under %d MiB", p>>20, soakRSSBound>>20)
	}
}

// writeAtomically writes data to a temporary file and renames it over name.
func writeAtomically(dir, name, data string) error {
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// readRSS is this process's resident set size in bytes (0 if unknown).
func readRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
