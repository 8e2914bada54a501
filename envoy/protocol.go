package envoy

import (
	"fmt"

	commonmatcherv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/matcher/v3"
	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	upstreamcodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/upstream_codec/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// Extension names, as Envoy registers them.
const (
	HTTPProtocolOptionsName = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	HeaderMutationName      = "envoy.filters.http.header_mutation"
	UpstreamCodecName       = "envoy.filters.http.upstream_codec"
)

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max uint32 }

// MetadataHeader sets Header on every upstream request to the value of the chosen
// endpoint's metadata Namespace/Key. The header is removed first, on every attempt, so a
// host without that key gets no header at all: neither a copy the client sent nor the key
// of a host tried by an earlier attempt (the upstream filters edit the request headers
// that every retry reuses).
type MetadataHeader struct {
	Header    string
	Namespace string
	Key       string
}

// ProtocolSpec is a cluster's HttpProtocolOptions.
type ProtocolSpec struct {
	// HTTP1 writes explicit_http_config with http_protocol_options (upstream HTTP/1.1).
	// Envoy requires one upstream protocol choice in this message.
	HTTP1 bool
	// ErrorStatuses, when set, are the only responses outlier detection counts as errors
	// (outlier_detection.error_matcher, Envoy ≥ 1.36). A matched non-5xx status is
	// reported as a 500; an unmatched 5xx as a success.
	ErrorStatuses []StatusRange
	// Headers are added by an upstream header_mutation filter, which runs after the host
	// is chosen and so can read its metadata (route headers cannot).
	Headers []MetadataHeader
}

// Empty reports whether the spec needs no HttpProtocolOptions at all: the protocol
// choice alone is Envoy's default and needs none.
func (s ProtocolSpec) Empty() bool { return len(s.ErrorStatuses) == 0 && len(s.Headers) == 0 }

// HTTPProtocolOptions builds the typed_extension_protocol_options entry for s.
func HTTPProtocolOptions(s ProtocolSpec) map[string]*anypb.Any {
	opts := &upstreamhttpv3.HttpProtocolOptions{}
	if s.HTTP1 {
		opts.UpstreamProtocolOptions = &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{
					HttpProtocolOptions: &corev3.Http1ProtocolOptions{},
				},
			},
		}
	}
	if len(s.ErrorStatuses) > 0 {
		opts.OutlierDetection = &upstreamhttpv3.HttpProtocolOptions_OutlierDetection{ErrorMatcher: statusMatcher(s.ErrorStatuses)}
	}
	if len(s.Headers) > 0 {
		opts.HttpFilters = []*hcmv3.HttpFilter{
			{
				Name:       HeaderMutationName,
				ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(headerMutation(s.Headers))},
			},
			// An explicit upstream filter chain must end in the codec filter.
			{
				Name:       UpstreamCodecName,
				ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&upstreamcodecv3.UpstreamCodec{})},
			},
		}
	}
	return map[string]*anypb.Any{HTTPProtocolOptionsName: mustAny(opts)}
}

func headerMutation(hs []MetadataHeader) *headermutationv3.HeaderMutation {
	m := &headermutationv3.Mutations{}
	// Every remove comes before every append: Envoy applies the mutations in order, and
	// skips an append whose value comes out empty, which would leave a stale header.
	for _, h := range hs {
		m.RequestMutations = append(m.RequestMutations, &mutationrulesv3.HeaderMutation{
			Action: &mutationrulesv3.HeaderMutation_Remove{Remove: h.Header},
		})
	}
	for _, h := range hs {
		m.RequestMutations = append(m.RequestMutations, &mutationrulesv3.HeaderMutation{
			Action: &mutationrulesv3.HeaderMutation_Append{Append: &corev3.HeaderValueOption{
				Header: &corev3.HeaderValue{
					Key:   h.Header,
					Value: fmt.Sprintf("%%UPSTREAM_METADATA(%s:%s)%%", h.Namespace, h.Key),
				},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			}},
		})
	}
	return &headermutationv3.HeaderMutation{Mutations: m}
}

// statusMatcher matches a response whose :status is in any of rs.
func statusMatcher(rs []StatusRange) *commonmatcherv3.MatchPredicate {
	preds := make([]*commonmatcherv3.MatchPredicate, 0, len(rs))
	for _, r := range rs {
		preds = append(preds, &commonmatcherv3.MatchPredicate{Rule: &commonmatcherv3.MatchPredicate_HttpResponseHeadersMatch{
			HttpResponseHeadersMatch: &commonmatcherv3.HttpHeadersMatch{Headers: []*routev3.HeaderMatcher{{
				Name: ":status",
				HeaderMatchSpecifier: &routev3.HeaderMatcher_RangeMatch{RangeMatch: &typev3.Int64Range{
					Start: int64(r.Min), End: int64(r.Max) + 1, // end is exclusive
				}},
			}}},
		}})
	}
	if len(preds) == 1 {
		return preds[0]
	}
	return &commonmatcherv3.MatchPredicate{Rule: &commonmatcherv3.MatchPredicate_OrMatch{OrMatch: &commonmatcherv3.MatchPredicate_MatchSet{Rules: preds}}}
}
