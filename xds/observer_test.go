package xds

import (
	"sync"
	"testing"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"

	"github.com/poolpilot/poolpilot/xds/internal/adstest"
)

type recordingObserver struct {
	mu     sync.Mutex
	events []string
	nacks  []Event
	apply  []ApplyEvent
}

func (o *recordingObserver) add(kind string, ev Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, kind+" "+ev.Group+" "+ev.TypeURL)
	if kind == "nack" {
		o.nacks = append(o.nacks, ev)
	}
}

func (o *recordingObserver) StreamOpened(ev Event) { o.add("open", ev) }
func (o *recordingObserver) StreamClosed(ev Event) { o.add("close", ev) }
func (o *recordingObserver) Response(ev Event)     { o.add("response", ev) }
func (o *recordingObserver) Ack(ev Event)          { o.add("ack", ev) }
func (o *recordingObserver) Nack(ev Event)         { o.add("nack", ev) }
func (o *recordingObserver) Applied(ev ApplyEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.apply = append(o.apply, ev)
}

func (o *recordingObserver) has(e string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, x := range o.events {
		if x == e {
			return true
		}
	}
	return false
}

func TestObserverSeesStreamEvents(t *testing.T) {
	obs := &recordingObserver{}
	s, addr := startServer(t, Options{Observer: obs})
	mustApply(t, s, testModel(t, 0))
	if err := s.Apply(nil); err == nil {
		t.Error("Apply(nil) succeeded")
	}

	func() {
		c := newSotwClient(t, addr, grpcNode("grpc-obs", "norwayeast"))
		c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResourceNames: []string{"resilient-api"}})
		lds := c.next(resourcev3.ListenerType)
		c.ack(lds, "resilient-api")
		c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
		cds := c.next(resourcev3.ClusterType)
		c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: cds.GetNonce(),
			ErrorDetail: &rpcstatus.Status{Code: 3, Message: "no"}})
		adstest.WaitFor(t, "NACK observed", func() bool { return obs.has("nack norwayeast/grpc " + resourcev3.ClusterType) })
		_ = c.stream.CloseSend()
	}()
	adstest.WaitFor(t, "stream close observed", func() bool { return obs.has("close norwayeast/grpc ") })

	for _, e := range []string{
		"open norwayeast/grpc ",
		"response norwayeast/grpc " + resourcev3.ListenerType,
		"ack norwayeast/grpc " + resourcev3.ListenerType,
		"response norwayeast/grpc " + resourcev3.ClusterType,
	} {
		if !obs.has(e) {
			t.Errorf("event %q not observed; got %v", e, obs.events)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.nacks) != 1 || obs.nacks[0].Detail != "no" || obs.nacks[0].NodeID != "grpc-obs" || obs.nacks[0].Version == "" {
		t.Errorf("NACK events %+v, want one from grpc-obs with its detail and version", obs.nacks)
	}
	if len(obs.apply) != 2 || obs.apply[0].Err != nil || obs.apply[0].ModelVersion == "" ||
		obs.apply[0].Groups["swedencentral/envoy"][resourcev3.ClusterType] == "" || obs.apply[1].Err == nil {
		t.Errorf("apply events %+v, want one success with versions, then one failure", obs.apply)
	}
}
