package admin

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
)

// Route is one admin endpoint. The table below is the only list of them: New mounts it,
// serve's help text and startup log line are made from it, and a test holds README and
// docs/operations.md to it.
type Route struct {
	// Path is the URL path (a trailing slash serves the subtree).
	Path string
	// Summary says in one line what the endpoint answers.
	Summary string
	// Flag is the serve flag that turns the endpoint on; "" when it is always served.
	Flag string

	pattern string
	// handler is the endpoint's handler for a, or nil when a's options leave it out.
	handler func(a *Server) http.Handler
}

var routes = []Route{
	{Path: "/healthz", pattern: "GET /healthz", Summary: "liveness: 200 ok while the process runs",
		handler: func(a *Server) http.Handler { return http.HandlerFunc(a.healthz) }},
	{Path: "/readyz", pattern: "GET /readyz", Summary: "readiness: 200 once a good model is loaded and its snapshots are set, else 503",
		handler: func(a *Server) http.Handler { return http.HandlerFunc(a.readyz) }},
	{Path: "/metrics", pattern: "GET /metrics", Summary: "Prometheus metrics (poolpilot_*, Go runtime, process)",
		handler: func(a *Server) http.Handler {
			if a.opts.Metrics == nil {
				return nil
			}
			return a.opts.Metrics.Handler()
		}},
	{Path: "/status", pattern: "GET /status", Summary: "JSON status: model, reloads, pools, node groups, nodes, fleet breaker",
		handler: func(a *Server) http.Handler { return http.HandlerFunc(a.statusJSON) }},
	{Path: "/", pattern: "GET /{$}", Summary: "the same status as an HTML page",
		handler: func(a *Server) http.Handler { return http.HandlerFunc(a.statusHTML) }},
	{Path: "/debug/pprof/", pattern: "/debug/pprof/", Summary: "Go profiling", Flag: "--admin-pprof",
		handler: func(a *Server) http.Handler {
			if !a.opts.Pprof {
				return nil
			}
			return pprofMux()
		}},
}

// pprofMux is net/http/pprof's handlers under /debug/pprof/: the index serves the named
// profiles, the other four are handlers of their own.
func pprofMux() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return m
}

// Routes is every endpoint the admin server can serve, in the table's order.
func Routes() []Route { return slices.Clone(routes) }

// Paths are the paths s serves with its options, in the table's order (its startup log).
func (a *Server) Paths() []string {
	return slices.Clone(a.paths)
}

// AlwaysServed are the paths served whatever the flags, in the table's order.
func AlwaysServed() []string {
	var out []string
	for _, r := range routes {
		if r.Flag == "" {
			out = append(out, r.Path)
		}
	}
	return out
}

// HelpText lists every route, one a line: its path, its summary and the flag it needs.
func HelpText() string {
	width := 0
	for _, r := range routes {
		width = max(width, len(r.Path))
	}
	var b strings.Builder
	for _, r := range routes {
		s := r.Summary
		if r.Flag != "" {
			s += " (with " + r.Flag + ")"
		}
		fmt.Fprintf(&b, "  %-*s  %s\n", width, r.Path, s)
	}
	return b.String()
}
