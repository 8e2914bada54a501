package schema

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/invopop/jsonschema"

	"github.com/poolpilot/poolpilot/model"
)

// descriptions are the user-facing texts of types ("Type") and fields ("Type.Field",
// Go names); a field not listed here gets its Go doc comment.
var descriptions = map[string]string{
	"Model":           "A poolpilot model: backends, load-balanced pools, APIs and listeners. A model is one file or a directory of *.yaml files, merged; names are unique across files.",
	"Model.Backends":  "Upstream services (APIM backends).",
	"Model.Pools":     "Load-balanced pools (APIM backends of type Pool): members by priority and weight.",
	"Model.APIs":      "APIs: a path prefix routed to a backend or a pool, with an optional retry policy.",
	"Model.Listeners": "Ports the Envoy proxies listen on and the APIs each serves.",

	"Backend":                "One upstream service (an APIM backend).",
	"Backend.Name":           "Unique name of the backend (backends and pools share one namespace).",
	"Backend.URL":            "http:// or https:// with an IP address or DNS name, an optional port and an optional path; no user info, query or fragment.",
	"Backend.Region":         "The backend's region, matched against a proxy's node.locality.region for preferLocalRegion.",
	"Backend.Credentials":    "Headers added to every request sent to this backend.",
	"Backend.CircuitBreaker": "The APIM backend circuit breaker: one rule.",
	"Backend.ConnectTimeout": "Beyond APIM: bounds each connection attempt (Envoy connect_timeout), so a black-holed backend costs this long before the connection-failure retry. More than 0, at most 1 minute; a pool's cluster takes the longest its members set, 2s when none sets one.",
	"Backend.TLS":            "Beyond APIM, https backends only: how the proxy verifies the backend's certificate.",

	"BackendTLS":        "How the proxy verifies an https backend's certificate.",
	"BackendTLS.CAFile": "The PEM bundle on the proxy's file system that the backend's certificate must chain to (Envoy trusted_ca); an absolute path. The default is Debian's ca-certificates bundle, which the envoyproxy/envoy image ships.",

	"Credentials":        "Headers added to every request sent to the backend.",
	"Credentials.Header": "Header name to value. A value is a literal, ${ENV_VAR}, ${ENV_VAR:-default} or ${file:/path} (relative to the model file); values are never logged.",

	"CircuitBreaker":       "An APIM backend circuit breaker.",
	"CircuitBreaker.Rules": "Exactly one rule (APIM supports one rule per backend).",

	"BreakerRule":                  "Trips the backend when failureCondition holds, for tripDuration.",
	"BreakerRule.Name":             "Optional name of the rule.",
	"BreakerRule.TripDuration":     "How long a tripped backend stays ejected; more than 0. ISO-8601 (PT30S) or Go (30s).",
	"BreakerRule.AcceptRetryAfter": "Honour a backend's Retry-After header. Envoy has no primitive for it: the proxy neither ejects for the Retry-After time nor delays the retry (which goes to another priority anyway).",
	"BreakerRule.FailureCondition": "Which responses count as failures and how many trip the breaker.",
	"BreakerRule.Scope":            "Whose load reports poolpilot's fleet breaker sums, and whom a trip affects: fleet (every proxy's reports; a trip takes the backend out for every proxy) or region (each region alone; a trip affects only that region's proxies).",

	"FailureCondition":                  "Which responses count as failures and how many trip the breaker: count or percentage, interval, and errorReasons or statusCodeRanges.",
	"FailureCondition.Count":            "Trip after this many failures within interval (Envoy counts consecutive failures). Set count or percentage, not both.",
	"FailureCondition.Percentage":       "Trip when this percentage of requests within interval fail. Set count or percentage, not both.",
	"FailureCondition.Interval":         "The window the failures are counted in; more than 0. ISO-8601 (PT15S) or Go (15s).",
	"FailureCondition.ErrorReasons":     "Failures that are not an HTTP status.",
	"FailureCondition.StatusCodeRanges": "HTTP status ranges that count as failures.",

	"StatusRange":     "An inclusive range of HTTP status codes.",
	"StatusRange.Min": "The lowest status of the range, 100–599.",
	"StatusRange.Max": "The highest status of the range, 100–599, not below min; defaults to min.",

	"Pool":                   "An APIM load-balanced pool: a backend that spreads requests over its members.",
	"Pool.Name":              "Unique name of the pool (backends and pools share one namespace).",
	"Pool.PreferLocalRegion": "Move the members in the proxy's own region to the top priority; the others keep their order below.",
	"Pool.Services":          "The pool's members.",

	"PoolMember":          "One backend in a pool.",
	"PoolMember.Backend":  "The name of a backend (not a pool: pools don't nest).",
	"PoolMember.Priority": "0–100; lower is preferred (APIM). A lower-priority group gets traffic only when every backend above it is tripped.",
	"PoolMember.Weight":   "1–100: spreads load among the members of one priority. APIM allows 0; Envoy does not.",

	"API":               "Routes a path prefix to a backend or a pool (APIM set-backend-service).",
	"API.Name":          "Unique name of the API.",
	"API.PathPrefix":    "The request path prefix this API serves.",
	"API.Backend":       "The name of a backend or a pool.",
	"API.RewritePrefix": "Replaces pathPrefix in the path sent to the backend (APIM rewrite-uri).",
	"API.Hosts":         "The virtual host's domains: *, a DNS name, *.suffix, prefix.*, an IPv4 address or [IPv6 address], each with an optional :port.",
	"API.Timeout":       "Bounds the whole request, retries included; leave out for Envoy's default (15s).",
	"API.Retry":         "The APIM retry policy.",

	"Retry":                   "The APIM retry policy. Without statusCodeRanges and errorReasons it retries 502–504 and BackendConnectionFailure.",
	"Retry.Count":             "Retries after the first attempt, 1–50 (as in APIM).",
	"Retry.Interval":          "The first back-off interval; leave out for Envoy's default back-off.",
	"Retry.MaxInterval":       "The longest back-off interval; needs interval and is not below it.",
	"Retry.Delta":             "APIM's back-off increment; needs interval.",
	"Retry.FirstFastRetry":    "Accepted for APIM; Envoy has no equivalent (the first retry goes to the next priority at once).",
	"Retry.PerTryTimeout":     "Bounds each attempt (beyond APIM): without it a hung backend holds the request until the API's timeout.",
	"Retry.StatusCodeRanges":  "HTTP status ranges that are retried.",
	"Retry.ErrorReasons":      "Failures that are not an HTTP status and are retried.",
	"Retry.BufferRequestBody": "Buffer the request body so a retried POST keeps it (APIM forward-request buffer-request-body).",

	"Listener":         "A port the Envoy proxies listen on, serving some APIs.",
	"Listener.Name":    "Unique name of the listener.",
	"Listener.Address": "The IP address to listen on, e.g. 0.0.0.0, 127.0.0.1 or ::.",
	"Listener.Port":    "The port, 1–65535.",
	"Listener.APIs":    "The names of the APIs this listener serves.",
}

// refine adds what the loader checks and JSON Schema can say. Every field it names must
// exist, so a renamed field fails generation instead of silently losing its rules.
func refine(root *jsonschema.Schema) error {
	r := refiner{root: root}
	nameLike := func(def, field string) {
		s := r.prop(def, field)
		nameString(s)
	}
	for _, def := range []string{"Backend", "Pool", "API", "Listener", "BreakerRule"} {
		nameLike(def, "name")
	}
	nameLike("Backend", "region")
	nameLike("PoolMember", "backend")
	nameLike("API", "backend")
	if s := r.prop("Listener", "apis"); s != nil && s.Items != nil {
		nameString(s.Items)
		s.MinItems = ptr(1)
	}

	if s := r.prop("Backend", "url"); s != nil {
		s.Pattern = urlPattern
		s.Examples = []any{"https://func-primary-sdc.azurewebsites.net", "http://10.0.0.4:8080"}
	}
	if s := r.prop("Credentials", "header"); s != nil {
		s.PropertyNames = &jsonschema.Schema{Pattern: headerPattern}
	}
	if s := r.prop("CircuitBreaker", "rules"); s != nil {
		s.MinItems, s.MaxItems = ptr(1), ptr(1)
	}
	r.require("CircuitBreaker", "rules")
	r.require("BreakerRule", "tripDuration", "failureCondition")

	r.intRange("FailureCondition", "count", 1, model.MaxBreakerCount, nil)
	r.intRange("FailureCondition", "percentage", 1, 100, nil)
	r.require("FailureCondition", "interval")
	if d := r.def("FailureCondition"); d != nil {
		// A field written without a value is absent to the loader: "present" means present
		// and not null here.
		d.OneOf = []*jsonschema.Schema{given("count", "integer"), given("percentage", "integer")}
		d.AnyOf = []*jsonschema.Schema{given("errorReasons", "array"), given("statusCodeRanges", "array")}
	}
	r.intRange("StatusRange", "min", 100, 599, nil)
	r.intRange("StatusRange", "max", 100, 599, nil)
	r.require("StatusRange", "min")

	r.require("Backend", "name", "url")
	r.require("Pool", "name", "services")
	if s := r.prop("Pool", "services"); s != nil {
		s.MinItems = ptr(1)
	}
	r.setDefault("Pool", "preferLocalRegion", false)
	r.require("PoolMember", "backend")
	r.intRange("PoolMember", "priority", 0, model.MaxPriority, 0)
	r.intRange("PoolMember", "weight", 1, model.MaxWeight, model.DefaultWeight)

	r.require("API", "name", "backend")
	for _, f := range []string{"pathPrefix", "rewritePrefix"} {
		if s := r.prop("API", f); s != nil {
			s.Pattern = pathPattern
		}
	}
	r.setDefault("API", "pathPrefix", model.DefaultPath)
	r.setDefault("API", "hosts", []string{model.DefaultHost})
	r.require("Retry", "count")
	r.intRange("Retry", "count", 1, model.MaxRetryCount, nil)
	var ranges []map[string]int
	for _, sr := range model.DefaultRetryStatusCodeRanges {
		ranges = append(ranges, map[string]int{"min": sr.Min, "max": sr.Max})
	}
	r.setDefault("Retry", "statusCodeRanges", ranges)
	if d := r.def("Retry"); d != nil {
		d.DependentRequired = map[string][]string{"maxInterval": {"interval"}, "delta": {"interval"}}
	}
	r.setDefault("Retry", "errorReasons", model.DefaultRetryErrorReasons)
	for _, f := range []string{"firstFastRetry", "bufferRequestBody"} {
		r.setDefault("Retry", f, false)
	}
	r.setDefault("BreakerRule", "acceptRetryAfter", false)
	r.setDefault("BreakerRule", "scope", model.ScopeFleet)
	r.setDefault("Backend", "connectTimeout", model.DefaultConnectTimeout.String())
	r.setDefault("BackendTLS", "caFile", model.DefaultCAFile)
	if s := r.prop("BackendTLS", "caFile"); s != nil {
		s.Pattern = absPathPattern
	}

	r.require("Listener", "name", "port", "apis")
	r.intRange("Listener", "port", 1, 65535, nil)
	r.setDefault("Listener", "address", model.DefaultAddress)
	if r.err == nil {
		allowNull(root)
	}
	return r.err
}

// allowNull lets every field be written without a value (YAML null), which the loader
// reads as absent: "retry:" alone is not an error while the editor's user is typing.
// List entries stay non-null, as the loader rejects an empty entry.
func allowNull(root *jsonschema.Schema) {
	null := func() *jsonschema.Schema { return &jsonschema.Schema{Type: "null"} }
	for _, d := range root.Definitions {
		if d.Properties == nil {
			continue
		}
		for pair := d.Properties.Oldest(); pair != nil; pair = pair.Next() {
			s := pair.Value
			switch {
			case s.Ref != "":
				pair.Value = &jsonschema.Schema{
					AnyOf:       []*jsonschema.Schema{{Ref: s.Ref}, null()},
					Description: s.Description,
				}
			case s.Type != "":
				if s.Extras == nil {
					s.Extras = map[string]any{}
				}
				s.Extras["type"] = []string{s.Type, "null"}
				s.Type = ""
			default:
				if types, ok := s.Extras["type"].([]string); ok {
					s.Extras["type"] = append(types, "null")
				}
			}
		}
	}
}

// nameString lets a name be written as a number, which the loader reads as its text
// (a name like 2024), and checks a string against the name rules.
func nameString(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	s.Type = ""
	s.Extras = map[string]any{"type": []string{"string", "number"}}
	s.Pattern = namePattern
	s.MinLength, s.MaxLength = ptr(1), ptr(model.MaxNameLen)
}

// given matches an object whose field is present with a value of type typ.
func given(field, typ string) *jsonschema.Schema {
	props := jsonschema.NewProperties()
	props.Set(field, &jsonschema.Schema{Type: typ})
	return &jsonschema.Schema{Required: []string{field}, Properties: props}
}

type refiner struct {
	root *jsonschema.Schema
	err  error
}

func (r *refiner) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("schema: "+format, args...)
	}
}

func (r *refiner) def(name string) *jsonschema.Schema {
	d := r.root.Definitions[name]
	if d == nil {
		r.fail("no definition %q in the model types", name)
	}
	return d
}

func (r *refiner) prop(def, field string) *jsonschema.Schema {
	d := r.def(def)
	if d == nil {
		return nil
	}
	s, ok := d.Properties.Get(field)
	if !ok {
		r.fail("%s has no field %q", def, field)
		return nil
	}
	return s
}

func (r *refiner) require(def string, fields ...string) {
	for _, f := range fields {
		if r.prop(def, f) != nil {
			d := r.def(def)
			d.Required = append(d.Required, f)
		}
	}
}

// intRange bounds an integer field and sets its default unless def is nil.
func (r *refiner) intRange(def, field string, lo, hi int, dflt any) {
	s := r.prop(def, field)
	if s == nil {
		return
	}
	if s.Type != "integer" {
		r.fail("%s.%s is %q, not an integer", def, field, s.Type)
		return
	}
	s.Minimum, s.Maximum = json.Number(strconv.Itoa(lo)), json.Number(strconv.Itoa(hi))
	if dflt != nil {
		s.Default = dflt
	}
}

func (r *refiner) setDefault(def, field string, v any) {
	if s := r.prop(def, field); s != nil {
		s.Default = v
	}
}

func ptr(n int) *uint64 { u := uint64(n); return &u }
