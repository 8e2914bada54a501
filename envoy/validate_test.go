package envoy

import (
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestValidateAcceptsBuiltListener(t *testing.T) {
	if err := Validate(SocketListener("public", "0.0.0.0", 10000, "public", 0)); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

// ValidateAll alone passes this listener: the HCM inside the Any lacks stat_prefix.
func TestValidateWalksIntoAny(t *testing.T) {
	hcm := HTTPConnectionManager("", "public")
	l := &listenerv3.Listener{
		Name:    "public",
		Address: SocketAddress("0.0.0.0", 10000),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name:       HTTPConnectionManagerName,
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
		}}}},
	}
	if err := l.ValidateAll(); err != nil {
		t.Fatalf("outer ValidateAll should pass, got %v", err)
	}
	err := Validate(l)
	if err == nil || !strings.Contains(err.Error(), "StatPrefix") {
		t.Fatalf("Validate = %v, want a StatPrefix error from inside the Any", err)
	}
	if !strings.Contains(err.Error(), "filter_chains[0].filters[0].typed_config") {
		t.Errorf("error %q does not say where", err)
	}
}

// An Any nested in an Any (router inside HCM inside a listener) is checked as well.
func TestValidateWalksNestedAny(t *testing.T) {
	hcm := HTTPConnectionManager("public", "public")
	hcm.HttpFilters[0].Name = "" // min_len 1 on the inner HttpFilter
	l := APIListener("api", "api")
	l.ApiListener.ApiListener = mustAny(hcm)
	err := Validate(l)
	if err == nil || !strings.Contains(err.Error(), "HttpFilters[0]") || !strings.Contains(err.Error(), "HttpFilter.Name") {
		t.Fatalf("Validate = %v, want an HttpFilters[0] HttpFilter.Name error", err)
	}
	// ValidateAll runs on the resource and on each Any's content only: it checks everything
	// below them itself, so a nested error is reported once, not once per ancestor.
	if n := strings.Count(err.Error(), "value length must be at least 1 runes"); n != 1 {
		t.Errorf("the error is reported %d times, want once: %v", n, err)
	}
}

func TestValidateRejectsUnknownAny(t *testing.T) {
	l := APIListener("api", "api")
	l.ApiListener.ApiListener = &anypb.Any{TypeUrl: "type.googleapis.com/not.a.Known", Value: nil}
	if err := Validate(l); err == nil || !strings.Contains(err.Error(), "not.a.Known") {
		t.Fatalf("Validate = %v, want an unknown-type error", err)
	}
}

func TestValidateNil(t *testing.T) {
	if err := Validate(nil); err == nil {
		t.Fatal("Validate(nil) = nil, want an error")
	}
	var hcm *hcmv3.HttpConnectionManager
	if err := Validate(hcm); err != nil {
		t.Fatalf("Validate(typed nil) = %v, want nil (nothing to check)", err)
	}
}
