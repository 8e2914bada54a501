package admin

import (
	"errors"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/reload"
)

// Metric names, documented in docs/operations.md.
const (
	MetricReloads          = "poolpilot_reloads_total"
	MetricLastReload       = "poolpilot_last_reload_timestamp_seconds"
	MetricLastReloadOK     = "poolpilot_last_reload_success"
	MetricLastGoodReload   = "poolpilot_last_successful_reload_timestamp_seconds"
	MetricModelErrors      = "poolpilot_model_errors"
	MetricModelInfo        = "poolpilot_model_info"
	MetricStreams          = "poolpilot_xds_streams"
	MetricResponses        = "poolpilot_xds_responses_total"
	MetricAcks             = "poolpilot_xds_acks_total"
	MetricNacks            = "poolpilot_xds_nacks_total"
	MetricGroupVersionInfo = "poolpilot_group_version_info"
	MetricWatchUp          = "poolpilot_model_watch_up"
	MetricLRSMessages      = "poolpilot_lrs_messages_total"
	MetricLRSReports       = "poolpilot_lrs_reports_total"
	MetricLRSIgnored       = "poolpilot_lrs_ignored_total"
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
	watchUp        prometheus.Gauge
	watchOnce      sync.Once

	mu           sync.Mutex
	modelVersion string
	// openStreams counts each streams series, so one that reaches zero is deleted: a
	// group that goes away leaves no series behind.
	openStreams map[[2]string]int
}

// NewMetrics creates the metrics on a fresh registry.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Each metric is registered as it is created, so none can be left out of the registry.
	f := promauto.With(reg)
	gauge := func(name, help string) prometheus.Gauge {
		return f.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	gaugeVec := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return f.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return f.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &Metrics{
		Registry: reg,
		reloads: counterVec(MetricReloads, "Model reloads by result: ok (applied), error (invalid) or refused "+
			"(valid, but it removes most of the served listeners or APIs); the last good model keeps serving unless ok.", "result"),
		lastReload:     gauge(MetricLastReload, "Unix time of the last reload attempt, successful or not."),
		lastReloadOK:   gauge(MetricLastReloadOK, "1 if the last reload attempt was applied, 0 if it was rejected."),
		lastGoodReload: gauge(MetricLastGoodReload, "Unix time of the last reload that was applied."),
		modelErrors:    gauge(MetricModelErrors, "Errors in the model on disk as of the last reload attempt; 0 when it was applied."),
		modelInfo:      gaugeVec(MetricModelInfo, "Always 1; the version label is the version of the model being served.", "version"),
		streams:        gaugeVec(MetricStreams, "Open xDS streams by node group and stream kind (sotw or delta).", "group", "stream"),
		responses:      counterVec(MetricResponses, "xDS responses sent, by resource type.", "type"),
		acks:           counterVec(MetricAcks, "xDS ACKs received (a request accepting a version), by resource type.", "type"),
		nacks:          counterVec(MetricNacks, "xDS NACKs received (a request carrying error_detail), by resource type.", "type"),
		// Registered at the first ObserveWatch, so it is absent when nothing is watched.
		watchUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricWatchUp, Help: "1 while the model directory is " +
			"watched for changes, 0 while it is gone and being watched for again (edits are not seen)."}),
		openStreams: map[[2]string]int{},
	}
	// Both results exist from the start, so rate() and alerts work before the first failure.
	m.reloads.WithLabelValues(ReloadOK)
	m.reloads.WithLabelValues(ReloadError)
	m.reloads.WithLabelValues(ReloadRefused)
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

// The result label values of MetricReloads.
const (
	ReloadOK      = "ok"
	ReloadError   = "error"
	ReloadRefused = "refused"
)

// ObserveReload records one reload attempt.
func (m *Metrics) ObserveReload(r reload.Result) {
	if m == nil {
		return
	}
	ts := float64(r.Time.UnixNano()) / 1e9
	m.lastReload.Set(ts)
	if r.Refused {
		m.reloads.WithLabelValues(ReloadRefused).Inc()
		m.lastReloadOK.Set(0)
		m.modelErrors.Set(0) // the model is valid
		return
	}
	if !r.OK {
		m.reloads.WithLabelValues(ReloadError).Inc()
		m.lastReloadOK.Set(0)
		m.modelErrors.Set(float64(len(r.Errors)))
		return
	}
	m.reloads.WithLabelValues(ReloadOK).Inc()
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

// ObserveWatch records whether the model watch is in place.
func (m *Metrics) ObserveWatch(up bool) {
	if m == nil {
		return
	}
	m.watchOnce.Do(func() { m.Registry.MustRegister(m.watchUp) })
	if up {
		m.watchUp.Set(1)
	} else {
		m.watchUp.Set(0)
	}
}

var _ xds.Observer = (*Metrics)(nil)

// Applied records nothing: the group versions are read from the server at scrape time
// (ObserveServer), so they follow every publish, the fleet breaker's included, and
// failures are counted by ObserveReload, which also sees models that never reach Apply.
func (m *Metrics) Applied(xds.ApplyEvent) {}

// ObserveServer exports the versions of s's node groups as MetricGroupVersionInfo, read
// at scrape time. A second call with the same Metrics changes nothing.
func (m *Metrics) ObserveServer(s *xds.Server) error {
	if m == nil || s == nil {
		return nil
	}
	if err := registerOnce(m.Registry, &groupVersionCollector{srv: s, desc: prometheus.NewDesc(MetricGroupVersionInfo,
		"Always 1; the version label is the version of one resource type in a node group's current snapshot.",
		[]string{"group", "type", "version"}, nil)}); err != nil {
		return err
	}
	return registerOnce(m.Registry, newLoadReportCollector(s))
}

// loadReportCollector exports the LRS service's counters, read at scrape time.
type loadReportCollector struct {
	srv                        *xds.Server
	messages, reports, ignored *prometheus.Desc
}

func newLoadReportCollector(s *xds.Server) *loadReportCollector {
	return &loadReportCollector{srv: s,
		messages: prometheus.NewDesc(MetricLRSMessages, "Load reports (LRS LoadStatsRequests) handled.", nil, nil),
		reports: prometheus.NewDesc(MetricLRSReports,
			"Per-backend counts the load reports gave the fleet breaker.", nil, nil),
		ignored: prometheus.NewDesc(MetricLRSIgnored, "Load reports that changed nothing: more than twice per "+
			"interval, too large, naming another node, from a node without an ADS stream, or unreadable.", nil, nil),
	}
}

func (c *loadReportCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.messages
	ch <- c.reports
	ch <- c.ignored
}

func (c *loadReportCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.srv.LoadReports()
	ch <- prometheus.MustNewConstMetric(c.messages, prometheus.CounterValue, float64(n.Messages))
	ch <- prometheus.MustNewConstMetric(c.reports, prometheus.CounterValue, float64(n.Reports))
	ch <- prometheus.MustNewConstMetric(c.ignored, prometheus.CounterValue, float64(n.Ignored))
}

// groupVersionCollector reads the server's groups at scrape time: a publish without a
// model apply (a fleet breaker trip, which changes endpoint versions) shows at once, and
// a group that goes away leaves no series behind.
type groupVersionCollector struct {
	srv  *xds.Server
	desc *prometheus.Desc
}

func (c *groupVersionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *groupVersionCollector) Collect(ch chan<- prometheus.Metric) {
	for _, g := range c.srv.Groups() {
		for url, v := range g.Versions {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1, g.Key, xds.TypeName(url), v)
		}
	}
}

// registerOnce registers c, treating one already registered as done.
func registerOnce(reg *prometheus.Registry, c prometheus.Collector) error {
	err := reg.Register(c)
	if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
		return nil
	}
	return err
}

// StreamOpened counts an open stream of a known node.
func (m *Metrics) StreamOpened(ev xds.Event) {
	if m == nil {
		return
	}
	k := [2]string{groupLabel(ev.Group), string(ev.Kind)}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.openStreams[k]++
	m.streams.WithLabelValues(k[0], k[1]).Set(float64(m.openStreams[k]))
}

// StreamClosed undoes StreamOpened, deleting the series when no stream is left.
func (m *Metrics) StreamClosed(ev xds.Event) {
	if m == nil {
		return
	}
	k := [2]string{groupLabel(ev.Group), string(ev.Kind)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.openStreams[k]--; m.openStreams[k] > 0 {
		m.streams.WithLabelValues(k[0], k[1]).Set(float64(m.openStreams[k]))
		return
	}
	delete(m.openStreams, k)
	m.streams.DeleteLabelValues(k[0], k[1])
}

// Response counts one response sent.
func (m *Metrics) Response(ev xds.Event) {
	if m != nil {
		m.responses.WithLabelValues(xds.TypeName(ev.TypeURL)).Inc()
	}
}

// Ack counts one ACK.
func (m *Metrics) Ack(ev xds.Event) {
	if m != nil {
		m.acks.WithLabelValues(xds.TypeName(ev.TypeURL)).Inc()
	}
}

// Nack counts one NACK.
func (m *Metrics) Nack(ev xds.Event) {
	if m != nil {
		m.nacks.WithLabelValues(xds.TypeName(ev.TypeURL)).Inc()
	}
}

// groupLabel names streams whose node has not been grouped yet (no request seen).
func groupLabel(g string) string {
	if g == "" {
		return "unknown"
	}
	return g
}
