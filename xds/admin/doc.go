// Package admin serves poolpilot's admin HTTP endpoints beside the ADS core. The route
// table in routes.go is the one list of them (serve's help text and startup log are made
// from it); status.go and html.go build the status the JSON and HTML pages show,
// metrics.go the Prometheus series. Every free text shown passes through the served
// model's redactor (xds/redact). It reads the core (xds.Server), the reloader
// (xds/reload) and the breaker engine; it changes none of them.
package admin
