// Package metrics defines the dispatcher's Prometheus metrics on a registry of its own.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the dispatcher's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	Events           *prometheus.CounterVec   // taskhook_dispatch_events_total{type,outcome}
	Poison           *prometheus.CounterVec   // taskhook_dispatch_poison_messages_total{reason}
	Deliveries       *prometheus.CounterVec   // taskhook_dispatch_deliveries_total{provider,outcome}
	Attempts         *prometheus.CounterVec   // taskhook_dispatch_attempts_total{provider,result}
	AttemptDuration  *prometheus.HistogramVec // taskhook_dispatch_attempt_duration_seconds{provider}
	Retries          *prometheus.CounterVec   // taskhook_dispatch_retries_total{provider}
	DeliveryLatency  *prometheus.HistogramVec // taskhook_dispatch_delivery_latency_seconds{provider}
	RetryBacklog     prometheus.Gauge         // taskhook_dispatch_retry_backlog
	PendingBacklog   prometheus.Gauge         // taskhook_dispatch_pending_deliveries
	RetryOldestAge   prometheus.Gauge         // taskhook_dispatch_retry_oldest_age_seconds
	ConsumerPending  prometheus.Gauge         // taskhook_dispatch_consumer_pending
	ConsumerAckPend  prometheus.Gauge         // taskhook_dispatch_consumer_ack_pending
	Inflight         prometheus.Gauge         // taskhook_dispatch_inflight_attempts
	Queued           prometheus.Gauge         // taskhook_dispatch_queued_jobs
	BatchDuration    prometheus.Histogram     // taskhook_dispatch_batch_duration_seconds
	ClaimDuration    prometheus.Histogram     // taskhook_dispatch_claim_duration_seconds
	WriteErrors      *prometheus.CounterVec   // taskhook_dispatch_store_errors_total{op}
	WebhooksDisabled prometheus.Counter       // taskhook_dispatch_webhooks_disabled_total
	Requests         *prometheus.CounterVec   // taskhook_dispatch_http_requests_total{route,code}
	RequestDuration  *prometheus.HistogramVec // taskhook_dispatch_http_request_duration_seconds{route}
	DueScheduled     prometheus.Gauge         // taskhook_due_scheduled_tasks
	DueFired         *prometheus.CounterVec   // taskhook_due_fired_total{kind}
	DueLag           prometheus.Gauge         // taskhook_due_lag_seconds
	DuePollDuration  prometheus.Histogram     // taskhook_due_poll_duration_seconds
	SealedPrevious   prometheus.Gauge         // taskhook_sealed_with_previous_keys
	DigestsSent      prometheus.Counter       // taskhook_digest_messages_total
	DigestWaiting    prometheus.Gauge         // taskhook_digest_waiting_events
	OpsPublished     *prometheus.CounterVec   // taskhook_ops_events_published_total{type}
	AlertsOpen       *prometheus.GaugeVec     // taskhook_alerts_open{state}
	AlertAckSeconds  *prometheus.HistogramVec // taskhook_alert_time_to_acknowledge_seconds{via}
	AlertEscalations *prometheus.CounterVec   // taskhook_alert_escalations_total{reason}
	AlertFallbacks   *prometheus.CounterVec   // taskhook_alert_fallbacks_total{reason}
}

var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200}

// New registers the dispatcher's metrics (and the Go and process collectors) on a new registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskhook_dispatch_events_total",
			Help: "Events consumed, by subject and outcome (matched, unmatched, redelivered: its deliveries existed already)."}, []string{"type", "outcome"}),
		Poison: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskhook_dispatch_poison_messages_total",
			Help: "Stream messages terminated because they can never be processed, by reason."}, []string{"reason"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskhook_dispatch_deliveries_total",
			Help: "Deliveries by provider and outcome: created, succeeded or failed (final)."}, []string{"provider", "outcome"}),
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskhook_dispatch_attempts_total",
			Help: "Delivery attempts by provider and result (success, retry, fail)."}, []string{"provider", "result"}),
		AttemptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "taskhook_dispatch_attempt_duration_seconds",
			Help: "Duration of one delivery attempt (render, sign, send, read the answer).", Buckets: latencyBuckets[:13]}, []string{"provider"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskhook_dispatch_retries_total",
			Help: "Retries scheduled after a failed attempt."}, []string{"provider"}),
		DeliveryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "taskhook_dispatch_delivery_latency_seconds",
			Help: "Time from an event's arrival in the stream to its successful delivery.", Buckets: latencyBuckets}, []string{"provider"}),
		RetryBacklog: prometheus.NewGauge(prometheus.GaugeOpts{Name: "taskhook_dispatch_retry_backlog",
			Help: "Deliveries waiting for a retry."}),
		PendingBacklog: prometheus.NewGauge(prometheus.GaugeOpts{Name: "taskhook_dispatch_pending_deliveries",
			Help: "Deliveries not final yet (pending or retrying)."}),
		RetryOldestAge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "taskhook_dispatch_retry_oldest_age_seconds",
			Help: "Age of the oldest delivery that is not final yet (0 when none)."}),
		ConsumerPending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "taskhook_dispatch_consumer_pending",
			Help: "Stream messages not yet delivered to the dispatchers' durable consumer."}),
		ConsumerAckPend: prometheus.NewGauge(prometheus.GaugeOpts{Name: "taskhook_dispatch_consumer_ack_pending",
			Help: "Stream messages delivered to a dispatcher and not yet acknowledged."}),
		Inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "taskhook_dispatch_inflight_attempts",
			Help: "Attempts being sent now by this replica."}),
		Queued: prometheus.NewGauge(prometheus.GaugeOpts{Name: "taskhook_dispatch_queued_jobs",
			Help: "Deliveries queued in this replica's per-webhook lanes."}),
		BatchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "taskhook_dispatch_batch_duration_seconds",
			Help: "Time to fan out one consumed batch: match, attempt within the window, store, acknowledge.", Buckets: latencyBuckets[:12]}),
		ClaimDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "taskhook_dispatch_claim_duration_seconds",
			Help: "Time of one claim of due deliveries (FOR UPDATE SKIP LOCKED) in PostgreSQL.", Buckets: latencyBuckets[:12]}),
		WriteErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskhook_dispatch_store_errors_total",
			Help: "PostgreSQL operations that failed (and were retried), by operation."}, []string{"op"}),
		WebhooksDisabled: prometheus.NewCounter(prometheus.CounterOpts{Name: "taskhook_dispatch_webhooks_disabled_total",
			Help: "Webhooks deactivated automatically (410 Gone, archived channel, failing too long)."}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskhook_dispatch_http_requests_total",
			Help: "HTTP requests answered by the dispatcher, by route and status code."}, []string{"route", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "taskhook_dispatch_http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route.", Buckets: latencyBuckets[:12]}, []string{"route"}),
		DueScheduled: prometheus.NewGauge(prometheus.GaugeOpts{Name: "taskhook_due_scheduled_tasks",
			Help: "Open tasks with a task.due or task.overdue still to come (TASKHOOK_DUE_EVENTS=derive); refreshed every minute."}),
		DueFired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskhook_due_fired_total",
			Help: "Reminders published by this replica, by kind (due, overdue; skipped_due: a due day that began when the task was overdue already)."}, []string{"kind"}),
		DueLag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "taskhook_due_lag_seconds",
			Help: "How long the oldest reminder whose time has come has waited to be published (0 when none)."}),
		SealedPrevious: prometheus.NewGauge(prometheus.GaugeOpts{Name: "taskhook_sealed_with_previous_keys",
			Help: "Sealed values not yet re-sealed with TASKHOOK_ENCRYPTION_KEY (after a key rotation; 0 when done)."}),
		OpsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskhook_ops_events_published_total",
			Help: "Operational events published by this replica (one per webhook, type and TASKHOOK_OPS_INTERVAL window), by type."}, []string{"type"}),
		DuePollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "taskhook_due_poll_duration_seconds",
			Help: "Time of one scheduler poll: claim the due reminders, publish them, mark them fired.", Buckets: latencyBuckets[:12]}),
		DigestsSent: prometheus.NewCounter(prometheus.CounterOpts{Name: "taskhook_digest_messages_total",
			Help: "Digest messages created (one per closed window, or per part of a window over 1,000 events)."}),
		DigestWaiting: prometheus.NewGauge(prometheus.GaugeOpts{Name: "taskhook_digest_waiting_events",
			Help: "Events collected in open digest windows, waiting for their window to close."}),
	}
	reg.MustRegister(m.DigestsSent, m.DigestWaiting)
	m.AlertsOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "taskhook_alerts_open",
		Help: "Alerts not acknowledged, by state (open, escalated, unacknowledged: its last step passed)."}, []string{"state"})
	m.AlertAckSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "taskhook_alert_time_to_acknowledge_seconds",
		Help:    "Time from an alert's opening to its acknowledgement, by how it was acknowledged (link, dashboard, api).",
		Buckets: []float64{10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400}}, []string{"via"})
	m.AlertEscalations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskhook_alert_escalations_total",
		Help: "Escalation steps taken, by reason (not_acknowledged, delivery_failed)."}, []string{"reason"})
	m.AlertFallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskhook_alert_fallbacks_total",
		Help: "Events handed to a webhook's fallback, by reason (gave_up, failed, paused, disabled)."}, []string{"reason"})
	reg.MustRegister(m.AlertsOpen, m.AlertAckSeconds, m.AlertEscalations, m.AlertFallbacks)
	reg.MustRegister(m.Events, m.Poison, m.Deliveries, m.Attempts, m.AttemptDuration, m.Retries, m.DeliveryLatency,
		m.RetryBacklog, m.PendingBacklog, m.RetryOldestAge, m.ConsumerPending, m.ConsumerAckPend, m.Inflight, m.Queued,
		m.BatchDuration, m.ClaimDuration, m.WriteErrors, m.WebhooksDisabled, m.Requests, m.RequestDuration,
		m.DueScheduled, m.DueFired, m.DueLag, m.DuePollDuration, m.SealedPrevious, m.OpsPublished,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
