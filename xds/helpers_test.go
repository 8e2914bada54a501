package xds

import (
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

func unmarshalListener(t *testing.T, a *anypb.Any) *listenerv3.Listener {
	t.Helper()
	l := &listenerv3.Listener{}
	if err := a.UnmarshalTo(l); err != nil {
		t.Fatalf("unmarshal listener: %v", err)
	}
	return l
}

// rdsNames are the route configuration names the listeners' HTTP connection managers
// ask for over RDS, as Envoy would derive them.
func rdsNames(t *testing.T, lds *discovery.DiscoveryResponse) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	add := func(a *anypb.Any) {
		m := &hcmv3.HttpConnectionManager{}
		if a == nil || a.UnmarshalTo(m) != nil {
			return
		}
		if n := m.GetRds().GetRouteConfigName(); n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, a := range lds.GetResources() {
		l := unmarshalListener(t, a)
		add(l.GetApiListener().GetApiListener())
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				add(f.GetTypedConfig())
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("listeners name no RDS route configuration")
	}
	return out
}
