package envoy

import (
	"testing"

	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

func TestHTTPProtocolOptions(t *testing.T) {
	m := HTTPProtocolOptions(ProtocolSpec{
		HTTP1:         true,
		ErrorStatuses: []StatusRange{{429, 429}, {502, 504}},
		Headers:       []MetadataHeader{{Header: "x-functions-key", Namespace: "poolpilot", Key: "x-functions-key"}},
	})
	a := m[HTTPProtocolOptionsName]
	if a == nil {
		t.Fatalf("no %s entry: %v", HTTPProtocolOptionsName, m)
	}
	if err := Validate(a); err != nil {
		t.Fatal(err)
	}
	opts := &upstreamhttpv3.HttpProtocolOptions{}
	if err := a.UnmarshalTo(opts); err != nil {
		t.Fatal(err)
	}
	if opts.GetExplicitHttpConfig().GetHttpProtocolOptions() == nil {
		t.Errorf("upstream protocol = %v, want explicit HTTP/1.1", opts.GetUpstreamProtocolOptions())
	}
	rules := opts.GetOutlierDetection().GetErrorMatcher().GetOrMatch().GetRules()
	if len(rules) != 2 {
		t.Fatalf("error matcher = %v", opts.GetOutlierDetection())
	}
	r := rules[0].GetHttpResponseHeadersMatch().GetHeaders()[0]
	if r.GetName() != ":status" || r.GetRangeMatch().GetStart() != 429 || r.GetRangeMatch().GetEnd() != 430 {
		t.Errorf("first range = %v (end must be exclusive)", r)
	}
	fs := opts.GetHttpFilters()
	if len(fs) != 2 || fs[0].GetName() != HeaderMutationName || fs[1].GetName() != UpstreamCodecName {
		t.Fatalf("upstream filters = %v, want header_mutation then upstream_codec", fs)
	}
	hm := &headermutationv3.HeaderMutation{}
	if err := fs[0].GetTypedConfig().UnmarshalTo(hm); err != nil {
		t.Fatal(err)
	}
	ms := hm.GetMutations().GetRequestMutations()
	if len(ms) != 2 || ms[0].GetRemove() != "x-functions-key" {
		t.Fatalf("request mutations = %v, want the remove first", ms)
	}
	h := ms[1].GetAppend().GetHeader()
	if h.GetKey() != "x-functions-key" || h.GetValue() != "%UPSTREAM_METADATA(poolpilot:x-functions-key)%" {
		t.Errorf("header = %v", h)
	}
}

func TestHTTPProtocolOptionsSingleRange(t *testing.T) {
	a := HTTPProtocolOptions(ProtocolSpec{HTTP1: true, ErrorStatuses: []StatusRange{{429, 429}}})[HTTPProtocolOptionsName]
	if err := Validate(a); err != nil {
		t.Fatal(err)
	}
	opts := &upstreamhttpv3.HttpProtocolOptions{}
	_ = a.UnmarshalTo(opts)
	if opts.GetOutlierDetection().GetErrorMatcher().GetHttpResponseHeadersMatch() == nil || opts.GetHttpFilters() != nil {
		t.Errorf("options = %v", opts)
	}
}
