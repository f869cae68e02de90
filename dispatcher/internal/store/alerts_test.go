package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

func openAlert(t *testing.T, db *DB, w *Webhook, event string, by time.Time) NewAlert {
	t.Helper()
	a := NewAlert{ID: uuid.New(), WebhookID: w.ID, DeliveryID: uuid.New(), EventID: event, EventType: "task.overdue",
		TokenHash: []byte(uuid.NewString()), TokenSealed: []byte{1}, TokenExpiresAt: time.Now().Add(time.Hour),
		Policy: []byte(`{"acknowledge_within":"10s","escalate_to":[],"repeat":0}`), OpenedAt: by.Add(-10 * time.Second), AcknowledgeBy: by}
	b := &Batch{Events: []Event{{ID: event, Subject: "task.overdue", Payload: []byte("x")}},
		New:    []NewDelivery{{ID: a.DeliveryID, WebhookID: w.ID, EventID: event, EventType: "task.overdue", State: State{Status: StatusPending, DueAt: time.Now().Add(time.Hour)}}},
		Alerts: []NewAlert{a}, Marks: []Mark{{DeliveryID: a.DeliveryID, Kind: MarkAlert, AlertID: a.ID}}}
	if _, err := db.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return a
}

// Replicas claiming the same due alerts at once: each alert's step is written once, with one
// delivery per target, whoever claims it.
func TestClaimDueAlertsOncePerStepAcrossClaimers(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	w, t1, t2 := webhook(t, db), webhook(t, db), webhook(t, db)
	const alerts = 40
	for i := 0; i < alerts; i++ {
		openAlert(t, db, w, fmt.Sprint("e", i), time.Now().Add(-time.Second))
	}
	var mu sync.Mutex
	steps := map[uuid.UUID]int{}
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 20; k++ {
				_, _, err := db.ClaimDueAlerts(ctx, 7, func(rows []Alert) []AlertChange {
					var out []AlertChange
					for _, a := range rows {
						mu.Lock()
						steps[a.ID]++
						mu.Unlock()
						e := &Escalation{AlertID: a.ID, From: a.WebhookID, Step: a.Step + 1, Reason: "not_acknowledged", At: time.Now(),
							EventID: a.EventID, EventType: a.EventType, Targets: []uuid.UUID{t1.ID, t2.ID},
							Deliveries: []uuid.UUID{uuid.NewSHA1(a.ID, []byte("1")), uuid.NewSHA1(a.ID, []byte("2"))}}
						out = append(out, AlertChange{ID: a.ID, State: "unacknowledged", Step: a.Step + 1, Escalation: e})
					}
					time.Sleep(5 * time.Millisecond) // hold the locks a little
					return out
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(steps) != alerts {
		t.Fatalf("%d alerts claimed, want %d", len(steps), alerts)
	}
	for id, n := range steps {
		if n != 1 {
			t.Fatalf("alert %s claimed %d times", id, n)
		}
	}
	var deliveries, marks, stepRows int
	_ = db.Get(&deliveries, `SELECT count(*) FROM deliveries WHERE webhook_id IN ($1, $2)`, t1.ID, t2.ID)
	_ = db.Get(&marks, `SELECT count(*) FROM alert_marks WHERE kind = 'escalation'`)
	_ = db.Get(&stepRows, `SELECT count(*) FROM alert_steps`)
	if deliveries != 2*alerts || marks != 2*alerts || stepRows != alerts {
		t.Fatalf("deliveries %d, marks %d, steps %d; want %d, %d, %d", deliveries, marks, stepRows, 2*alerts, 2*alerts, alerts)
	}
}

// An acknowledgement and a claim race: once acknowledged, no claim sees the alert; an
// acknowledgement after the step is recorded and audited once.
func TestAcknowledgeStopsClaims(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	w := webhook(t, db)
	a := openAlert(t, db, w, "e1", time.Now().Add(-time.Second))
	got, err := db.AcknowledgeAlert(ctx, a.ID, "Nurse Joy", "link", "link")
	if err != nil || got.State != "acknowledged" || got.AcknowledgedBy.String != "Nurse Joy" {
		t.Fatalf("acknowledge: %v %+v", err, got)
	}
	n, _, err := db.ClaimDueAlerts(ctx, 10, func(rows []Alert) []AlertChange {
		t.Errorf("claimed an acknowledged alert: %+v", rows)
		return nil
	})
	if err != nil || len(n) != 0 {
		t.Fatalf("claim: %v %v", n, err)
	}
	if again, err := db.AcknowledgeAlert(ctx, a.ID, "Someone", "api", "tok_x"); err != ErrAlreadyAcknowledged || again.AcknowledgedBy.String != "Nurse Joy" {
		t.Fatalf("second acknowledgement: %v %+v", err, again)
	}
	var audits int
	_ = db.Get(&audits, `SELECT count(*) FROM audit_log WHERE action = 'alert.acknowledge'`)
	if audits != 1 {
		t.Fatalf("%d audit entries, want 1", audits)
	}
}

// A delivery that ended failed goes once to its webhook's fallback (marked, derived id), and an
// alert whose own delivery failed is due at once.
func TestGaveUpHandsToFallbackOnce(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	fb := webhook(t, db)
	w := webhook(t, db)
	if _, err := db.Exec(`UPDATE webhooks SET fallback_id = $2 WHERE id = $1`, w.ID, fb.ID); err != nil {
		t.Fatal(err)
	}
	a := openAlert(t, db, w, "e1", time.Now().Add(time.Hour))
	fbID := uuid.New()
	g := GaveUp{DeliveryID: a.DeliveryID, WebhookID: w.ID, EventID: "e1", EventType: "task.overdue", Reason: "failed", FallbackID: fbID}
	for i := 0; i < 2; i++ { // the second write's update is fenced out; a third party writing the same hand-off inserts nothing
		written, err := db.Write(ctx, &Batch{New: []NewDelivery{{ID: a.DeliveryID, WebhookID: w.ID, EventID: "e1", EventType: "task.overdue",
			State: State{Status: StatusFailed}}}, GaveUp: []GaveUp{g}})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && len(written.Fallbacks) != 0 {
			t.Fatalf("the delivery existed already (not inserted): no hand-off expected, got %v", written.Fallbacks)
		}
	}
	// Now as the engine writes it: an update of the leased row.
	lease := uuid.New()
	if _, err := db.Exec(`UPDATE deliveries SET lease_token = $2, due_at = now() + interval '1 minute' WHERE id = $1`, a.DeliveryID, lease); err != nil {
		t.Fatal(err)
	}
	upd := Update{ID: a.DeliveryID, WebhookID: w.ID, Lease: lease, State: State{Status: StatusFailed, Attempts: 1, LastError: "HTTP 410"}}
	written, err := db.Write(ctx, &Batch{Updates: []Update{upd}, GaveUp: []GaveUp{g}})
	if err != nil || len(written.Fallbacks) != 1 || written.Fallbacks[0] != "failed" {
		t.Fatalf("hand-off: %v %v", err, written)
	}
	written, err = db.Write(ctx, &Batch{Updates: []Update{upd}, GaveUp: []GaveUp{g}})
	if err != nil || len(written.Fallbacks) != 0 {
		t.Fatalf("a second write handed off again: %v %v", err, written)
	}
	var n int
	_ = db.Get(&n, `SELECT count(*) FROM deliveries WHERE webhook_id = $1 AND id = $2 AND status = 'pending'`, fb.ID, fbID)
	if n != 1 {
		t.Fatalf("%d fallback deliveries, want 1", n)
	}
	var m AlertMark
	if err := db.Get(&m, `SELECT delivery_id, kind, step, reason, from_webhook_id, NULL AS from_name, alert_id, NULL AS token_sealed,
		NULL AS token_expires_at, NULL AS acknowledge_by, NULL AS policy FROM alert_marks WHERE delivery_id = $1`, fbID); err != nil {
		t.Fatal(err)
	}
	if m.Kind != MarkFallback || m.Reason != "failed" || m.FromWebhookID.UUID != w.ID || m.AlertID.UUID != a.ID {
		t.Fatalf("mark %+v", m)
	}
	var failed bool
	var next sql.NullTime
	_ = db.QueryRow(`SELECT primary_failed, next_step_at FROM alerts WHERE id = $1`, a.ID).Scan(&failed, &next)
	if !failed || !next.Valid || next.Time.After(time.Now().Add(time.Second)) {
		t.Fatalf("alert not due at once: failed %v next %v", failed, next)
	}
}
