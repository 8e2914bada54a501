package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Limits of the model; APIM's where APIM has one.
const (
	MaxNameLen      = 100
	MaxPriority     = 100 // priorities are 0–100, as in APIM
	MaxWeight       = 100 // weights are 1–100: APIM allows 0, Envoy does not
	MaxBreakerCount = 10000
	MaxRetryCount   = 50 // APIM's retry policy: count is 1–50
	DefaultWeight   = 1
	DefaultAddress  = "0.0.0.0"
	DefaultPath     = "/"
	DefaultHost     = "*"
	// DefaultConnectTimeout is a cluster's connect timeout when none of its backends sets
	// one. It leaves room for one lost SYN (Linux retransmits after 1 s)
	// and is well below Envoy's 5 s default, which every retry of a black-holed backend
	// would pay.
	DefaultConnectTimeout = 2 * time.Second
	MaxConnectTimeout     = time.Minute
	// DefaultCAFile is the CA bundle of Debian-based images, the envoyproxy/envoy image
	// included.
	DefaultCAFile = "/etc/ssl/certs/ca-certificates.crt"
)

const nameCharsWant = "1–100 of A-Z a-z 0-9 . _ -"

// errorReasonsWant lists ErrorReasons for messages: "BackendConnectionFailure or Timeout".
var errorReasonsWant = OneOf(ErrorReasons)

// OneOf lists a closed set's values as a message's "want" part: "a", "a or b", "a, b or c".
func OneOf[T ~string](values []T) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// DefaultRetryStatusCodeRanges and DefaultRetryErrorReasons are a retry's conditions when
// it names none: the backend could not be reached, or a gateway status says it failed.
// Other 5xx are not retried by default: the backend may have done the work already.
var (
	DefaultRetryStatusCodeRanges = []StatusRange{{Min: 502, Max: 504}}
	DefaultRetryErrorReasons     = []ErrorReason{BackendConnectionFailure}
)

// report adds an error at field of the element at l, unless that field or the element
// already failed to decode (its error is reported already).
func (ld *loader) report(l loc, field, msg string) {
	pos, path := l.at(field)
	if ld.failed(l, "", field) {
		return
	}
	ld.errs.add(pos, path, msg)
}

// failed reports whether any of fields of the element at l ("" is the element itself)
// failed to decode: a check that reads them would only repeat that error.
func (ld *loader) failed(l loc, fields ...string) bool {
	for _, f := range fields {
		if _, path := l.at(f); ld.errs.isBad(l.file, path) {
			return true
		}
	}
	return false
}

func (ld *loader) validate(m *Model) {
	// Backends and pools share one namespace: an API's backend may name either.
	targets := map[string]loc{}
	const shared = "; backends and pools share one namespace"
	checkUnique(ld, targets, "backend", shared, m.Backends, func(b *Backend) string { return b.Name })
	checkUnique(ld, targets, "pool", shared, m.Pools, func(p *Pool) string { return p.Name })
	checkUnique(ld, map[string]loc{}, "API", "", m.APIs, func(a *API) string { return a.Name })
	checkUnique(ld, map[string]loc{}, "listener", "", m.Listeners, func(l *Listener) string { return l.Name })

	ld.ix = NewIndex(m)
	for _, b := range m.Backends {
		ld.validateBackend(b)
	}
	for _, p := range m.Pools {
		ld.validatePool(p)
	}
	for _, a := range m.APIs {
		ld.validateAPI(a)
	}
	ld.validateListeners(m)
}

// checkUnique checks each element's name (required, charset, length) and that it is
// unique within seen, which may be shared between kinds; note ends a duplicate's message.
func checkUnique[T comparable](ld *loader, seen map[string]loc, what, note string, elems []T, name func(T) string) {
	for _, e := range elems {
		l := ld.locs[e]
		n := name(e)
		if !ld.checkName(l, "name", n, what) {
			continue
		}
		if first, dup := seen[n]; dup {
			pos, _ := first.at("name")
			ld.report(l, "name", fmt.Sprintf("duplicate name %q: %s already has it (%s)%s", n, first.path, pos, note))
			continue
		}
		seen[n] = l
	}
}

func (ld *loader) checkName(l loc, field, name, what string) bool {
	switch {
	case name == "":
		ld.report(l, field, fmt.Sprintf("is required: the %s's name (%s)", what, nameCharsWant))
		return false
	case len(name) > MaxNameLen:
		ld.report(l, field, fmt.Sprintf("is %d characters long; at most %d are allowed", len(name), MaxNameLen))
		return false
	case !nameRE.MatchString(name):
		ld.report(l, field, fmt.Sprintf("%q is not a valid name: use %s", clip(name), nameCharsWant))
		return false
	}
	return true
}

func (ld *loader) validateBackend(b *Backend) {
	l := ld.locs[b]
	ld.validateURL(l, b)
	if b.Region != "" && (len(b.Region) > MaxNameLen || !nameRE.MatchString(b.Region)) {
		ld.report(l, "region", fmt.Sprintf("%q is not a valid region: use %s", clip(b.Region), nameCharsWant))
	}
	if b.Credentials != nil {
		ld.validateHeaders(l.sub("credentials"), b.Credentials.Header)
	}
	if b.CircuitBreaker != nil {
		ld.validateBreaker(l.sub("circuitBreaker"), b.CircuitBreaker)
	}
	if l.has("connectTimeout") && (b.ConnectTimeout.Duration <= 0 || b.ConnectTimeout.Duration > MaxConnectTimeout) {
		ld.report(l, "connectTimeout", fmt.Sprintf("%s is out of range (more than 0, at most %s)", b.ConnectTimeout.Duration, MaxConnectTimeout))
	}
	ld.validateTLS(l, b)
}

// validateTLS checks tls and defaults its CA bundle for https backends.
func (ld *loader) validateTLS(l loc, b *Backend) {
	if b.TLS != nil && b.Endpoint.Scheme == HTTP {
		ld.report(l, "tls", "applies to https backends only; this backend's url is http")
		return
	}
	if b.Endpoint.Scheme != HTTPS {
		return
	}
	if b.TLS == nil {
		b.TLS = &BackendTLS{}
	}
	tl := l.sub("tls")
	switch ca := b.TLS.CAFile; {
	case ca == "":
		b.TLS.CAFile = DefaultCAFile
	case !strings.HasPrefix(ca, "/") || strings.ContainsAny(ca, "\x00\n") || len(ca) > 4096:
		ld.report(tl, "caFile", fmt.Sprintf("%q is not an absolute path on the proxy (e.g. %s)", clip(ca), DefaultCAFile))
	}
}

// urlWant is "want http://host[:port][/path] or https://host[:port][/path]", from Schemes.
var urlWant = func() string {
	forms := make([]string, len(Schemes))
	for i, s := range Schemes {
		forms[i] = string(s) + "://host[:port][/path]"
	}
	return "want " + OneOf(forms)
}()

// validateURL checks the backend URL and fills Endpoint. Messages never quote the whole
// URL: it might carry a password.
func (ld *loader) validateURL(l loc, b *Backend) {
	if b.URL == "" {
		ld.report(l, "url", "is required: "+urlWant)
		return
	}
	u, err := url.Parse(b.URL)
	if err != nil || u.Opaque != "" || u.Host == "" && u.Scheme == "" {
		ld.report(l, "url", "is not a valid URL: "+urlWant)
		return
	}
	if u.User != nil {
		ld.report(l, "url", "must not contain user info; put credentials in credentials.header")
		return
	}
	scheme := Scheme(strings.ToLower(u.Scheme))
	if !scheme.Valid() {
		ld.report(l, "url", fmt.Sprintf("scheme %q is not supported: %s", clip(u.Scheme), urlWant))
		return
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		ld.report(l, "url", "must not have a query or fragment: "+urlWant)
		return
	}
	host := u.Hostname()
	if host == "" {
		ld.report(l, "url", "has no host: "+urlWant)
		return
	}
	ep := Endpoint{Scheme: scheme, Port: scheme.DefaultPort()}
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Zone() != "" {
			ld.report(l, "url", fmt.Sprintf("host %q has an IPv6 zone; zones are not supported", clip(host)))
			return
		}
		if addr.Is6() && !strings.HasPrefix(u.Host, "[") {
			ld.report(l, "url", "an IPv6 host must be in brackets, e.g. https://[2001:db8::1]:8443")
			return
		}
		ep.Host, ep.IsIP = addr.Unmap().String(), true
	} else if validDNSName(host) {
		ep.Host = strings.ToLower(strings.TrimSuffix(host, "."))
	} else {
		ld.report(l, "url", fmt.Sprintf("host %q is not an IP address or a DNS name", clip(host)))
		return
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			ld.report(l, "url", fmt.Sprintf("port %q is out of range (1–65535)", clip(p)))
			return
		}
		ep.Port = uint32(n)
	}
	if u.Path != "/" {
		ep.Path = u.Path
	}
	b.Endpoint = ep
}

// validDNSName reports whether s is a DNS name: dot-separated labels of letters, digits
// and hyphens, at most 253 characters, not all-numeric at the end (that is a bad IP).
func validDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, lab := range labels {
		if lab == "" || len(lab) > 63 || lab[0] == '-' || lab[len(lab)-1] == '-' {
			return false
		}
		for _, c := range lab {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

// reservedHeaders are set by Envoy or by HTTP itself; a credential must not replace them.
var reservedHeaders = []string{"host", "connection", "keep-alive", "proxy-connection",
	"transfer-encoding", "upgrade", "te", "content-length"}

func (ld *loader) validateHeaders(l loc, headers map[string]Secret) {
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	// Report in the order written, so errors come out in line order.
	slices.SortFunc(names, func(a, b string) int {
		pa, _ := l.at("header." + a)
		pb, _ := l.at("header." + b)
		return cmp.Or(cmp.Compare(pa.Line, pb.Line), cmp.Compare(pa.Column, pb.Column), cmp.Compare(a, b))
	})
	seen := map[string]string{}
	for _, n := range names {
		field := "header." + n
		lower := strings.ToLower(n)
		switch {
		case !validToken(n):
			ld.report(l, field, fmt.Sprintf("%q is not a valid HTTP header name (letters, digits and !#$%%&'*+-.^_`|~)", clip(n)))
			continue
		case slices.Contains(reservedHeaders, lower):
			ld.report(l, field, fmt.Sprintf("header %q is managed by Envoy and cannot be set as a credential", n))
			continue
		}
		if first, dup := seen[lower]; dup {
			ld.report(l, field, fmt.Sprintf("header %q is also set as %q (header names are case-insensitive)", n, first))
			continue
		}
		seen[lower] = n
		v := headers[n].Reveal()
		if v == "" {
			ld.report(l, field, "the value is empty")
		} else if strings.ContainsAny(v, "\r\n\x00") {
			ld.report(l, field, "the value contains a line break or NUL, which a header value cannot")
		}
	}
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", c):
		default:
			return false
		}
	}
	return true
}

func (ld *loader) validateBreaker(l loc, cb *CircuitBreaker) {
	switch len(cb.Rules) {
	case 0:
		ld.report(l, "rules", "is required: exactly one rule (APIM supports one rule per backend)")
		return
	case 1:
	default:
		ld.report(l, "rules", fmt.Sprintf("has %d rules; exactly one is allowed (APIM supports one rule per backend)", len(cb.Rules)))
		return
	}
	r := cb.Rules[0]
	if r == nil {
		return
	}
	rl := l.sub("rules[0]")
	if r.Name != "" {
		ld.checkName(rl, "name", r.Name, "rule")
	}
	if r.TripDuration.Duration <= 0 {
		ld.report(rl, "tripDuration", "is required and must be more than 0 (e.g. PT30S)")
	}
	switch {
	case !rl.has("scope"):
		r.Scope = ScopeFleet
	case !slices.Contains(BreakerScopes, r.Scope):
		ld.report(rl, "scope", fmt.Sprintf("%q is not a scope (want %s)", clip(string(r.Scope)), scopesWant()))
	}
	if !rl.has("failureCondition") {
		ld.report(rl, "failureCondition", "is required: count or percentage, interval, and errorReasons or statusCodeRanges")
		return
	}
	fl := rl.sub("failureCondition")
	fc := &r.FailureCondition
	hasCount, hasPct := fl.has("count"), fl.has("percentage")
	switch {
	case hasCount && hasPct:
		ld.report(fl, "", fmt.Sprintf("set count (1–%d) or percentage (1–100), not both", MaxBreakerCount))
	case !hasCount && !hasPct:
		ld.report(fl, "", fmt.Sprintf("needs count (1–%d) or percentage (1–100)", MaxBreakerCount))
	case hasCount && (fc.Count < 1 || fc.Count > MaxBreakerCount):
		ld.report(fl, "count", fmt.Sprintf("%d is out of range (1–%d)", fc.Count, MaxBreakerCount))
	case hasPct && (fc.Percentage < 1 || fc.Percentage > 100):
		ld.report(fl, "percentage", fmt.Sprintf("%d is out of range (1–100)", fc.Percentage))
	}
	if fc.Interval.Duration <= 0 {
		ld.report(fl, "interval", "is required and must be more than 0 (e.g. PT15S)")
	}
	ld.validateReasons(fl, fc.ErrorReasons)
	ld.validateRanges(fl, fc.StatusCodeRanges)
	if len(fc.ErrorReasons)+len(fc.StatusCodeRanges) == 0 && !ld.failed(fl, "errorReasons", "statusCodeRanges") {
		ld.report(fl, "", "needs errorReasons ("+errorReasonsWant+") or statusCodeRanges, or both")
	}
}

// scopesWant lists the allowed breaker scopes, e.g. "fleet (the default) or region".
func scopesWant() string {
	scopes := slices.Clone(BreakerScopes)
	scopes[0] += " (the default)"
	return OneOf(scopes)
}

func (ld *loader) validateReasons(l loc, reasons []ErrorReason) {
	for i, r := range reasons {
		if !r.Valid() {
			ld.report(l, fmt.Sprintf("errorReasons[%d]", i), fmt.Sprintf("%q is not an error reason (want %s)", clip(string(r)), errorReasonsWant))
		}
	}
}

// validateRanges checks status ranges and defaults an absent max to min.
func (ld *loader) validateRanges(l loc, ranges []StatusRange) {
	for i := range ranges {
		r := &ranges[i]
		rl := l.sub(fmt.Sprintf("statusCodeRanges[%d]", i))
		if !rl.has("min") {
			ld.report(rl, "min", "is required: a status code 100–599")
			continue
		}
		if !rl.has("max") {
			r.Max = r.Min
		}
		ok := true
		for _, f := range []struct {
			name string
			v    int
		}{{"min", r.Min}, {"max", r.Max}} {
			if f.v < 100 || f.v > 599 {
				if rl.has(f.name) {
					ld.report(rl, f.name, fmt.Sprintf("%d is out of range (100–599)", f.v))
				}
				ok = false
			}
		}
		if ok && r.Min > r.Max {
			ld.report(rl, "", fmt.Sprintf("min %d is more than max %d", r.Min, r.Max))
		}
	}
}

func (ld *loader) validatePool(p *Pool) {
	l := ld.locs[p]
	if len(p.Services) == 0 {
		ld.report(l, "services", "needs at least one service: {backend: NAME, priority: 0–100, weight: 1–100}")
		return
	}
	members := map[string]string{} // backend name → services[i]
	addrs := map[string]string{}   // scheme://host:port → backend name
	for i, s := range p.Services {
		if s == nil {
			continue
		}
		sl := l.sub(fmt.Sprintf("services[%d]", i))
		switch {
		case s.Backend == "":
			ld.report(sl, "backend", "is required: the name of a backend")
		case ld.ix.Backend(s.Backend) == nil && ld.ix.Pool(s.Backend) != nil:
			ld.report(sl, "backend", fmt.Sprintf("%q is a pool; a pool's services must be backends (APIM pools don't nest)", clip(s.Backend)))
		case ld.ix.Backend(s.Backend) == nil:
			ld.report(sl, "backend", fmt.Sprintf("no backend named %q", clip(s.Backend)))
		default:
			if first, dup := members[s.Backend]; dup {
				ld.report(sl, "backend", fmt.Sprintf("backend %q is already in this pool (%s)", s.Backend, first))
				break
			}
			members[s.Backend] = fmt.Sprintf("services[%d]", i)
			if ep := ld.ix.Backend(s.Backend).Endpoint; ep.Host != "" {
				key := fmt.Sprintf("%s://%s:%d", ep.Scheme, ep.Host, ep.Port)
				if other, dup := addrs[key]; dup {
					ld.report(sl, "backend", fmt.Sprintf("backend %q has the same address as backend %q in this pool; gRPC clients reject an address twice in one cluster", s.Backend, other))
				}
				addrs[key] = s.Backend
			}
		}
		if s.Priority < 0 || s.Priority > MaxPriority {
			ld.report(sl, "priority", fmt.Sprintf("%d is out of range (0–%d; lower is preferred)", s.Priority, MaxPriority))
		}
		switch {
		case !sl.has("weight"):
			s.Weight = DefaultWeight
		case s.Weight == 0:
			ld.report(sl, "weight", fmt.Sprintf("weight 0 is not valid in Envoy; use 1–%d", MaxWeight))
		case s.Weight < 1 || s.Weight > MaxWeight:
			ld.report(sl, "weight", fmt.Sprintf("%d is out of range (1–%d)", s.Weight, MaxWeight))
		}
	}
}

func (ld *loader) validateAPI(a *API) {
	l := ld.locs[a]
	if a.PathPrefix == "" {
		a.PathPrefix = DefaultPath
	} else {
		ld.checkPath(l, "pathPrefix", a.PathPrefix)
	}
	switch {
	case a.Backend == "":
		ld.report(l, "backend", "is required: the name of a backend or a pool")
	case ld.ix.Backend(a.Backend) == nil && ld.ix.Pool(a.Backend) == nil:
		ld.report(l, "backend", fmt.Sprintf("no backend or pool named %q", clip(a.Backend)))
	}
	if a.RewritePrefix != "" {
		ld.checkPath(l, "rewritePrefix", a.RewritePrefix)
	}
	if len(a.Hosts) == 0 {
		a.Hosts = []string{DefaultHost}
	} else {
		seen := map[string]bool{}
		for i, h := range a.Hosts {
			f := fmt.Sprintf("hosts[%d]", i)
			switch {
			case !validHost(h):
				ld.report(l, f, fmt.Sprintf("%q is not a host: want *, a DNS name, *.suffix, prefix.*, an IPv4 address or [IPv6 address], with an optional :port", clip(h)))
			case seen[strings.ToLower(h)]:
				ld.report(l, f, fmt.Sprintf("host %q is listed twice", h))
			}
			seen[strings.ToLower(h)] = true
		}
	}
	if a.Retry != nil {
		ld.validateRetry(l.sub("retry"), a.Retry)
	}
}

func (ld *loader) checkPath(l loc, field, p string) {
	switch {
	case !strings.HasPrefix(p, "/"):
		ld.report(l, field, fmt.Sprintf("%q must start with /", clip(p)))
	case strings.ContainsFunc(p, func(c rune) bool { return c == '?' || c == '#' || c == ' ' || unicode.IsControl(c) }):
		ld.report(l, field, fmt.Sprintf("%q must not contain ?, #, spaces or control characters", clip(p)))
	}
}

// validHost accepts what Envoy accepts as a virtual host domain: "*", a DNS name,
// "*.suffix" or "prefix.*" (wildcard at one end), an IPv4 address or an IPv6 address in
// brackets (as a Host header writes it), each with an optional ":port".
func validHost(h string) bool {
	if h == "*" {
		return true
	}
	name := h
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		n, err := strconv.Atoi(h[i+1:])
		if err != nil || n < 1 || n > 65535 {
			return false
		}
		name = h[:i]
	}
	if v6, ok := strings.CutPrefix(name, "["); ok {
		v6, closed := strings.CutSuffix(v6, "]")
		addr, err := netip.ParseAddr(v6)
		return closed && err == nil && addr.Is6() && addr.Zone() == ""
	}
	if addr, err := netip.ParseAddr(name); err == nil {
		return addr.Is4() // a bare IPv6 address would be ambiguous with a port
	}
	switch {
	case strings.HasPrefix(name, "*."):
		name = name[2:]
	case strings.HasSuffix(name, ".*"):
		name = name[:len(name)-2] + ".x"
	}
	return validDNSName(name)
}

func (ld *loader) validateRetry(l loc, r *Retry) {
	switch {
	case !l.has("count"):
		ld.report(l, "count", fmt.Sprintf("is required: 1–%d retries (as in APIM)", MaxRetryCount))
	case r.Count < 1 || r.Count > MaxRetryCount:
		ld.report(l, "count", fmt.Sprintf("%d is out of range (1–%d, as in APIM)", r.Count, MaxRetryCount))
	}
	if r.Interval.Duration == 0 {
		for _, f := range []string{"maxInterval", "delta"} {
			if l.has(f) {
				ld.report(l, f, "needs interval (the first back-off interval)")
			}
		}
	} else if r.MaxInterval.Set() && r.MaxInterval.Duration < r.Interval.Duration {
		ld.report(l, "maxInterval", fmt.Sprintf("%s is less than interval %s", r.MaxInterval.Duration, r.Interval.Duration))
	}
	ld.validateReasons(l, r.ErrorReasons)
	ld.validateRanges(l, r.StatusCodeRanges)
	if !l.has("statusCodeRanges") && !l.has("errorReasons") {
		r.StatusCodeRanges = slices.Clone(DefaultRetryStatusCodeRanges)
		r.ErrorReasons = slices.Clone(DefaultRetryErrorReasons)
	} else if len(r.StatusCodeRanges)+len(r.ErrorReasons) == 0 && !ld.failed(l, "statusCodeRanges", "errorReasons") {
		ld.report(l, "", "the empty statusCodeRanges and errorReasons retry nothing; name at least one, or leave both out for the default (502–504 and BackendConnectionFailure)")
	}
}

func (ld *loader) validateListeners(m *Model) {
	type bound struct {
		addr netip.Addr
		port int
		name string
		l    loc
	}
	var bounds []bound
	for _, ls := range m.Listeners {
		l := ld.locs[ls]
		if !l.has("port") {
			ld.report(l, "port", "is required: 1–65535")
		} else if ls.Port < 1 || ls.Port > 65535 {
			ld.report(l, "port", fmt.Sprintf("%d is out of range (1–65535)", ls.Port))
		}
		if ls.Address == "" {
			ls.Address = DefaultAddress
		}
		addr, err := netip.ParseAddr(ls.Address)
		if err != nil || addr.Zone() != "" {
			ld.report(l, "address", fmt.Sprintf("%q is not an IP address (e.g. 0.0.0.0, 127.0.0.1, ::)", clip(ls.Address)))
		} else if ls.Port >= 1 && ls.Port <= 65535 {
			addr = addr.Unmap()
			for _, b := range bounds {
				if b.port == ls.Port && b.addr.Is4() == addr.Is4() &&
					(b.addr == addr || b.addr.IsUnspecified() || addr.IsUnspecified()) {
					pos, _ := b.l.at("port")
					ld.report(l, "port", fmt.Sprintf("%s port %d overlaps listener %q on %s (%s)", addr, ls.Port, b.name, b.addr, pos))
					break
				}
			}
			bounds = append(bounds, bound{addr, ls.Port, ls.Name, l})
		}
		if len(ls.APIs) == 0 {
			ld.report(l, "apis", "needs at least one API name")
		}
		ld.validateListenerAPIs(l, ls)
	}
}

func (ld *loader) validateListenerAPIs(l loc, ls *Listener) {
	listed := map[string]int{}
	routes := map[string]string{} // host + path prefix → API name
	for i, name := range ls.APIs {
		f := fmt.Sprintf("apis[%d]", i)
		a := ld.ix.API(name)
		if a == nil {
			ld.report(l, f, fmt.Sprintf("no API named %q", clip(name)))
			continue
		}
		if first, dup := listed[name]; dup {
			ld.report(l, f, fmt.Sprintf("API %q is listed twice (also apis[%d])", name, first))
			continue
		}
		listed[name] = i
		for _, h := range a.Hosts {
			key := strings.ToLower(h) + " " + a.PathPrefix
			if other, dup := routes[key]; dup {
				ld.report(l, f, fmt.Sprintf("API %q and API %q both route host %q path prefix %q; one would never be used", name, other, h, a.PathPrefix))
				break
			}
			routes[key] = name
		}
	}
}
