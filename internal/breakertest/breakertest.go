// Package breakertest holds the circuit breaker model the admin and CLI tests serve: a
// pool of two backends in two regions, each with a breaker rule.
package breakertest

import "strings"

// CountRule is the failure condition "3 failures within 10 s".
const CountRule = "{count: 3, interval: PT10S, errorReasons: [BackendConnectionFailure]}"

// Model is a pool of sdc (swedencentral, 127.0.0.1:8001, priority 1) and nwe (norwayeast,
// 127.0.0.2:8001, priority 2) behind api (/api/) on listener public (port 10000). Each
// backend has one fleet rule, named "<backend>-breaker", that opens it for 30 s: sdc's
// on CountRule, nwe's on nweCondition (a failureCondition in YAML flow style).
func Model(nweCondition string) string {
	return strings.Replace(model, "${NWE_CONDITION}", nweCondition, 1)
}

const model = `backends:
  - name: sdc
    url: http://127.0.0.1:8001
    region: swedencentral
    circuitBreaker:
      rules:
        - name: sdc-breaker
          tripDuration: PT30S
          failureCondition: ` + CountRule + `
  - name: nwe
    url: http://127.0.0.2:8001
    region: norwayeast
    circuitBreaker:
      rules:
        - name: nwe-breaker
          tripDuration: PT30S
          failureCondition: ${NWE_CONDITION}
pools:
  - name: pool
    services:
      - {backend: sdc, priority: 1}
      - {backend: nwe, priority: 2}
apis:
  - {name: api, pathPrefix: /api/, backend: pool}
listeners:
  - {name: public, port: 10000, apis: [api]}
`
