// Package admin serves poolpilot's admin HTTP endpoints beside the ADS core: health and
// readiness, /status (JSON) and / (HTML) with the groups, nodes, pools, last reloads and
// the fleet breaker's table, and the Prometheus metrics. Every free text it shows passes
// through the served model's redactor (xds/redact). It reads the core (xds.Server), the
// reloader (xds/reload) and the breaker engine; it changes none of them.
package admin
