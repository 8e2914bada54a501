package xds

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	streamv3 "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
)

// subscriptionNames are the names the random requests draw from: "*" is the explicit
// wildcard.
var subscriptionNames = []string{"a", "b", "c", "d", "*"}

func randomSubNames(r *rand.Rand) []string {
	var out []string
	for range r.IntN(4) {
		out = append(out, subscriptionNames[r.IntN(len(subscriptionNames))])
	}
	return out
}

func randomReturned(r *rand.Rand) map[string]string {
	out := map[string]string{}
	for range r.IntN(4) {
		out[subscriptionNames[r.IntN(4)]] = fmt.Sprint(r.IntN(3))
	}
	return out
}

// sameSubscription fails unless ours reads as go-control-plane's does.
func sameSubscription(t *testing.T, step string, ours subscription, theirs streamv3.Subscription) {
	t.Helper()
	if ours.IsWildcard() != theirs.IsWildcard() || !maps.Equal(ours.SubscribedResources(), theirs.SubscribedResources()) ||
		!maps.Equal(ours.ReturnedResources(), theirs.ReturnedResources()) {
		t.Fatalf("%s: ours wildcard %v names %v returned %v; go-control-plane's wildcard %v names %v returned %v", step,
			ours.IsWildcard(), ours.SubscribedResources(), ours.ReturnedResources(),
			theirs.IsWildcard(), theirs.SubscribedResources(), theirs.ReturnedResources())
	}
}

// TestSubscriptionIsGoControlPlanes: through random request sequences (names, the
// explicit wildcard, empty lists in legacy mode, responses adopted in between), a
// subscription reads exactly as go-control-plane's would, and never writes a map it was
// given or handed out: streams share them.
func TestSubscriptionIsGoControlPlanes(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for i := range 2000 {
		legacy := r.IntN(4) != 0
		delta := r.IntN(2) == 0
		var ours subscription
		var theirs streamv3.Subscription
		if delta {
			sub, unsub, initial := randomSubNames(r), randomSubNames(r), randomReturned(r)
			frozen := maps.Clone(initial)
			ours = newDeltaSubscription(sub, unsub, initial, legacy, noSharing)
			theirs = streamv3.NewDeltaSubscription(sub, unsub, maps.Clone(frozen), legacy)
			if !maps.Equal(initial, frozen) {
				t.Fatalf("case %d: the request's initial versions were written", i)
			}
		} else {
			names := randomSubNames(r)
			ours = newSotwSubscription(names, legacy, noSharing)
			theirs = streamv3.NewSotwSubscription(names, legacy)
		}
		sameSubscription(t, fmt.Sprintf("case %d new", i), ours, theirs)
		for step := range 8 {
			label := fmt.Sprintf("case %d step %d", i, step)
			if r.IntN(3) == 0 {
				m := randomReturned(r)
				ours.returned = m
				theirs.SetReturnedResources(maps.Clone(m))
				sameSubscription(t, label+" response", ours, theirs)
			}
			names, returned := ours.names, ours.returned
			frozenNames, frozenReturned := maps.Clone(names), maps.Clone(returned)
			if delta {
				sub, unsub := randomSubNames(r), randomSubNames(r)
				ours.updateDelta(sub, unsub, noSharing)
				theirs.UpdateResourceSubscriptions(sub, unsub)
			} else {
				req := randomSubNames(r)
				ours.setSotw(req, noSharing)
				theirs.SetResourceSubscription(req)
			}
			if !maps.Equal(names, frozenNames) || !maps.Equal(returned, frozenReturned) {
				t.Fatalf("%s: a request wrote the maps the subscription held (copy on write)", label)
			}
			sameSubscription(t, label, ours, theirs)
		}
	}
}

// TestSubscriptionTakesTheSharedSet: a subscription equal to the shared set holds that
// set, not its own copy, in both protocols.
func TestSubscriptionTakesTheSharedSet(t *testing.T) {
	shared := map[string]struct{}{"a": {}, "b": {}}
	share := func(set map[string]struct{}) map[string]struct{} {
		if maps.Equal(set, shared) {
			return shared
		}
		return nil
	}
	s := newSotwSubscription([]string{"b", "a", "a"}, true, sharing{set: share})
	if !sameMap(s.SubscribedResources(), shared) {
		t.Fatal("state of the world: the subscription kept its own set")
	}
	d := newDeltaSubscription([]string{"a"}, nil, nil, true, sharing{set: share})
	if sameMap(d.SubscribedResources(), shared) {
		t.Fatal("delta: a set of one name taken for the shared set of two")
	}
	d.updateDelta([]string{"b"}, nil, sharing{set: share})
	if !sameMap(d.SubscribedResources(), shared) {
		t.Fatal("delta: the subscription kept its own set")
	}
	d.updateDelta([]string{"c"}, nil, sharing{set: share})
	if sameMap(d.SubscribedResources(), shared) || len(shared) != 2 {
		t.Fatal("delta: subscribing to one more name wrote the shared set")
	}
}
