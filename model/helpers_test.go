package model

import (
	"reflect"
	"testing"
)

func TestCloneIsDeep(t *testing.T) {
	m, err := LoadBytes("failover.yaml", readTestdata(t, "failover.yaml"), fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := m.Clone()
	if !reflect.DeepEqual(c, m) {
		t.Fatal("clone differs")
	}
	c.Backends[0].Name = "changed"
	c.Backends[0].Credentials.Header["x-functions-key"] = NewSecret("", "changed")
	c.Backends[0].CircuitBreaker.Rules[0].FailureCondition.StatusCodeRanges[0].Min = 100
	c.Pools[0].Services[0].Weight = 50
	c.APIs[0].Hosts[0] = "changed"
	c.APIs[0].Retry.ErrorReasons[0] = Timeout
	c.Listeners[0].APIs[0] = "changed"
	b := m.Backends[0]
	if b.Name != "func-primary-sdc" || b.Credentials.Header["x-functions-key"].Reveal() != "primary-demo-key" ||
		b.CircuitBreaker.Rules[0].FailureCondition.StatusCodeRanges[0].Min != 502 || m.Pools[0].Services[0].Weight != 1 ||
		m.APIs[0].Hosts[0] != "*" || m.APIs[0].Retry.ErrorReasons[0] != BackendConnectionFailure || m.Listeners[0].APIs[0] != "resilient-api" {
		t.Error("changing the clone changed the original")
	}
	// Empty lists stay empty and nil entries stay nil: the copy is equal, not normalised.
	odd := &Model{Backends: []*Backend{nil, {Name: "b", CircuitBreaker: &CircuitBreaker{Rules: []*BreakerRule{}}}},
		Pools: []*Pool{{Name: "p", Services: []*PoolMember{nil}}}, APIs: []*API{}}
	if c := odd.Clone(); !reflect.DeepEqual(c, odd) {
		t.Errorf("clone of a hand-built model differs:\n%#v\n%#v", c, odd)
	}
	var nilModel *Model
	if nilModel.Clone() != nil {
		t.Error("Clone of nil must be nil")
	}
}

// Helpers work on a model built by hand, as translator tests do.
func TestHelpersOnHandBuiltModel(t *testing.T) {
	m := &Model{
		Backends:  []*Backend{{Name: "b1", Region: "r2"}, {Name: "b2", Region: "r1"}, {Name: "b3"}, {Name: "b4", Region: "r1"}},
		Pools:     []*Pool{{Name: "p"}},
		APIs:      []*API{{Name: "a"}},
		Listeners: []*Listener{{Name: "l"}},
	}
	if m.Backend("b2") != m.Backends[1] || m.Pool("p") != m.Pools[0] || m.API("a") != m.APIs[0] || m.Listener("l") != m.Listeners[0] {
		t.Error("lookup by name failed")
	}
	if m.Backend("p") != nil || m.Pool("b1") != nil || m.Listener("a") != nil {
		t.Error("lookups must not cross kinds")
	}
	if got := m.Regions(); !reflect.DeepEqual(got, []string{"r1", "r2"}) {
		t.Errorf("Regions = %v", got)
	}
	if (&Model{}).Regions() != nil {
		t.Error("an empty model has no regions")
	}
}
