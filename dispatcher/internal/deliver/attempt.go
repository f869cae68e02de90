package deliver

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/alert"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

// attempt makes one attempt, bounded by ctx and the attempt timeout, and decides the delivery's
// next state.
func (e *Engine) attempt(ctx context.Context, j *Job) *Result {
	r := &Result{Job: j, Attempted: true}
	wh := e.hooks.Get(j.WebhookID)
	ctx, span := e.startAttempt(ctx, j)
	defer span.End()
	started := time.Now()
	var resp notify.Response
	var out notify.Outcome
	switch {
	case wh == nil:
		out = notify.Outcome{Result: notify.Fail, Reason: "webhook deleted or not loadable"}
		j.Provider = "unknown"
	case !wh.Active:
		out = notify.Outcome{Result: notify.Fail, Reason: "webhook is deactivated; replay to deliver"}
		j.Provider = wh.Provider.Name()
	default:
		j.Provider = wh.Provider.Name()
		resp, out = e.send(ctx, wh, Message(j), started)
	}
	took := time.Since(started)
	r.Outcome = out
	r.Attempt = store.Attempt{DeliveryID: j.DeliveryID, WebhookID: j.WebhookID, N: j.Attempt, StartedAt: started,
		Duration: took, StatusCode: resp.StatusCode, Error: out.Reason, Succeeded: out.Result == notify.Success}
	if len(resp.Body) > 0 {
		r.Attempt.Excerpt = e.box.Seal(resp.Body, ExcerptAAD(j.DeliveryID))
	}
	if sc := span.SpanContext(); sc.IsValid() {
		r.Attempt.TraceID = sc.TraceID().String()
		if span.IsRecording() {
			endAttempt(span, j, resp.StatusCode, out)
		}
	}
	r.State = nextState(e.retries(wh), j.Attempt, out, resp.StatusCode, started)
	r.State.LastTraceID = r.Attempt.TraceID
	r.State.LastAttemptAt, r.State.LastDuration, r.State.LastExcerpt = started, took, r.Attempt.Excerpt
	// A delivery decided by its first attempt keeps that attempt in its own row only.
	r.Attempt.Inline = j.Attempt == 1 && store.Final(r.State.Status)
	if out.Disable {
		r.Disable = &store.Disable{WebhookID: j.WebhookID, Reason: out.Reason}
	}
	if wh != nil {
		r.Fallback = alert.FallbackReason(r.State.Status, out.Result, wh.Active, wh.DisabledReason)
	}
	e.metrics.Attempts.WithLabelValues(j.Provider, out.Result.String()).Inc()
	e.metrics.AttemptDuration.WithLabelValues(j.Provider).Observe(took.Seconds())
	switch r.State.Status {
	case store.StatusRetrying:
		e.metrics.Retries.WithLabelValues(j.Provider).Inc()
	case store.StatusSucceeded:
		if !j.Received.IsZero() {
			e.metrics.DeliveryLatency.WithLabelValues(j.Provider).Observe(time.Since(j.Received).Seconds())
		}
	}
	if out.Result != notify.Success {
		e.log.Debug("attempt failed", zap.String("delivery_id", j.DeliveryID.String()), zap.String("webhook_id", j.WebhookID.String()),
			zap.Int("attempt", j.Attempt), zap.Int("status_code", resp.StatusCode), zap.String("reason", out.Reason))
	}
	return r
}

// ExcerptAAD binds a sealed response excerpt to its delivery.
func ExcerptAAD(delivery uuid.UUID) []byte { return []byte("excerpt:" + delivery.String()) }

// Retries is what decides whether and when a failed attempt is tried again.
type Retries struct {
	Schedule      Schedule
	MaxAttempts   int           // the webhook's max_attempts
	RetryAfterMax time.Duration // the longest Retry-After honoured
}

// nextState is the delivery's state after attempt n (1-based), made at at, came out as out with
// the status code code: succeeded, retrying at the scheduled time (or the receiver's Retry-After),
// or failed (at once, or once the attempts are used up).
func nextState(rt Retries, n int, out notify.Outcome, code int, at time.Time) store.State {
	s := store.State{Attempts: n, LastStatusCode: code, LastError: out.Reason}
	switch {
	case out.Result == notify.Success:
		s.Status = store.StatusSucceeded
	case out.Result == notify.Retry && n < rt.MaxAttempts:
		s.Status = store.StatusRetrying
		s.NextAttemptAt = at.Add(rt.Schedule.Delay(n, out.RetryAfter, rt.RetryAfterMax))
		s.DueAt = s.NextAttemptAt
	case out.Result == notify.Retry:
		s.Status = store.StatusFailed
		s.LastError = "gave up after " + strconv.Itoa(n) + " attempts: " + out.Reason
	default:
		s.Status = store.StatusFailed
	}
	return s
}

// retries is the retry policy of wh (the schedule's default when the webhook is gone).
func (e *Engine) retries(wh *subscription.Compiled) Retries {
	rt := Retries{Schedule: e.cfg.Schedule, MaxAttempts: e.cfg.Schedule.DefaultAttempts(), RetryAfterMax: e.cfg.RetryAfterMax}
	if wh != nil {
		rt.MaxAttempts = wh.MaxAttempts
	}
	return rt
}

// startAttempt starts the attempt's span, a child of the span the event was consumed in (the
// same trace as the publisher's request), or of ctx's span (an admin test), or a root.
func (e *Engine) startAttempt(ctx context.Context, j *Job) (context.Context, trace.Span) {
	if !e.cfg.Tracing.On() {
		return ctx, noopSpan
	}
	if j.Trace.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, j.Trace)
	}
	ctx, span := e.tracer.Start(ctx, "attempt "+j.EventType, trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() { // attributes cost only for sampled attempts
		span.SetAttributes(attribute.String("taskhook.delivery_id", j.DeliveryID.String()),
			attribute.String("taskhook.webhook_id", j.WebhookID.String()), attribute.String("taskhook.event_id", j.EventID),
			attribute.Int("taskhook.attempt", j.Attempt), attribute.Int("taskhook.retry", j.Attempt-1))
	}
	return ctx, span
}

// endAttempt records an attempt's outcome on its span.
func endAttempt(span trace.Span, j *Job, code int, out notify.Outcome) {
	span.SetAttributes(attribute.String("taskhook.provider", j.Provider), attribute.String("taskhook.outcome", out.Result.String()))
	if code != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", code))
	}
	if out.Result != notify.Success {
		span.SetStatus(codes.Error, out.Reason)
	}
}

// noopSpan is the span of attempts without tracing.
var noopSpan = noop.Span{}

// GaveUp is what the store needs to hand a delivery that ended failed to its webhook's fallback
// and alert (nil when r does not go there).
func GaveUp(r *Result) *store.GaveUp {
	if r.Fallback == "" {
		return nil
	}
	j := r.Job
	return &store.GaveUp{DeliveryID: j.DeliveryID, WebhookID: j.WebhookID, EventID: j.EventID, EventType: j.EventType,
		Reason: r.Fallback, FallbackID: alert.FallbackDeliveryID(j.DeliveryID)}
}
