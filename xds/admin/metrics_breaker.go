package admin

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolpilot/poolpilot/breaker"
)

// Fleet breaker metric names, documented in docs/operations.md.
const (
	MetricBreakerRequests = "poolpilot_breaker_requests_total"
	MetricBreakerErrors   = "poolpilot_breaker_errors_total"
	MetricBreakerOpen     = "poolpilot_breaker_open"
	MetricBreakerTrips    = "poolpilot_breaker_trips_total"
)

// breakerCollector reads the engine at scrape time: one Stats call gives every series,
// so a scrape is as consistent as the status table, and a backend the engine forgets
// (it left the model) leaves no series behind. Labels are backends with a rule and
// regions the engine keeps (at most breaker.DefaultMaxRegions per backend), so they are
// bounded.
type breakerCollector struct {
	view                          BreakerView
	requests, errors, open, trips *prometheus.Desc
}

func newBreakerCollector(v BreakerView) *breakerCollector {
	return &breakerCollector{
		view: v,
		requests: prometheus.NewDesc(MetricBreakerRequests,
			"Completed requests (succeeded + failed) to a backend reported by the proxies of a region to the fleet breaker, "+
				"since the backend got its current rule.", []string{"backend", "region"}, nil),
		errors: prometheus.NewDesc(MetricBreakerErrors,
			"Failed requests to a backend that count against its breaker rule, reported by the proxies of a region, "+
				"since the backend got its current rule.", []string{"backend", "region"}, nil),
		open: prometheus.NewDesc(MetricBreakerOpen,
			"1 while the fleet breaker holds a backend out of rotation: for every proxy (scope fleet, region \"\") "+
				"or for the proxies of region (scope region); else 0.", []string{"backend", "scope", "region"}, nil),
		trips: prometheus.NewDesc(MetricBreakerTrips,
			"Trips of a backend's fleet breaker rule, fleet-wide (scope fleet, region \"\") or for one region (scope region), "+
				"since the backend got its current rule.", []string{"backend", "scope", "region"}, nil),
	}
}

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.errors
	ch <- c.open
	ch <- c.trips
}

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.view.Stats() {
		if !r.Fleet {
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(r.TotalRequests), r.Backend, r.Region)
			ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(r.TotalFailures), r.Backend, r.Region)
		}
		// The rows the rule evaluates carry its state: the fleet row of a fleet rule,
		// each region's row of a region rule.
		if r.Fleet != (r.Scope == breaker.ScopeFleet) {
			continue
		}
		open := 0.0
		if r.Open {
			open = 1
		}
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, open, r.Backend, string(r.Scope), r.Region)
		ch <- prometheus.MustNewConstMetric(c.trips, prometheus.CounterValue, float64(r.TotalTrips), r.Backend, string(r.Scope), r.Region)
	}
}

// ObserveBreaker exports v's table as the poolpilot_breaker_* series, read at scrape
// time. A second call with the same Metrics changes nothing.
func (m *Metrics) ObserveBreaker(v BreakerView) error {
	if m == nil || v == nil {
		return nil
	}
	return registerOnce(m.Registry, newBreakerCollector(v))
}
