// Package ops publishes operational events (webhook.disabled, webhook.health_changed,
// delivery.exhausted, delivery.recovered) to the event stream, where the consumer delivers them
// like any event to the webhooks that name them.
//
// Signals are coalesced in PostgreSQL (ops_signals, one row per webhook and type): the store
// records delivery.exhausted and webhook.disabled inside the transactions that cause them, and
// the Observer records webhook.health_changed and delivery.recovered by comparing each webhook's
// health with what it observed last (a compare-and-set per webhook, so that one replica reports
// each change). The Flusher, on every replica, turns the rows whose window ended into events in
// an outbox (one short transaction, SKIP LOCKED), then claims outbox rows (SKIP LOCKED),
// publishes them with Nats-Msg-Id set to their event id and deletes them in the claiming
// transaction: at most one event per webhook and type per TASKHOOK_OPS_INTERVAL, carrying count.
// The outbox keeps the publish off the rows that the delivery path writes.
package ops

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/streampub"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/event"
	opsfam "github.com/taskhook/taskhook/pkg/families/ops"
	"github.com/taskhook/taskhook/pkg/retry"
)

// Store is what the flusher and the observer need of PostgreSQL (*store.DB).
type Store interface {
	EndOpsWindows(ctx context.Context, interval time.Duration, limit int, build func([]store.OpsSignal) []store.OutboxMessage) (int, error)
	PublishOutbox(ctx context.Context, limit int, publish func([]store.OutboxMessage) error) (int, error)
	OpsListeners(ctx context.Context, types []string) (bool, error)
	ForgetObserved(ctx context.Context) error
	ObserveWebhooks(ctx context.Context) ([]store.Observed, map[uuid.UUID]bool, error)
	RecordObservations(ctx context.Context, obs []store.Observation) (int, error)
}

// Flusher publishes the signals whose window ended.
type Flusher struct {
	Store    Store
	Pub      streampub.Publisher
	Catalog  *event.Catalog // every event is checked against its schema before it is published
	Log      *zap.Logger
	Interval time.Duration // TASKHOOK_OPS_INTERVAL: the coalescing window
	Every    time.Duration // how often ended windows are looked for
	Batch    int           // signals claimed per transaction
	// Published, when set, is told how many events of each type were published.
	Published func(typ string, n int)
}

// Run flushes every Every until ctx ends.
func (f *Flusher) Run(ctx context.Context) {
	retry.Every(ctx, f.Every, func(ctx context.Context) {
		for ctx.Err() == nil {
			n, err := f.Flush(ctx)
			if err != nil {
				if ctx.Err() == nil {
					f.Log.Warn("operational events not published; retrying at the next poll", zap.Error(err))
				}
				return
			}
			if n < f.Batch {
				return
			}
		}
	})
}

// Flush ends one batch of ended windows into the outbox, then publishes one batch of the outbox;
// it returns the larger of the two counts (Run flushes again while it reaches Batch).
func (f *Flusher) Flush(ctx context.Context) (int, error) {
	ended, err := f.Store.EndOpsWindows(ctx, f.Interval, f.Batch, f.build)
	if err != nil {
		return 0, fmt.Errorf("end windows: %w", err)
	}
	counts := map[string]int{}
	published, err := f.Store.PublishOutbox(ctx, f.Batch, func(rows []store.OutboxMessage) error {
		msgs := make([]streampub.Message, len(rows))
		for i, r := range rows {
			msgs[i] = streampub.Message{Subject: r.Subject, ID: r.EventID, Body: r.Body}
			counts[r.Subject]++
		}
		return f.Pub.Publish(ctx, msgs)
	})
	if err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	if f.Published != nil {
		for typ, c := range counts {
			f.Published(typ, c)
		}
	}
	return max(ended, published), nil
}

// build makes the events of ended windows, each checked against its schema.
func (f *Flusher) build(rows []store.OpsSignal) []store.OutboxMessage {
	out := make([]store.OutboxMessage, 0, len(rows))
	for _, r := range rows {
		body, id, err := Body(r, f.Interval)
		if err == nil {
			_, err = f.Catalog.ValidateInternal(body)
		}
		if err != nil {
			// Not publishable (a bug): dropped with its row rather than retried forever.
			f.Log.Error("operational event not valid; dropped", zap.String("webhook_id", r.WebhookID.String()), zap.String("type", r.Type), zap.Error(err))
			continue
		}
		out = append(out, store.OutboxMessage{EventID: id, Subject: r.Type, Body: body})
	}
	return out
}

// maxText bounds the free-text fields (the schema's maxLength).
const maxText = 1000

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Body is the operational event of a claimed signal and its event id. Pure.
func Body(r store.OpsSignal, interval time.Duration) ([]byte, string, error) {
	start := r.WindowStart.UTC()
	id := opsfam.EventID(r.WebhookID.String(), r.Type, start)
	e := opsfam.Event{Type: r.Type, EventID: id, OccurredAt: r.LastAt.UTC(), WebhookID: r.WebhookID.String(),
		WebhookName: truncate(r.WebhookName, subscription.MaxNameLen), Reason: truncate(r.Reason, maxText), Count: max(r.Count, 1),
		LastError: truncate(r.LastError, maxText), Window: opsfam.Window{Start: start, End: start.Add(interval)}}
	if r.Type == opsfam.HealthChanged || r.Type == opsfam.Recovered || r.Type == opsfam.Disabled {
		e.Health = r.Health
	}
	if r.Type == opsfam.HealthChanged {
		e.PreviousHealth = r.PreviousHealth
	}
	if r.LastStatusCode.Valid && r.LastStatusCode.Int64 >= 100 && r.LastStatusCode.Int64 <= 599 {
		e.LastStatusCode = int(r.LastStatusCode.Int64)
	}
	if r.Type == opsfam.Exhausted && r.DeliveryID.Valid {
		e.DeliveryID = r.DeliveryID.UUID.String()
		if r.Attempts.Valid {
			a := int(r.Attempts.Int64)
			e.Attempts = &a
		}
	}
	body, err := json.Marshal(e)
	return body, id, err
}

// Observer records health changes and recoveries.
type Observer struct {
	Store    Store
	Log      *zap.Logger
	RedAfter int           // TASKHOOK_RED_AFTER, as the admin API computes health
	Every    time.Duration // how often webhooks are observed
}

// Run observes every Every until ctx ends.
func (o *Observer) Run(ctx context.Context) {
	retry.Every(ctx, o.Every, func(ctx context.Context) {
		if _, err := o.Observe(ctx); err != nil && ctx.Err() == nil {
			o.Log.Warn("webhook health not observed; retrying", zap.Error(err))
		}
	})
}

// Observe compares every webhook with its last observation and records the changes; it returns
// how many changes this replica recorded. While no active webhook names webhook.health_changed
// or delivery.recovered (or their families) nothing is observed and the observations are
// forgotten, so that a new listener hears of changes from then on, not of stale ones.
func (o *Observer) Observe(ctx context.Context) (int, error) {
	listening, err := o.Store.OpsListeners(ctx, []string{opsfam.HealthChanged, opsfam.Recovered})
	if err != nil {
		return 0, err
	}
	if !listening {
		return 0, o.Store.ForgetObserved(ctx)
	}
	rows, retrying, err := o.Store.ObserveWebhooks(ctx)
	if err != nil {
		return 0, err
	}
	var obs []store.Observation
	for _, r := range rows {
		if ob, changed := Transition(r, retrying[r.ID], o.RedAfter); changed {
			obs = append(obs, ob)
		}
	}
	return o.Store.RecordObservations(ctx, obs)
}

// Transition is what changed for a webhook since its last observation: changed is false when
// nothing did. A first observation is stored without signals, unless the webhook was created a
// moment ago: then it is compared with green (how every webhook starts). Signals: webhook.health_changed
// when the health state differs (an automatic deactivation is recorded as observed by the
// transaction that made it, and reported as webhook.disabled instead); delivery.recovered when
// the webhook had failures at the last observation and has succeeded since. Pure.
func Transition(r store.Observed, retrying bool, redAfter int) (store.Observation, bool) {
	h := subscription.HealthOf(r.Active, r.Health, retrying, redAfter).State
	ob := store.Observation{WebhookID: r.ID, Health: h, Failures: r.ConsecutiveFailures, LastSuccess: r.LastSuccessAt,
		PrevSeen: r.Seen, PrevHealth: r.SeenHealth, PrevFailures: r.SeenFailures, PrevLastSuccess: r.SeenLastSuccess}
	if !r.Seen {
		if !r.New {
			return ob, true // a baseline: what happened before is not known
		}
		// A webhook created a moment ago started green: report what happened since.
		// ob keeps PrevSeen false: the observation is inserted (by one replica).
		r.Seen, r.SeenHealth, r.SeenFailures, r.SeenLastSuccess = true, subscription.Green, 0, sql.NullTime{}
	}
	succeeded := r.LastSuccessAt.Valid && (!r.SeenLastSuccess.Valid || r.LastSuccessAt.Time.After(r.SeenLastSuccess.Time))
	if h == r.SeenHealth && r.ConsecutiveFailures == r.SeenFailures && !succeeded && sameTime(r.LastSuccessAt, r.SeenLastSuccess) {
		return ob, false
	}
	if h != r.SeenHealth {
		ob.Signals = append(ob.Signals, store.Signal{WebhookID: r.ID, Type: opsfam.HealthChanged, Count: 1, Health: h,
			PreviousHealth: r.SeenHealth, Reason: HealthReason(h, r, retrying, redAfter)})
	}
	if r.SeenFailures > 0 && succeeded {
		ob.Signals = append(ob.Signals, store.Signal{WebhookID: r.ID, Type: opsfam.Recovered, Count: 1, Health: h,
			Reason: fmt.Sprintf("succeeded after %d consecutive %s", r.SeenFailures, plural(r.SeenFailures, "failure"))})
	}
	return ob, true
}

func sameTime(a, b sql.NullTime) bool {
	return a.Valid == b.Valid && (!a.Valid || a.Time.Equal(b.Time))
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// HealthReason says, in Taskhook's words, why a webhook is in state h. Pure.
func HealthReason(h string, r store.Observed, retrying bool, redAfter int) string {
	switch h {
	case subscription.Disabled:
		if r.DisabledReason != "" {
			return r.DisabledReason
		}
		return "inactive"
	case subscription.Red:
		return fmt.Sprintf("%d consecutive %s (red from %d)", r.ConsecutiveFailures, plural(r.ConsecutiveFailures, "failure"), redAfter)
	case subscription.Yellow:
		switch {
		case r.ConsecutiveFailures > 0:
			return fmt.Sprintf("%d consecutive %s", r.ConsecutiveFailures, plural(r.ConsecutiveFailures, "failure"))
		case retrying:
			return "deliveries are waiting for a retry"
		}
		return "failed attempts in the last 24 hours"
	}
	return "deliveries succeed"
}
