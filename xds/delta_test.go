package xds

import (
	"context"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"

	"github.com/poolpilot/poolpilot/xds/internal/adstest"
)

// deltaClient is an incremental ADS stream.
type deltaClient struct {
	*adsStream[*discovery.DeltaDiscoveryRequest, *discovery.DeltaDiscoveryResponse]
}

func newDeltaClient(t *testing.T, addr string, node *corev3.Node) *deltaClient {
	t.Helper()
	return &deltaClient{newADSStream(t, "delta", node,
		func(r *discovery.DeltaDiscoveryRequest, n *corev3.Node) { r.Node = n },
		func(ctx context.Context) (bidiStream[*discovery.DeltaDiscoveryRequest, *discovery.DeltaDiscoveryResponse], error) {
			return dial(t, addr).DeltaAggregatedResources(ctx)
		})}
}

// rejectFor NACKs every response of typeURL for d, as a client with a broken
// configuration does, and counts them.
func (c *deltaClient) rejectFor(typeURL, detail string, d time.Duration) int {
	return c.each(typeURL, d, func(r *discovery.DeltaDiscoveryResponse) {
		c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: typeURL, ResponseNonce: r.GetNonce(),
			ErrorDetail: &rpcstatus.Status{Code: 3, Message: detail}})
	})
}

func deltaNames(r *discovery.DeltaDiscoveryResponse) []string {
	var out []string
	for _, res := range r.GetResources() {
		out = append(out, res.GetName())
	}
	slices.Sort(out)
	return out
}

func TestDeltaStreamReceivesAcksAndNackDoesNotLoop(t *testing.T) {
	s, addr := startServer(t, Options{})
	mustApply(t, s, testModel(t, 0))
	want := groupVersions(t, s, "swedencentral/envoy")

	c := newDeltaClient(t, addr, envoyNode("envoy-delta", "swedencentral"))
	c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType}) // wildcard
	cds := c.next(resourcev3.ClusterType)
	if len(cds.GetResources()) == 0 {
		t.Fatal("delta CDS response has no clusters")
	}
	if cds.GetSystemVersionInfo() != want[resourcev3.ClusterType] {
		t.Errorf("system version %q, want the group's %q", cds.GetSystemVersionInfo(), want[resourcev3.ClusterType])
	}
	clusters := deltaNames(cds)
	c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: cds.GetNonce()})

	c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: clusters})
	eds := c.next(resourcev3.EndpointType)
	if got := deltaNames(eds); !slices.Equal(got, clusters) {
		t.Errorf("delta EDS %v, want %v", got, clusters)
	}
	c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: eds.GetNonce()})
	adstest.WaitFor(t, "delta ACKs in status", func() bool {
		st := streamOf(t, s, "envoy-delta", Delta)
		return st.Types[resourcev3.ClusterType].AckedVersion == want[resourcev3.ClusterType] &&
			st.Types[resourcev3.EndpointType].Acks == 1
	})

	// A new model; the client rejects its clusters, and keeps rejecting whatever comes.
	mustApply(t, s, testModel(t, 1))
	changed := c.next(resourcev3.ClusterType)
	const detail = "cluster func-primary-sdc rejected"
	c.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: changed.GetNonce(),
		ErrorDetail: &rpcstatus.Status{Code: 3, Message: detail}})
	if n := c.rejectFor(resourcev3.ClusterType, detail, 2*time.Second); n > 2 {
		t.Fatalf("%d delta CDS responses in the 2s after a NACK, want at most 2", n)
	}
	st := streamOf(t, s, "envoy-delta", Delta).Types[resourcev3.ClusterType]
	if st.LastNack == nil || st.LastNack.Message != detail || st.LastNack.Version != changed.GetSystemVersionInfo() {
		t.Fatalf("recorded NACK %+v, want version %q detail %q", st.LastNack, changed.GetSystemVersionInfo(), detail)
	}

	// Not stuck: the next model arrives.
	mustApply(t, s, testModel(t, 2))
	next := c.next(resourcev3.ClusterType)
	if v := groupVersions(t, s, "swedencentral/envoy")[resourcev3.ClusterType]; next.GetSystemVersionInfo() != v {
		t.Errorf("after the next model got system version %q, want %q", next.GetSystemVersionInfo(), v)
	}
}
