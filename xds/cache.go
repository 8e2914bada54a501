package xds

import (
	"sync"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
)

// nackCache is the snapshot cache, except that a state-of-the-world NACK does not make it
// resend the rejected version.
//
// A NACK carries the version the client last *accepted*, which is never the snapshot's
// version, so the stock cache answers it at once with the same rejected resources, and the
// client rejects them again, forever (go-control-plane#962). The callbacks know from the
// NACK's nonce which version was rejected and note it here, keyed by the request, before the
// server calls CreateWatch with that same request (OnStreamRequest runs first). The watch
// is then opened as if the client held the rejected version: it waits for the next
// snapshot of that type, or answers at once if the snapshot has already moved on, or if the
// client subscribed to a resource it was never sent.
//
// Delta needs no help: the delta subscription records what was sent before the client
// answers, so a NACK finds nothing new to send and the watch waits.
type nackCache struct {
	cache.SnapshotCache
	rejected sync.Map // *discovery.DiscoveryRequest → rejected version (string)
}

var _ cache.Cache = (*nackCache)(nil)

func (c *nackCache) noteRejected(req *discovery.DiscoveryRequest, version string) {
	c.rejected.Store(req, version)
}

func (c *nackCache) forget(req *discovery.DiscoveryRequest) { c.rejected.Delete(req) }

// CreateWatch implements cache.ConfigWatcher.
func (c *nackCache) CreateWatch(req *cache.Request, sub cache.Subscription, ch chan cache.Response) (func(), error) {
	if v, ok := c.rejected.LoadAndDelete(req); ok {
		// A copy: the server keeps the original request as the stream's state.
		held := proto.Clone(req).(*discovery.DiscoveryRequest)
		held.VersionInfo = v.(string)
		req = held
	}
	return c.SnapshotCache.CreateWatch(req, sub, ch)
}
