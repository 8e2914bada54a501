package envoy

import (
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

func TestSocketListener(t *testing.T) {
	l := SocketListener("public", "0.0.0.0", 10000, "public", 0)
	if err := Validate(l); err != nil {
		t.Fatal(err)
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	checkHCM(t, hcm, "public")
	if l.GetAddress().GetSocketAddress().GetPortValue() != 10000 {
		t.Errorf("address = %v", l.GetAddress())
	}
}

func TestAPIListener(t *testing.T) {
	l := APIListener("resilient-api", "resilient-api")
	if err := Validate(l); err != nil {
		t.Fatal(err)
	}
	if l.GetName() != "resilient-api" || l.GetAddress() != nil {
		t.Errorf("listener = %v", l)
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := l.GetApiListener().GetApiListener().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	checkHCM(t, hcm, "resilient-api")
}

func checkHCM(t *testing.T, hcm *hcmv3.HttpConnectionManager, routeConfig string) {
	t.Helper()
	rds := hcm.GetRds()
	if rds.GetRouteConfigName() != routeConfig || rds.GetConfigSource().GetAds() == nil {
		t.Errorf("rds = %v", rds)
	}
	fs := hcm.GetHttpFilters()
	if len(fs) == 0 || fs[len(fs)-1].GetName() != RouterName {
		t.Errorf("http_filters = %v, want the router last", fs)
	}
}
