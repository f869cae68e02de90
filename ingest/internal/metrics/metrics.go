// Package metrics defines ingest's Prometheus metrics on a registry of its own.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Outcomes of an event at ingest (label "outcome").
const (
	Accepted    = "accepted"
	Duplicate   = "duplicate"
	Invalid     = "invalid"
	Unavailable = "unavailable"
)

// Metrics are ingest's collectors.
type Metrics struct {
	Registry        *prometheus.Registry
	Events          *prometheus.CounterVec   // taskhook_ingest_events_total{type,outcome}
	PublishDuration prometheus.Histogram     // taskhook_ingest_publish_duration_seconds
	Requests        *prometheus.CounterVec   // taskhook_ingest_http_requests_total{route,code}
	BatchSize       prometheus.Histogram     // taskhook_ingest_batch_items
	RequestDuration *prometheus.HistogramVec // taskhook_ingest_http_request_duration_seconds{route}
}

// New registers ingest's metrics (and the Go and process collectors) on a new registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskhook_ingest_events_total",
			Help: "Task events received, by subject (type; \"unknown\" when invalid before the event name is known) and outcome (accepted, duplicate, invalid, unavailable).",
		}, []string{"type", "outcome"}),
		PublishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "taskhook_ingest_publish_duration_seconds",
			Help:    "Time from publishing an event to JetStream until its acknowledgement (or failure).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskhook_ingest_http_requests_total",
			Help: "HTTP requests answered by ingest, by route and status code.",
		}, []string{"route", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "taskhook_ingest_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "taskhook_ingest_batch_items",
			Help:    "Events per batch request.",
			Buckets: []float64{1, 10, 50, 100, 250, 500, 1000},
		}),
	}
	reg.MustRegister(m.Events, m.PublishDuration, m.Requests, m.RequestDuration, m.BatchSize,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
