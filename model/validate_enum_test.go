package model

import (
	"fmt"
	"strings"
	"testing"
)

// TestErrorReasonsValidate: every value of ErrorReasons loads, in a breaker rule and in a
// retry, and the message for an unknown one lists them all.
func TestErrorReasonsValidate(t *testing.T) {
	for _, r := range ErrorReasons {
		if err := loadCase(breaker(fmt.Sprintf("{count: 1, interval: 1s, errorReasons: [%s]}", r))); err != nil {
			t.Errorf("breaker with %s: %v", r, err)
		}
		if err := loadCase(fmt.Sprintf("apis:\n  - {name: r, backend: b1, retry: {count: 1, errorReasons: [%s]}}\n", r)); err != nil {
			t.Errorf("retry with %s: %v", r, err)
		}
	}
	err := loadCase(breaker("{count: 1, interval: 1s, errorReasons: [Nope]}"))
	if err == nil {
		t.Fatal("an unknown reason loaded")
	}
	for _, r := range ErrorReasons {
		if !strings.Contains(err.Error(), string(r)) {
			t.Errorf("message %q does not list %s", err, r)
		}
	}
}

// TestBreakerScopesValidate: every value of BreakerScopes loads as a rule's scope, and the
// message for an unknown one lists them all.
func TestBreakerScopesValidate(t *testing.T) {
	withScope := func(sc string) string {
		return strings.Replace(breaker("{count: 1, interval: 1s, errorReasons: [Timeout]}"),
			"        - tripDuration:", "        - scope: "+sc+"\n          tripDuration:", 1)
	}
	for _, sc := range BreakerScopes {
		if err := loadCase(withScope(string(sc))); err != nil {
			t.Errorf("scope %s: %v", sc, err)
		}
	}
	err := loadCase(withScope("zone"))
	if err == nil {
		t.Fatal("an unknown scope loaded")
	}
	for _, sc := range BreakerScopes {
		if !strings.Contains(err.Error(), string(sc)) {
			t.Errorf("message %q does not list %s", err, sc)
		}
	}
}
