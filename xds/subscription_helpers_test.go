package xds

// The go-control-plane Subscription methods the cache tests drive a subscription with,
// on poolpilot's: what a stream does on a response and on a request.

// noSharing shares nothing: every subscription keeps its own sets.
var noSharing = sharing{}

func (s *subscription) SetReturnedResources(m map[string]string) { s.returned = m }

func (s *subscription) SetResourceSubscription(names []string) { s.setSotw(names, noSharing) }

func (s *subscription) UpdateResourceSubscriptions(subscribe, unsubscribe []string) {
	s.updateDelta(subscribe, unsubscribe, noSharing)
}
