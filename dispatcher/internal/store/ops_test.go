package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// opsWebhook is an active webhook naming events.
func opsWebhook(t *testing.T, db *DB, events ...string) *Webhook {
	t.Helper()
	w := webhook(t, db)
	if _, err := db.Exec(`UPDATE webhooks SET events = $2 WHERE id = $1`, w.ID, pq.StringArray(events)); err != nil {
		t.Fatal(err)
	}
	return w
}

func signals(t *testing.T, db *DB, webhook uuid.UUID) map[string]OpsSignal {
	t.Helper()
	var rows []OpsSignal
	if err := db.Select(&rows, `SELECT s.webhook_id, w.name, s.type, s.count, s.window_start, s.last_at, s.reason, s.health, s.previous_health,
		s.last_status_code, s.last_error, s.delivery_id, s.attempts FROM ops_signals s JOIN webhooks w ON w.id = s.webhook_id WHERE s.webhook_id = $1`, webhook); err != nil {
		t.Fatal(err)
	}
	out := map[string]OpsSignal{}
	for _, r := range rows {
		out[r.Type] = r
	}
	return out
}

// TestExhaustedCoalescesInWrite: failed finals of a batch (inserted or updated) add to one
// delivery.exhausted row per webhook, only while another active webhook names the type or its
// family; successes and retries record nothing.
func TestExhaustedCoalescesInWrite(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	w := webhook(t, db)
	failed := func(i, code int) NewDelivery {
		return NewDelivery{ID: uuid.New(), WebhookID: w.ID, EventID: fmt.Sprint("e", i), EventType: "task.created",
			State: State{Status: StatusFailed, Attempts: 1, LastStatusCode: code, LastError: fmt.Sprint("HTTP ", code)}}
	}
	// Nobody listens: nothing kept.
	if _, err := db.Write(ctx, &Batch{New: []NewDelivery{failed(0, 500)}}); err != nil {
		t.Fatal(err)
	}
	if s := signals(t, db, w.ID); len(s) != 0 {
		t.Fatalf("signal kept without a listener: %+v", s)
	}
	// A webhook naming only itself is no listener either.
	if _, err := db.Exec(`UPDATE webhooks SET events = '{delivery.exhausted}' WHERE id = $1`, w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write(ctx, &Batch{New: []NewDelivery{failed(1, 500)}}); err != nil {
		t.Fatal(err)
	}
	if s := signals(t, db, w.ID); len(s) != 0 {
		t.Fatalf("signal kept for the webhook's own ears: %+v", s)
	}
	opsWebhook(t, db, "delivery.*")
	lease := uuid.New()
	pending := NewDelivery{ID: uuid.New(), WebhookID: w.ID, EventID: "p", EventType: "task.created",
		State: State{Status: StatusPending, DueAt: time.Now().Add(time.Minute), LeaseToken: lease}}
	ok := NewDelivery{ID: uuid.New(), WebhookID: w.ID, EventID: "ok", EventType: "task.created", State: State{Status: StatusSucceeded, Attempts: 1}}
	if _, err := db.Write(ctx, &Batch{New: []NewDelivery{failed(2, 500), failed(3, 400), pending, ok}}); err != nil {
		t.Fatal(err)
	}
	last := failed(4, 503)
	last.Attempts = 8
	if _, err := db.Write(ctx, &Batch{New: []NewDelivery{last}}); err != nil {
		t.Fatal(err)
	}
	// A redelivered batch inserts nothing and counts nothing.
	if _, err := db.Write(ctx, &Batch{New: []NewDelivery{last}}); err != nil {
		t.Fatal(err)
	}
	// The pending delivery gives up through a fenced update.
	gaveUp := State{Status: StatusFailed, Attempts: 3, LastError: "timeout: no answer within the attempt timeout"}
	if _, err := db.Write(ctx, &Batch{Updates: []Update{{ID: pending.ID, WebhookID: w.ID, Lease: lease, State: gaveUp}}}); err != nil {
		t.Fatal(err)
	}
	s := signals(t, db, w.ID)[OpsExhausted]
	if s.Count != 4 || s.DeliveryID.UUID != pending.ID || s.Attempts.Int64 != 3 || s.LastError != gaveUp.LastError || s.LastStatusCode.Int64 != 503 {
		t.Fatalf("exhausted %+v", s)
	}
	if len(signals(t, db, w.ID)) != 1 {
		t.Fatalf("other signals recorded: %+v", signals(t, db, w.ID))
	}
}

// TestDisabledIsRecordedOnce: a 410 in a batch and the auto-disable of housekeeping record
// webhook.disabled once per deactivation, and mark the webhook observed as disabled.
func TestDisabledIsRecordedOnce(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	opsWebhook(t, db, "webhook.disabled")
	w := webhook(t, db)
	if _, err := db.Exec(`INSERT INTO ops_observed (webhook_id, health) VALUES ($1, 'green')`, w.ID); err != nil {
		t.Fatal(err)
	}
	d := NewDelivery{ID: uuid.New(), WebhookID: w.ID, EventID: "e", EventType: "task.created", State: State{Status: StatusFailed, Attempts: 1, LastStatusCode: 410}}
	b := &Batch{New: []NewDelivery{d}, Attempts: []Attempt{{DeliveryID: d.ID, WebhookID: w.ID, N: 1, StartedAt: time.Now(), StatusCode: 410, Error: "HTTP 410 Gone"}},
		Disable: []Disable{{WebhookID: w.ID, Reason: "HTTP 410 Gone: gone"}}}
	for i := 0; i < 2; i++ { // the second deactivates nothing: already inactive
		if _, err := db.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	s := signals(t, db, w.ID)[OpsDisabled]
	if s.Count != 1 || s.Reason != "HTTP 410 Gone: gone" || s.LastStatusCode.Int64 != 410 || s.Health != "disabled" {
		t.Fatalf("disabled %+v", s)
	}
	var observed string
	_ = db.Get(&observed, `SELECT health FROM ops_observed WHERE webhook_id = $1`, w.ID)
	if observed != "disabled" {
		t.Fatalf("observed %q", observed)
	}

	failing := webhook(t, db)
	_, _ = db.Exec(`INSERT INTO webhook_health (webhook_id, consecutive_failures, failing_since) VALUES ($1, 40, now() - interval '6 days')`, failing.ID)
	for i := 0; i < 2; i++ {
		if _, err := db.DisableFailing(ctx, 5*24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if s := signals(t, db, failing.ID)[OpsDisabled]; s.Count != 1 || s.Reason == "" {
		t.Fatalf("auto-disable %+v", s)
	}
	// Never observed before: observed as disabled from now on, so that the observer does not
	// report the same change as webhook.health_changed.
	_ = db.Get(&observed, `SELECT health FROM ops_observed WHERE webhook_id = $1`, failing.ID)
	if observed != "disabled" {
		t.Fatalf("observed %q", observed)
	}
}

// TestEndWindowsAndPublishOutbox: only ended windows move to the outbox, each by one replica at a
// time (SKIP LOCKED); a signal after that opens a new window at once (the delivery path never
// waits for a publish); a failed publish keeps the outbox rows, a successful one deletes them,
// each claimed by one replica at a time.
func TestEndWindowsAndPublishOutbox(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	opsWebhook(t, db, "delivery.*", "webhook.*")
	a, b := webhook(t, db), webhook(t, db)
	if err := RecordSignals(ctx, db, []Signal{{WebhookID: a.ID, Type: OpsExhausted, Count: 2}, {WebhookID: b.ID, Type: OpsRecovered},
		{WebhookID: a.ID, Type: OpsExhausted, Count: 3, LastError: "HTTP 500"}}); err != nil {
		t.Fatal(err)
	}
	_, _ = db.Exec(`UPDATE ops_signals SET window_start = now() - interval '10 seconds' WHERE webhook_id = $1`, a.ID)
	var ended []OpsSignal
	build := func(rows []OpsSignal) []OutboxMessage {
		ended = append(ended, rows...)
		var out []OutboxMessage
		for _, r := range rows {
			out = append(out, OutboxMessage{EventID: "ev-" + r.WebhookID.String(), Subject: r.Type, Body: []byte(`{}`)})
		}
		return out
	}
	// Two replicas at once: one ends the window, the other skips it.
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = db.EndOpsWindows(ctx, 5*time.Second, 10, func(rows []OpsSignal) []OutboxMessage { <-release; return build(rows) })
	}()
	time.Sleep(200 * time.Millisecond)
	n, err := db.EndOpsWindows(ctx, 5*time.Second, 10, build)
	close(release)
	wg.Wait()
	if err != nil || n != 0 || len(ended) != 1 || ended[0].WebhookID != a.ID || ended[0].Count != 5 || ended[0].LastError != "HTTP 500" || ended[0].WebhookName != "n" {
		t.Fatalf("second replica ended %d; ended %+v %v", n, ended, err)
	}
	if s := signals(t, db, a.ID); len(s) != 0 {
		t.Fatalf("ended window kept: %+v", s)
	}
	if s := signals(t, db, b.ID); s[OpsRecovered].Count != 1 {
		t.Fatalf("open window ended: %+v", s)
	}
	if err := RecordSignals(ctx, db, []Signal{{WebhookID: a.ID, Type: OpsExhausted}}); err != nil {
		t.Fatal(err)
	}
	if s := signals(t, db, a.ID)[OpsExhausted]; s.Count != 1 || time.Since(s.WindowStart) > 5*time.Second {
		t.Fatalf("new window %+v", s)
	}

	boom := errors.New("nats down")
	if n, err := db.PublishOutbox(ctx, 10, func([]OutboxMessage) error { return boom }); !errors.Is(err, boom) || n != 0 {
		t.Fatalf("failed publish: %d %v", n, err)
	}
	release = make(chan struct{})
	var first []OutboxMessage
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = db.PublishOutbox(ctx, 10, func(m []OutboxMessage) error { first = m; <-release; return nil })
	}()
	time.Sleep(200 * time.Millisecond)
	n, err = db.PublishOutbox(ctx, 10, func(m []OutboxMessage) error { t.Errorf("claimed twice: %+v", m); return nil })
	close(release)
	wg.Wait()
	if err != nil || n != 0 || len(first) != 1 || first[0].EventID != "ev-"+a.ID.String() || first[0].Subject != OpsExhausted {
		t.Fatalf("outbox: second %d %v, first %+v", n, err, first)
	}
	var left int
	_ = db.Get(&left, `SELECT count(*) FROM ops_outbox`)
	if left != 0 {
		t.Fatalf("%d published rows kept", left)
	}
}

// TestRecordObservationsOnce: two replicas recording the same change: one wins and records
// its signals.
func TestRecordObservationsOnce(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	opsWebhook(t, db, "webhook.health_changed")
	w := webhook(t, db)
	base := Observation{WebhookID: w.ID, Health: "green"}
	if n, err := db.RecordObservations(ctx, []Observation{base}); err != nil || n != 0 {
		t.Fatalf("baseline: %d %v", n, err)
	}
	change := Observation{WebhookID: w.ID, Health: "red", Failures: 5, PrevSeen: true, PrevHealth: "green",
		Signals: []Signal{{WebhookID: w.ID, Type: OpsHealthChanged, Health: "red", PreviousHealth: "green"}}}
	var wg sync.WaitGroup
	won := make(chan int, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := db.RecordObservations(ctx, []Observation{change})
			if err != nil {
				t.Error(err)
			}
			won <- n
		}()
	}
	wg.Wait()
	close(won)
	total := 0
	for n := range won {
		total += n
	}
	if s := signals(t, db, w.ID)[OpsHealthChanged]; total != 1 || s.Count != 1 || s.PreviousHealth != "green" || s.Health != "red" {
		t.Fatalf("%d replicas recorded it: %+v", total, s)
	}
	// Back to yellow within the window: count 2, previous health kept from the first change.
	back := Observation{WebhookID: w.ID, Health: "yellow", Failures: 5, PrevSeen: true, PrevHealth: "red", PrevFailures: 5,
		Signals: []Signal{{WebhookID: w.ID, Type: OpsHealthChanged, Health: "yellow", PreviousHealth: "red"}}}
	if n, err := db.RecordObservations(ctx, []Observation{back}); err != nil || n != 1 {
		t.Fatalf("second change: %d %v", n, err)
	}
	if s := signals(t, db, w.ID)[OpsHealthChanged]; s.Count != 2 || s.PreviousHealth != "green" || s.Health != "yellow" {
		t.Fatalf("coalesced %+v", s)
	}
}
