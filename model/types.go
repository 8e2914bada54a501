// Package model holds poolpilot's user-facing schema: the backends, pools, APIs and
// listeners an operator writes in model files, with the names of Azure API Management's
// load-balanced pools, backend circuit breakers and retry policy.
//
// A *Model returned by Load is fully validated, defaulted and has its secrets resolved;
// the translator relies on that and re-checks nothing.
package model

import (
	"fmt"
	"slices"
	"time"
)

// Pos is where a value was written: the model file and the 1-based line and column.
type Pos struct {
	File   string
	Line   int
	Column int
}

// String is "file:line", "file" when the line is unknown, "line N" without a file.
func (p Pos) String() string {
	switch {
	case p.File == "" && p.Line == 0:
		return ""
	case p.File == "":
		return fmt.Sprintf("line %d", p.Line)
	case p.Line == 0:
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Model is the merged content of one model file or a directory of *.yaml files.
// Slices keep the order of the files (sorted by name) and of the entries within them.
type Model struct {
	Backends  []*Backend  `yaml:"backends"`
	Pools     []*Pool     `yaml:"pools"`
	APIs      []*API      `yaml:"apis"`
	Listeners []*Listener `yaml:"listeners"`
}

// Backend is one upstream service (an APIM backend entity).
type Backend struct {
	Name           string          `yaml:"name"`
	URL            string          `yaml:"url"`
	Region         string          `yaml:"region"`
	Credentials    *Credentials    `yaml:"credentials"`
	CircuitBreaker *CircuitBreaker `yaml:"circuitBreaker"`
	// ConnectTimeout bounds each connection attempt (beyond APIM): a black-holed backend
	// costs this long before the connection-failure retry. A pool's cluster takes the
	// longest its members set, DefaultConnectTimeout when none sets one.
	ConnectTimeout Duration `yaml:"connectTimeout"`
	// TLS tunes certificate verification of an https backend.
	TLS *BackendTLS `yaml:"tls"`

	// Endpoint is URL parsed by Load.
	Endpoint Endpoint `yaml:"-"`
	Pos      Pos      `yaml:"-"`
}

// Endpoint is a backend URL taken apart. Port is the URL's port or the scheme's default.
type Endpoint struct {
	Scheme Scheme
	Host   string // IP literal or DNS name, without brackets
	Port   uint32
	IsIP   bool   // Host is an IP literal
	Path   string // the URL's path, "" when none
}

// BackendTLS is how the proxy verifies an https backend's certificate.
type BackendTLS struct {
	// CAFile is the PEM bundle of trusted CAs on the proxy's file system; Load defaults it
	// to DefaultCAFile.
	CAFile string `yaml:"caFile"`
}

// Credentials are added to every request sent to the backend.
type Credentials struct {
	// Header maps a header name to its value. Values are secrets: resolved by Load from
	// ${ENV_VAR} or ${file:/path} references, and redacted by Secret.String.
	Header map[string]Secret `yaml:"header"`
}

// Secret is a resolved secret value. It never prints its value: use Reveal.
type Secret struct {
	// Ref is the reference as written with any default left out, e.g.
	// "${FUNC_PRIMARY_KEY}" for "${FUNC_PRIMARY_KEY:-demo}"; "" for a literal.
	Ref string
	// Defaulted is set when a ${VAR:-default} used its default (VAR unset or empty).
	Defaulted bool
	value     string
}

// NewSecret returns a Secret holding value, written in the model as ref.
func NewSecret(ref, value string) Secret { return Secret{Ref: ref, value: value} }

// Reveal returns the secret's value. Call it only where the value goes to Envoy.
func (s Secret) Reveal() string { return s.value }

// String redacts the value so a secret never reaches a log by accident.
func (s Secret) String() string { return "[redacted]" }

// GoString redacts the value for %#v as well.
func (s Secret) GoString() string { return "model.Secret{[redacted]}" }

// Format redacts the value for every verb: without it %d or %x would print the
// struct's fields, value included.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, s.String())
}

// CircuitBreaker is an APIM backend circuit breaker. APIM supports one rule per backend.
type CircuitBreaker struct {
	Rules []*BreakerRule `yaml:"rules"`
}

// BreakerRule trips the backend when FailureCondition holds, for TripDuration.
type BreakerRule struct {
	Name             string           `yaml:"name"`
	TripDuration     Duration         `yaml:"tripDuration"`
	AcceptRetryAfter bool             `yaml:"acceptRetryAfter"`
	FailureCondition FailureCondition `yaml:"failureCondition"`
	// Scope is whose reports the fleet breaker sums and whom a trip affects; the loader
	// sets ScopeFleet when it is absent.
	Scope BreakerScope `yaml:"scope"`
	Pos   Pos          `yaml:"-"`
}

// BreakerScope says which proxies' load reports a rule sums and whom its trip affects.
type BreakerScope string

const (
	// ScopeFleet sums every proxy's reports; a trip takes the backend out for every proxy.
	ScopeFleet BreakerScope = "fleet"
	// ScopeRegion sums each region's reports alone; a trip takes the backend out only
	// for the proxies of the region whose reports tripped it.
	ScopeRegion BreakerScope = "region"
)

// BreakerScopes are the allowed scopes, the default first.
var BreakerScopes = []BreakerScope{ScopeFleet, ScopeRegion}

// FailureCondition says which responses count as failures and how many trip the breaker.
// Exactly one of Count and Percentage is set (> 0).
type FailureCondition struct {
	Count            int           `yaml:"count"`
	Percentage       int           `yaml:"percentage"`
	Interval         Duration      `yaml:"interval"`
	ErrorReasons     []ErrorReason `yaml:"errorReasons"`
	StatusCodeRanges []StatusRange `yaml:"statusCodeRanges"`
}

// ErrorReason is a failure that is not an HTTP status.
type ErrorReason string

const (
	// BackendConnectionFailure: the connection to the backend failed or was reset.
	BackendConnectionFailure ErrorReason = "BackendConnectionFailure"
	// Timeout: the backend did not answer in time.
	Timeout ErrorReason = "Timeout"
)

// ErrorReasons is every ErrorReason, breaker and retry alike: validation, the JSON
// schema's enum and the translator's exhaustiveness test all read this list, so a new
// reason is added here and then handled wherever the translator tests say it is not.
var ErrorReasons = []ErrorReason{BackendConnectionFailure, Timeout}

// Valid reports whether r is one of ErrorReasons.
func (r ErrorReason) Valid() bool { return slices.Contains(ErrorReasons, r) }

// Scheme is a backend URL's scheme.
type Scheme string

const (
	HTTP  Scheme = "http"
	HTTPS Scheme = "https"
)

// Schemes is every Scheme a backend URL may have; validation and the translator's
// exhaustiveness test read it.
var Schemes = []Scheme{HTTP, HTTPS}

// Valid reports whether s is one of Schemes.
func (s Scheme) Valid() bool { return slices.Contains(Schemes, s) }

// DefaultPort is the port of a URL of scheme s that names none.
func (s Scheme) DefaultPort() uint32 {
	if s == HTTPS {
		return 443
	}
	return 80
}

// StatusRange is an inclusive range of HTTP status codes, 100..599.
type StatusRange struct {
	Min int `yaml:"min"`
	Max int `yaml:"max"`
}

// Pool is an APIM load-balanced pool: a backend that spreads requests over members.
type Pool struct {
	Name string `yaml:"name"`
	// PreferLocalRegion moves the members in the proxy's own region to the top priority.
	PreferLocalRegion bool          `yaml:"preferLocalRegion"`
	Services          []*PoolMember `yaml:"services"`
	Pos               Pos           `yaml:"-"`
}

// PoolMember is one backend in a pool. Lower Priority is preferred (APIM); Weight
// spreads load within a priority. Load defaults Priority to 0 and Weight to 1.
type PoolMember struct {
	Backend  string `yaml:"backend"`
	Priority int    `yaml:"priority"`
	Weight   int    `yaml:"weight"`
	Pos      Pos    `yaml:"-"`
}

// API routes a path prefix to a backend or a pool (APIM set-backend-service).
type API struct {
	Name       string `yaml:"name"`
	PathPrefix string `yaml:"pathPrefix"`
	// Backend names a backend or a pool.
	Backend       string `yaml:"backend"`
	RewritePrefix string `yaml:"rewritePrefix"`
	// Hosts are the virtual host's domains; Load defaults them to ["*"].
	Hosts []string `yaml:"hosts"`
	// Timeout bounds the whole request, retries included; 0 keeps Envoy's default (15s).
	Timeout Duration `yaml:"timeout"`
	Retry   *Retry   `yaml:"retry"`
	Pos     Pos      `yaml:"-"`
}

// Retry is the APIM retry policy.
type Retry struct {
	Count          int      `yaml:"count"`
	Interval       Duration `yaml:"interval"`
	MaxInterval    Duration `yaml:"maxInterval"`
	Delta          Duration `yaml:"delta"`
	FirstFastRetry bool     `yaml:"firstFastRetry"`
	// PerTryTimeout bounds each attempt (beyond APIM): without it a hung backend holds
	// the request until the route timeout, and Timeout errors are never retried.
	PerTryTimeout     Duration      `yaml:"perTryTimeout"`
	StatusCodeRanges  []StatusRange `yaml:"statusCodeRanges"`
	ErrorReasons      []ErrorReason `yaml:"errorReasons"`
	BufferRequestBody bool          `yaml:"bufferRequestBody"`
	Pos               Pos           `yaml:"-"`
}

// Listener is a port the Envoy proxies listen on, serving some APIs.
type Listener struct {
	Name string `yaml:"name"`
	// Address defaults to "0.0.0.0".
	Address string   `yaml:"address"`
	Port    int      `yaml:"port"`
	APIs    []string `yaml:"apis"`
	Pos     Pos      `yaml:"-"`
}

// Duration accepts ISO-8601 durations as APIM writes them ("PT30S", "PT1M30S") and Go
// durations ("30s", "1m30s").
type Duration struct {
	time.Duration
}

// Set reports whether the duration was given (non-zero).
func (d Duration) Set() bool { return d.Duration != 0 }
