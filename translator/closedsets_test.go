package translator

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/poolpilot/poolpilot/model"
)

// notAReason stands for a reason added to model.ErrorReasons without its translations:
// every translation must refuse it, not ignore it.
const notAReason model.ErrorReason = "NotAReason"

// TestErrorReasonsHandled: every value of model.ErrorReasons changes what the circuit
// breaker, the Envoy retry and the gRPC retry translate to, and a value none of them
// knows is an error in each. A reason added to the list without a case in each
// translation fails here.
func TestErrorReasonsHandled(t *testing.T) {
	rule := func(r model.ErrorReason) *model.BreakerRule {
		return &model.BreakerRule{
			Name:         "rule",
			TripDuration: model.Duration{Duration: 30 * time.Second},
			FailureCondition: model.FailureCondition{
				Count: 3, Interval: model.Duration{Duration: 15 * time.Second}, ErrorReasons: []model.ErrorReason{r},
			},
		}
	}
	retry := func(r model.ErrorReason) *model.Retry {
		return &model.Retry{Count: 2, ErrorReasons: []model.ErrorReason{r}}
	}
	if !slices.Equal(model.ErrorReasons, handledReasons) {
		t.Errorf("model.ErrorReasons %v, translator handles %v", model.ErrorReasons, handledReasons)
	}
	noReason, err := ruleBreaker(&model.BreakerRule{FailureCondition: model.FailureCondition{Count: 3}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range model.ErrorReasons {
		t.Run(string(r), func(t *testing.T) {
			b, err := ruleBreaker(rule(r))
			if err != nil {
				t.Errorf("circuit breaker: %v", err)
			} else if b.connection == noReason.connection && b.timeout == noReason.timeout {
				t.Errorf("circuit breaker: %s counts no failure", r)
			} else {
				spec, _, _ := envoyOutlier("backend", &b, Group{Client: Envoy})
				if d := spec.ConsecutiveLocalOrigin; d == nil || d.Enforcing != enforceOn {
					t.Errorf("circuit breaker: %s switches on no Envoy detector: %+v", r, spec)
				}
			}
			if on, _, err := envoyRetryOn(retry(r)); err != nil || len(on) == 0 {
				t.Errorf("Envoy retry: retry_on %q, error %v", on, err)
			}
			if on, err := grpcRetryOn(retry(r)); err != nil || len(on) == 0 {
				t.Errorf("gRPC retry: retry_on %q, error %v", on, err)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		if _, err := ruleBreaker(rule(notAReason)); err == nil || !strings.Contains(err.Error(), string(notAReason)) {
			t.Errorf("circuit breaker: error %v", err)
		}
		if _, _, err := envoyRetryOn(retry(notAReason)); err == nil {
			t.Error("Envoy retry: no error")
		}
		if _, err := grpcRetryOn(retry(notAReason)); err == nil {
			t.Error("gRPC retry: no error")
		}
	})
}

// TestClientKindsHandled: every ClientKind translates, to listeners of its own kind,
// under a key of its own; a kind outside the list is an error.
func TestClientKindsHandled(t *testing.T) {
	m := failover(t)
	keys := map[string]bool{}
	for _, k := range ClientKinds {
		g := Group{Region: "swedencentral", Client: k}
		res, err := Translate(m, g)
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		if len(res.Listeners) == 0 {
			t.Errorf("%s: no listeners", k)
		}
		if keys[g.Key()] {
			t.Errorf("%s: key %q is another kind's", k, g.Key())
		}
		keys[g.Key()] = true
		if !k.Valid() {
			t.Errorf("%s is in ClientKinds but not Valid", k)
		}
	}
	if _, err := Translate(m, Group{Region: "swedencentral", Client: "envoy-mobile"}); err == nil || !strings.Contains(err.Error(), model.OneOf(ClientKinds)) {
		t.Errorf("an unknown kind: error %v, want one naming %s", err, model.OneOf(ClientKinds))
	}
}

// TestSchemesHandled: every model.Schemes value has a TLS decision, https alone TLS; a
// scheme outside the list is an error.
func TestSchemesHandled(t *testing.T) {
	for _, s := range model.Schemes {
		tls, err := schemeTLS(s)
		if err != nil || tls != (s == model.HTTPS) {
			t.Errorf("%s: TLS %v, error %v", s, tls, err)
		}
	}
	if _, err := schemeTLS("h2c"); err == nil {
		t.Error("h2c: no error")
	}
}
