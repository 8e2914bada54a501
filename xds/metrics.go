package xds

import (
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names, documented in docs/operations.md.
const (
	metricReloads          = "poolpilot_reloads_total"
	metricLastReload       = "poolpilot_last_reload_timestamp_seconds"
	metricLastReloadOK     = "poolpilot_last_reload_success"
	metricLastGoodReload   = "poolpilot_last_successful_reload_timestamp_seconds"
	metricModelErrors      = "poolpilot_model_errors"
	metricModelInfo        = "poolpilot_model_info"
	metricStreams          = "poolpilot_xds_streams"
	metricResponses        = "poolpilot_xds_responses_total"
	metricAcks             = "poolpilot_xds_acks_total"
	metricNacks            = "poolpilot_xds_nacks_total"
	metricGroupVersionInfo = "poolpilot_group_version_info"
)

// Metrics is poolpilot's Prometheus instrumentation, on its own registry (never the
// global one, so tests and embedders get exactly these series) with the Go runtime and
// process collectors. Every method is safe for concurrent use; a nil *Metrics records
// nothing, so callers need no checks.
//
// Label values are group keys, type names and versions, never node-supplied free text
// beyond the group's region, and never backend data: credentials cannot reach /metrics.
type Metrics struct {
	Registry *prometheus.Registry

	reloads        *prometheus.CounterVec
	lastReload     prometheus.Gauge
	lastReloadOK   prometheus.Gauge
	lastGoodReload prometheus.Gauge
	modelErrors    prometheus.Gauge
	modelInfo      *prometheus.GaugeVec
	streams        *prometheus.GaugeVec
	responses      *prometheus.CounterVec
	acks           *prometheus.CounterVec
	nacks          *prometheus.CounterVec
	groupVersion   *prometheus.GaugeVec

	mu            sync.Mutex
	modelVersion  string
	groupVersions map[groupType]string
}

// NewMetrics creates the metrics on a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricReloads,
			Help: "Model reloads by result: ok (applied) or error (rejected; the last good model keeps serving).",
		}, []string{"result"}),
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricLastReload,
			Help: "Unix time of the last reload attempt, successful or not.",
		}),
		lastReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricLastReloadOK,
			Help: "1 if the last reload attempt was applied, 0 if it was rejected.",
		}),
		lastGoodReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricLastGoodReload,
			Help: "Unix time of the last reload that was applied.",
		}),
		modelErrors: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricModelErrors,
			Help: "Errors in the model on disk as of the last reload attempt; 0 when it was applied.",
		}),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metricModelInfo,
			Help: "Always 1; the version label is the version of the model being served.",
		}, []string{"version"}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metricStreams,
			Help: "Open xDS streams by node group and stream kind (sotw or delta).",
		}, []string{"group", "stream"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricResponses,
			Help: "xDS responses sent, by resource type.",
		}, []string{"type"}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricAcks,
			Help: "xDS ACKs received (a request accepting a version), by resource type.",
		}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricNacks,
			Help: "xDS NACKs received (a request carrying error_detail), by resource type.",
		}, []string{"type"}),
		groupVersion: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metricGroupVersionInfo,
			Help: "Always 1; the version label is the version of one resource type in a node group's current snapshot.",
		}, []string{"group", "type", "version"}),
		groupVersions: map[groupType]string{},
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.reloads, m.lastReload, m.lastReloadOK, m.lastGoodReload, m.modelErrors, m.modelInfo,
		m.streams, m.responses, m.acks, m.nacks, m.groupVersion,
	)
	// Both results exist from the start, so rate() and alerts work before the first failure.
	m.reloads.WithLabelValues(reloadOK)
	m.reloads.WithLabelValues(reloadError)
	for _, t := range []string{"clusters", "endpoints", "routes", "listeners"} {
		m.responses.WithLabelValues(t)
		m.acks.WithLabelValues(t)
		m.nacks.WithLabelValues(t)
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

const (
	reloadOK    = "ok"
	reloadError = "error"
)

// ObserveReload records one reload attempt.
func (m *Metrics) ObserveReload(r ReloadResult) {
	if m == nil {
		return
	}
	ts := float64(r.Time.UnixNano()) / 1e9
	m.lastReload.Set(ts)
	if !r.OK {
		m.reloads.WithLabelValues(reloadError).Inc()
		m.lastReloadOK.Set(0)
		m.modelErrors.Set(float64(len(r.Errors)))
		return
	}
	m.reloads.WithLabelValues(reloadOK).Inc()
	m.lastReloadOK.Set(1)
	m.lastGoodReload.Set(ts)
	m.modelErrors.Set(0)
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.Version != m.modelVersion {
		if m.modelVersion != "" {
			m.modelInfo.DeleteLabelValues(m.modelVersion)
		}
		m.modelVersion = r.Version
		m.modelInfo.WithLabelValues(r.Version).Set(1)
	}
}

var _ Observer = (*Metrics)(nil)

// Applied records the snapshot versions of a successful Apply. Failures are counted by
// ObserveReload, which also sees models that never reach Apply (parse errors).
func (m *Metrics) Applied(ev ApplyEvent) {
	if m == nil || ev.Err != nil {
		return
	}
	now := map[groupType]string{}
	for group, byType := range ev.Groups {
		for url, v := range byType {
			now[groupType{group, TypeName(url)}] = v
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Replace changed series one by one rather than Reset, so a scrape never sees a
	// group without a version.
	for k, old := range m.groupVersions {
		if now[k] != old {
			m.groupVersion.DeleteLabelValues(k.group, k.typ, old)
			delete(m.groupVersions, k)
		}
	}
	for k, v := range now {
		if _, ok := m.groupVersions[k]; !ok {
			m.groupVersions[k] = v
			m.groupVersion.WithLabelValues(k.group, k.typ, v).Set(1)
		}
	}
}

type groupType struct{ group, typ string }

// StreamOpened counts an open stream of a known node.
func (m *Metrics) StreamOpened(ev Event) {
	if m != nil {
		m.streams.WithLabelValues(groupLabel(ev.Group), string(ev.Kind)).Inc()
	}
}

// StreamClosed undoes StreamOpened.
func (m *Metrics) StreamClosed(ev Event) {
	if m != nil {
		m.streams.WithLabelValues(groupLabel(ev.Group), string(ev.Kind)).Dec()
	}
}

// Response counts one response sent.
func (m *Metrics) Response(ev Event) {
	if m != nil {
		m.responses.WithLabelValues(TypeName(ev.TypeURL)).Inc()
	}
}

// Ack counts one ACK.
func (m *Metrics) Ack(ev Event) {
	if m != nil {
		m.acks.WithLabelValues(TypeName(ev.TypeURL)).Inc()
	}
}

// Nack counts one NACK.
func (m *Metrics) Nack(ev Event) {
	if m != nil {
		m.nacks.WithLabelValues(TypeName(ev.TypeURL)).Inc()
	}
}

// groupLabel names streams whose node has not been grouped yet (no request seen).
func groupLabel(g string) string {
	if g == "" {
		return "unknown"
	}
	return g
}

// TypeName is a short, stable label for an xDS type URL: "clusters", "endpoints",
// "routes", "listeners" for the four types poolpilot serves, else the message name.
func TypeName(typeURL string) string {
	msg := typeURL[strings.LastIndex(typeURL, "/")+1:]
	switch msg {
	case "envoy.config.cluster.v3.Cluster":
		return "clusters"
	case "envoy.config.endpoint.v3.ClusterLoadAssignment":
		return "endpoints"
	case "envoy.config.route.v3.RouteConfiguration":
		return "routes"
	case "envoy.config.listener.v3.Listener":
		return "listeners"
	case "":
		return "unknown"
	}
	return msg
}
