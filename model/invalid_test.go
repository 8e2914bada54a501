package model

import (
	"strings"
	"testing"
)

// baseModel is loaded before each invalid case, so cases can refer to b1, b2, p1, a1
// and l1 and stay small. Its lines never appear in the expected errors.
const baseModel = `backends:
  - {name: b1, url: "http://10.0.0.1:8080", region: r1}
  - {name: b2, url: "https://b2.example.com", region: r2}
pools:
  - name: p1
    services: [{backend: b1}, {backend: b2, priority: 1}]
apis:
  - {name: a1, backend: p1}
listeners:
  - {name: l1, port: 10000, apis: [a1]}
`

// loadCase loads baseModel and the case's YAML as two files of one model.
func loadCase(caseYAML string, opts ...Option) error {
	opts = append([]Option{
		fakeEnv(map[string]string{"EMPTY": "", "SET": "value-of-set"}),
		fakeFiles(map[string]string{"secrets/two-lines": "line1\nline2\n"}),
	}, opts...)
	_, err := LoadFiles([]File{{"base.yaml", []byte(baseModel)}, {"case.yaml", []byte(caseYAML)}}, opts...)
	return err
}

// One case per rule; each asserts the exact message, file:line and field.
var invalidCases = []struct {
	name, yaml, want string
}{
	// Decoding.
	{"unknown top-level field", "backend: []\n",
		`case.yaml:1: backend: unknown field "backend" (allowed: backends, pools, apis, listeners)`},
	{"unknown nested field", "backends:\n  - name: x\n    url: http://x\n    colour: red\n",
		`case.yaml:4: backends[0].colour: unknown field "colour" (allowed: name, url, region, credentials, circuitBreaker, connectTimeout, tls)`},
	{"integer field given a string", "listeners: [{name: l2, port: abc, apis: [a1]}]\n",
		`case.yaml:1: listeners[0].port: want an integer; got string "abc"`},
	{"bool field given a string", "pools: [{name: p2, preferLocalRegion: 'yes', services: [{backend: b1}]}]\n",
		`case.yaml:1: pools[0].preferLocalRegion: want true or false; got string "yes"`},
	{"string field given a bool", "backends: [{name: x, url: http://x, region: true}]\n",
		`case.yaml:1: backends[0].region: want a string; got boolean true`},
	{"list given a mapping", "backends: {name: x}\n",
		`case.yaml:1: backends: want a list; got a mapping`},
	{"mapping given a scalar", "backends: [x]\n",
		`case.yaml:1: backends[0]: want a mapping with name, url, region, credentials, circuitBreaker, connectTimeout, tls; got string "x"`},
	{"connectTimeout zero", "backends: [{name: x, url: http://x, connectTimeout: 0s}]\n",
		`case.yaml:1: backends[0].connectTimeout: 0s is out of range (more than 0, at most 1m0s)`},
	{"tls on an http backend", "backends: [{name: x, url: http://x, tls: {caFile: /ca.pem}}]\n",
		`case.yaml:1: backends[0].tls: applies to https backends only; this backend's url is http`},
	{"tls caFile relative", "backends: [{name: x, url: https://x, tls: {caFile: ca.pem}}]\n",
		`case.yaml:1: backends[0].tls.caFile: "ca.pem" is not an absolute path on the proxy (e.g. /etc/ssl/certs/ca-certificates.crt)`},
	{"top level not a mapping", "- a\n",
		`case.yaml:1: want a mapping with backends, pools, apis, listeners; got a list`},
	{"duplicate key", "backends:\n  - name: x\n    url: http://x\n    url: http://y\n",
		`case.yaml:4: backends[0].url: duplicate key (first at line 3)`},
	{"empty list entry", "backends:\n  -\n",
		`case.yaml:2: backends[0]: empty entry; remove it or fill it in`},
	{"merge key", "backends:\n  - <<: {name: x}\n    url: http://x\n",
		`case.yaml:2: backends[0]: merge keys (<<) are not supported; write the fields out`},
	{"YAML syntax error", "backends:\n  - name: x\n    url: http://x\n  bad\n",
		`case.yaml:4: YAML syntax: could not find expected ':'`},
	{"duration with no unit", "apis: [{name: a2, backend: b1, timeout: 30}]\n",
		`case.yaml:1: apis[0].timeout: 30 has no unit (want ISO-8601 like PT30S or Go like 30s)`},
	{"bad ISO duration", "apis: [{name: a2, backend: b1, timeout: PT3}]\n",
		`case.yaml:1: apis[0].timeout: "PT3" is not a duration (want ISO-8601 like PT30S or Go like 30s): number "3" has no unit`},
	{"negative duration", "apis: [{name: a2, backend: b1, timeout: -1s}]\n",
		`case.yaml:1: apis[0].timeout: "-1s" is negative; durations must be 0 or more`},

	// Names.
	{"name required", "backends: [{url: http://x}]\n",
		`case.yaml:1: backends[0].name: is required: the backend's name (1–100 of A-Z a-z 0-9 . _ -)`},
	{"name charset", "apis: [{name: 'my api', backend: b1}]\n",
		`case.yaml:1: apis[0].name: "my api" is not a valid name: use 1–100 of A-Z a-z 0-9 . _ -`},
	{"name too long", "listeners: [{name: " + strings.Repeat("n", 101) + ", port: 1, apis: [a1]}]\n",
		`case.yaml:1: listeners[0].name: is 101 characters long; at most 100 are allowed`},
	{"duplicate name across files", "backends:\n  - {name: b2, url: http://x}\n",
		`case.yaml:2: backends[0].name: duplicate name "b2": backends[1] already has it (base.yaml:3); backends and pools share one namespace`},
	{"pool named like a backend", "pools:\n  - {name: b1, services: [{backend: b2}]}\n",
		`case.yaml:2: pools[0].name: duplicate name "b1": backends[0] already has it (base.yaml:2); backends and pools share one namespace`},
	{"duplicate API name", "apis: [{name: a1, backend: b1}]\n",
		`case.yaml:1: apis[0].name: duplicate name "a1": apis[0] already has it (base.yaml:8)`},

	// Backend URL and region.
	{"url required", "backends: [{name: x}]\n",
		`case.yaml:1: backends[0].url: is required: want http://host[:port][/path] or https://host[:port][/path]`},
	{"url scheme", "backends: [{name: x, url: 'ftp://x'}]\n",
		`case.yaml:1: backends[0].url: scheme "ftp" is not supported: want http://host[:port][/path] or https://host[:port][/path]`},
	{"url without scheme", "backends: [{name: x, url: 'x.example.com'}]\n",
		`case.yaml:1: backends[0].url: is not a valid URL: want http://host[:port][/path] or https://host[:port][/path]`},
	{"url user info", "backends: [{name: x, url: 'https://user:hunter2@x'}]\n",
		`case.yaml:1: backends[0].url: must not contain user info; put credentials in credentials.header`},
	{"url query", "backends: [{name: x, url: 'https://x/?code=1'}]\n",
		`case.yaml:1: backends[0].url: must not have a query or fragment: want http://host[:port][/path] or https://host[:port][/path]`},
	{"url host", "backends: [{name: x, url: 'https://bad_host'}]\n",
		`case.yaml:1: backends[0].url: host "bad_host" is not an IP address or a DNS name`},
	{"url numeric host", "backends: [{name: x, url: 'https://10.0.0'}]\n",
		`case.yaml:1: backends[0].url: host "10.0.0" is not an IP address or a DNS name`},
	{"url port 0", "backends: [{name: x, url: 'https://x:0'}]\n",
		`case.yaml:1: backends[0].url: port "0" is out of range (1–65535)`},
	{"url port too large", "backends: [{name: x, url: 'https://x:65536'}]\n",
		`case.yaml:1: backends[0].url: port "65536" is out of range (1–65535)`},
	{"region charset", "backends: [{name: x, url: 'https://x', region: 'west europe'}]\n",
		`case.yaml:1: backends[0].region: "west europe" is not a valid region: use 1–100 of A-Z a-z 0-9 . _ -`},

	// Credentials.
	{"header name", "backends: [{name: x, url: 'https://x', credentials: {header: {'x key': SET}}}]\n",
		`case.yaml:1: backends[0].credentials.header.x key: "x key" is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_` + "`" + `|~)`},
	{"reserved header", "backends: [{name: x, url: 'https://x', credentials: {header: {Host: evil}}}]\n",
		`case.yaml:1: backends[0].credentials.header.Host: header "Host" is managed by Envoy and cannot be set as a credential`},
	{"header twice", "backends:\n  - name: x\n    url: https://x\n    credentials:\n      header:\n        x-key: a\n        X-Key: b\n",
		`case.yaml:7: backends[0].credentials.header.X-Key: header "X-Key" is also set as "x-key" (header names are case-insensitive)`},
	{"empty header value", "backends: [{name: x, url: 'https://x', credentials: {header: {x-key: ''}}}]\n",
		`case.yaml:1: backends[0].credentials.header.x-key: the value is empty`},
	{"header value with a newline", "backends: [{name: x, url: 'https://x', credentials: {header: {x-key: '${file:secrets/two-lines}'}}}]\n",
		`case.yaml:1: backends[0].credentials.header.x-key: the value contains a line break or NUL, which a header value cannot`},
	{"secret env not set", "backends: [{name: x, url: 'https://x', credentials: {header: {x-key: '${NOPE}'}}}]\n",
		`case.yaml:1: backends[0].credentials.header.x-key: environment variable NOPE is not set (write ${NOPE:-default} for a default)`},
	{"secret env empty", "backends: [{name: x, url: 'https://x', credentials: {header: {x-key: '${EMPTY}'}}}]\n",
		`case.yaml:1: backends[0].credentials.header.x-key: environment variable EMPTY is empty (write ${EMPTY:-default} for a default)`},
	{"secret file missing", "backends: [{name: x, url: 'https://x', credentials: {header: {x-key: '${file:/no/such}'}}}]\n",
		`case.yaml:1: backends[0].credentials.header.x-key: cannot read secret file /no/such: no such file`},
	{"secret bad reference", "backends: [{name: x, url: 'https://x', credentials: {header: {x-key: '${1X}'}}}]\n",
		`case.yaml:1: backends[0].credentials.header.x-key: a reference must be ${ENV_VAR}, ${ENV_VAR:-default} or ${file:/path}; variable names are letters, digits and _, not starting with a digit (write $${ for a literal ${)`},
	{"secret unterminated", "backends: [{name: x, url: 'https://x', credentials: {header: {x-key: 'ab${SET'}}}]\n",
		`case.yaml:1: backends[0].credentials.header.x-key: unterminated reference: "${" without "}" (write $${ for a literal ${)`},
	{"secret not a string", "backends: [{name: x, url: 'https://x', credentials: {header: {x-key: [a]}}}]\n",
		`case.yaml:1: backends[0].credentials.header.x-key: want a string (a literal, ${ENV_VAR}, ${ENV_VAR:-default} or ${file:/path}); got a list`},

	// Circuit breaker.
	{"breaker without rules", "backends: [{name: x, url: 'https://x', circuitBreaker: {}}]\n",
		`case.yaml:1: backends[0].circuitBreaker.rules: is required: exactly one rule (APIM supports one rule per backend)`},
	{"breaker with two rules", "backends:\n  - name: x\n    url: https://x\n    circuitBreaker:\n      rules: [{}, {}]\n",
		`case.yaml:5: backends[0].circuitBreaker.rules: has 2 rules; exactly one is allowed (APIM supports one rule per backend)`},
	{"tripDuration required", "backends:\n  - name: x\n    url: https://x\n    circuitBreaker:\n      rules:\n        - failureCondition: {count: 1, interval: 1s, errorReasons: [Timeout]}\n",
		`case.yaml:6: backends[0].circuitBreaker.rules[0].tripDuration: is required and must be more than 0 (e.g. PT30S)`},
	{"scope unknown", "backends:\n  - name: x\n    url: https://x\n    circuitBreaker:\n      rules:\n        - tripDuration: PT30S\n          scope: world\n          failureCondition: {count: 1, interval: 1s, errorReasons: [Timeout]}\n",
		`case.yaml:7: backends[0].circuitBreaker.rules[0].scope: "world" is not a scope (want fleet (the default) or region)`},
	{"failureCondition required", "backends:\n  - name: x\n    url: https://x\n    circuitBreaker:\n      rules:\n        - tripDuration: PT30S\n",
		`case.yaml:6: backends[0].circuitBreaker.rules[0].failureCondition: is required: count or percentage, interval, and errorReasons or statusCodeRanges`},
	{"count and percentage", breaker("{count: 3, percentage: 50, interval: 1s, errorReasons: [Timeout]}"),
		`case.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition: set count (1–10000) or percentage (1–100), not both`},
	{"neither count nor percentage", breaker("{interval: 1s, errorReasons: [Timeout]}"),
		`case.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition: needs count (1–10000) or percentage (1–100)`},
	{"count 0", breaker("{count: 0, interval: 1s, errorReasons: [Timeout]}"),
		`case.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition.count: 0 is out of range (1–10000)`},
	{"count too large", breaker("{count: 10001, interval: 1s, errorReasons: [Timeout]}"),
		`case.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition.count: 10001 is out of range (1–10000)`},
	{"percentage too large", breaker("{percentage: 101, interval: 1s, errorReasons: [Timeout]}"),
		`case.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition.percentage: 101 is out of range (1–100)`},
	{"interval required", breaker("{count: 1, errorReasons: [Timeout]}"),
		`case.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition.interval: is required and must be more than 0 (e.g. PT15S)`},
	{"unknown error reason", breaker("{count: 1, interval: 1s, errorReasons: [ConnectionFailure]}"),
		`case.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition.errorReasons[0]: "ConnectionFailure" is not an error reason (want BackendConnectionFailure or Timeout)`},
	{"status below 100", breaker("{count: 1, interval: 1s, statusCodeRanges: [{min: 99, max: 500}]}"),
		`case.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition.statusCodeRanges[0].min: 99 is out of range (100–599)`},
	{"status above 599", breaker("{count: 1, interval: 1s, statusCodeRanges: [{min: 500, max: 600}]}"),
		`case.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition.statusCodeRanges[0].max: 600 is out of range (100–599)`},
	{"status min above max", breaker("{count: 1, interval: 1s, statusCodeRanges: [{min: 504, max: 502}]}"),
		`case.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition.statusCodeRanges[0]: min 504 is more than max 502`},
	{"status min missing", breaker("{count: 1, interval: 1s, statusCodeRanges: [{max: 502}]}"),
		`case.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition.statusCodeRanges[0].min: is required: a status code 100–599`},
	{"errorReasons not a list", breaker("{count: 1, interval: 1s, errorReasons: Timeout}"),
		`case.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition.errorReasons: want a list; got string "Timeout"`},
	{"no failure kinds", breaker("{count: 1, interval: 1s}"),
		`case.yaml:7: backends[0].circuitBreaker.rules[0].failureCondition: needs errorReasons (BackendConnectionFailure or Timeout) or statusCodeRanges, or both`},

	// Pools.
	{"pool without services", "pools: [{name: p2}]\n",
		`case.yaml:1: pools[0].services: needs at least one service: {backend: NAME, priority: 0–100, weight: 1–100}`},
	{"services not a list", "pools: [{name: p2, services: b1}]\n",
		`case.yaml:1: pools[0].services: want a list; got string "b1"`},
	{"service without backend", "pools: [{name: p2, services: [{priority: 1}]}]\n",
		`case.yaml:1: pools[0].services[0].backend: is required: the name of a backend`},
	{"service names a pool", "pools: [{name: p2, services: [{backend: p1}]}]\n",
		`case.yaml:1: pools[0].services[0].backend: "p1" is a pool; a pool's services must be backends (APIM pools don't nest)`},
	{"service names nothing", "pools: [{name: p2, services: [{backend: nope}]}]\n",
		`case.yaml:1: pools[0].services[0].backend: no backend named "nope"`},
	{"backend twice in a pool", "pools:\n  - name: p2\n    services:\n      - {backend: b1}\n      - {backend: b1, priority: 2}\n",
		`case.yaml:5: pools[0].services[1].backend: backend "b1" is already in this pool (services[0])`},
	{"same address twice in a pool", "backends: [{name: b3, url: 'http://10.0.0.1:8080/other'}]\npools: [{name: p2, services: [{backend: b1}, {backend: b3}]}]\n",
		`case.yaml:2: pools[0].services[1].backend: backend "b3" has the same address as backend "b1" in this pool; gRPC clients reject an address twice in one cluster`},
	{"priority too large", "pools: [{name: p2, services: [{backend: b1, priority: 101}]}]\n",
		`case.yaml:1: pools[0].services[0].priority: 101 is out of range (0–100; lower is preferred)`},
	{"negative priority", "pools: [{name: p2, services: [{backend: b1, priority: -1}]}]\n",
		`case.yaml:1: pools[0].services[0].priority: -1 is out of range (0–100; lower is preferred)`},
	{"weight 0", "pools: [{name: p2, services: [{backend: b1, weight: 0}]}]\n",
		`case.yaml:1: pools[0].services[0].weight: weight 0 is not valid in Envoy; use 1–100`},
	{"weight too large", "pools: [{name: p2, services: [{backend: b1, weight: 101}]}]\n",
		`case.yaml:1: pools[0].services[0].weight: 101 is out of range (1–100)`},

	// APIs.
	{"pathPrefix without slash", "apis: [{name: a2, backend: b1, pathPrefix: api}]\n",
		`case.yaml:1: apis[0].pathPrefix: "api" must start with /`},
	{"pathPrefix with a query", "apis: [{name: a2, backend: b1, pathPrefix: '/api?x'}]\n",
		`case.yaml:1: apis[0].pathPrefix: "/api?x" must not contain ?, #, spaces or control characters`},
	{"pathPrefix with a control character", "apis: [{name: a2, backend: b1, pathPrefix: \"/a\\x7fb\"}]\n",
		`case.yaml:1: apis[0].pathPrefix: "/a\x7fb" must not contain ?, #, spaces or control characters`},
	{"rewritePrefix with a control character", "apis: [{name: a2, backend: b1, rewritePrefix: \"/a\\x01\"}]\n",
		`case.yaml:1: apis[0].rewritePrefix: "/a\x01" must not contain ?, #, spaces or control characters`},
	{"api backend required", "apis: [{name: a2}]\n",
		`case.yaml:1: apis[0].backend: is required: the name of a backend or a pool`},
	{"api backend dangling", "apis: [{name: a2, backend: nope}]\n",
		`case.yaml:1: apis[0].backend: no backend or pool named "nope"`},
	{"rewritePrefix without slash", "apis: [{name: a2, backend: b1, rewritePrefix: api}]\n",
		`case.yaml:1: apis[0].rewritePrefix: "api" must start with /`},
	{"bad host", "apis: [{name: a2, backend: b1, hosts: ['a*b.example']}]\n",
		`case.yaml:1: apis[0].hosts[0]: "a*b.example" is not a host: want *, a DNS name, *.suffix, prefix.*, an IPv4 address or [IPv6 address], with an optional :port`},
	{"host twice", "apis: [{name: a2, backend: b1, hosts: [a.example, A.example]}]\n",
		`case.yaml:1: apis[0].hosts[1]: host "A.example" is listed twice`},
	{"retry count required", "apis: [{name: a2, backend: b1, retry: {interval: 1s}}]\n",
		`case.yaml:1: apis[0].retry.count: is required: 1–50 retries (as in APIM)`},
	{"retry count 0", "apis: [{name: a2, backend: b1, retry: {count: 0}}]\n",
		`case.yaml:1: apis[0].retry.count: 0 is out of range (1–50, as in APIM)`},
	{"retry count too large", "apis: [{name: a2, backend: b1, retry: {count: 51}}]\n",
		`case.yaml:1: apis[0].retry.count: 51 is out of range (1–50, as in APIM)`},
	{"retry maxInterval below interval", "apis: [{name: a2, backend: b1, retry: {count: 1, interval: PT2S, maxInterval: PT1S}}]\n",
		`case.yaml:1: apis[0].retry.maxInterval: 1s is less than interval 2s`},
	{"retry delta without interval", "apis: [{name: a2, backend: b1, retry: {count: 1, delta: PT1S}}]\n",
		`case.yaml:1: apis[0].retry.delta: needs interval (the first back-off interval)`},
	{"retry unknown reason", "apis: [{name: a2, backend: b1, retry: {count: 1, errorReasons: [Timeout, Refused]}}]\n",
		`case.yaml:1: apis[0].retry.errorReasons[1]: "Refused" is not an error reason (want BackendConnectionFailure or Timeout)`},
	{"retry status range", "apis: [{name: a2, backend: b1, retry: {count: 1, statusCodeRanges: [{min: 500, max: 700}]}}]\n",
		`case.yaml:1: apis[0].retry.statusCodeRanges[0].max: 700 is out of range (100–599)`},
	{"retry statusCodeRanges not a list", "apis: [{name: a2, backend: b1, retry: {count: 1, statusCodeRanges: 502}}]\n",
		`case.yaml:1: apis[0].retry.statusCodeRanges: want a list; got integer 502`},
	{"retry empty conditions", "apis: [{name: a2, backend: b1, retry: {count: 1, statusCodeRanges: [], errorReasons: []}}]\n",
		`case.yaml:1: apis[0].retry: the empty statusCodeRanges and errorReasons retry nothing; name at least one, or leave both out for the default (502–504 and BackendConnectionFailure)`},

	// Listeners.
	{"port required", "listeners: [{name: l2, apis: [a1]}]\n",
		`case.yaml:1: listeners[0].port: is required: 1–65535`},
	{"port 0", "listeners: [{name: l2, port: 0, apis: [a1]}]\n",
		`case.yaml:1: listeners[0].port: 0 is out of range (1–65535)`},
	{"port too large", "listeners: [{name: l2, port: 65536, apis: [a1]}]\n",
		`case.yaml:1: listeners[0].port: 65536 is out of range (1–65535)`},
	{"address not an IP", "listeners: [{name: l2, port: 1, address: localhost, apis: [a1]}]\n",
		`case.yaml:1: listeners[0].address: "localhost" is not an IP address (e.g. 0.0.0.0, 127.0.0.1, ::)`},
	{"listener without apis", "listeners: [{name: l2, port: 1}]\n",
		`case.yaml:1: listeners[0].apis: needs at least one API name`},
	{"listener api dangling", "listeners: [{name: l2, port: 1, apis: [nope]}]\n",
		`case.yaml:1: listeners[0].apis[0]: no API named "nope"`},
	{"listener api twice", "listeners: [{name: l2, port: 1, apis: [a1, a1]}]\n",
		`case.yaml:1: listeners[0].apis[1]: API "a1" is listed twice (also apis[0])`},
	{"same address and port", "listeners: [{name: l2, port: 10000, apis: [a1]}]\n",
		`case.yaml:1: listeners[0].port: 0.0.0.0 port 10000 overlaps listener "l1" on 0.0.0.0 (base.yaml:10)`},
	{"specific address under a wildcard", "listeners: [{name: l2, address: 127.0.0.1, port: 10000, apis: [a1]}]\n",
		`case.yaml:1: listeners[0].port: 127.0.0.1 port 10000 overlaps listener "l1" on 0.0.0.0 (base.yaml:10)`},
	{"same host and path prefix", "apis: [{name: a2, backend: b1}]\nlisteners: [{name: l2, port: 1, apis: [a1, a2]}]\n",
		`case.yaml:2: listeners[0].apis[1]: API "a2" and API "a1" both route host "*" path prefix "/"; one would never be used`},
}

// breaker puts a failureCondition on line 7 of a one-backend case.
func breaker(fc string) string {
	return "backends:\n  - name: x\n    url: https://x\n    circuitBreaker:\n      rules:\n        - tripDuration: PT30S\n          failureCondition: " + fc + "\n"
}

func TestLoadInvalid(t *testing.T) {
	if err := loadCase(""); err != nil {
		t.Fatalf("the base model must be valid: %v", err)
	}
	for _, tt := range invalidCases {
		t.Run(tt.name, func(t *testing.T) {
			err := loadCase(tt.yaml)
			if err == nil {
				t.Fatalf("want error %q, got none", tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
			es, ok := AsErrors(err)
			if !ok || len(es) != 1 {
				t.Errorf("AsErrors: ok %v, %d errors", ok, len(es))
			}
		})
	}
}

// A rule without scope is fleet-scoped; region is kept.
func TestBreakerScopeDefault(t *testing.T) {
	for yaml, want := range map[string]BreakerScope{"": ScopeFleet, "          scope: region\n": ScopeRegion, "          scope: fleet\n": ScopeFleet} {
		src := "backends:\n  - name: x\n    url: https://x\n    circuitBreaker:\n      rules:\n        - tripDuration: PT30S\n" + yaml +
			"          failureCondition: {count: 1, interval: 1s, errorReasons: [Timeout]}\n"
		m, err := LoadFiles([]File{{"case.yaml", []byte(src)}})
		if err != nil {
			t.Fatalf("%q: %v", yaml, err)
		}
		if got := m.Backends[0].CircuitBreaker.Rules[0].Scope; got != want {
			t.Errorf("%q: scope %q, want %q", yaml, got, want)
		}
	}
}
