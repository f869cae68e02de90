package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

func limited(wh uuid.UUID, typ, key string, per time.Duration) NewDelivery {
	return NewDelivery{ID: uuid.New(), WebhookID: wh, EventID: "e-" + uuid.NewString(), EventType: typ,
		State: State{Status: StatusPending, DueAt: time.Now()}, Repeat: &Repeat{Key: key, Per: per}}
}

// TestRepeatLimitsInOneBatch: several keys and types in one batch: per (type, key) the first
// delivery is let through, the others are suppressed; a second batch within the period is all
// suppressed; after the period the first of the next batch is let through and carries the count.
func TestRepeatLimitsInOneBatch(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	wh := webhook(t, db).ID
	var b Batch
	for i := range 3 {
		for _, key := range []string{"D-1", "D-2"} {
			b.New = append(b.New, limited(wh, "battery.low", key, time.Second))
		}
		if i == 0 {
			b.New = append(b.New, limited(wh, "battery.critical", "D-1", time.Second))
		}
	}
	w, err := db.Write(ctx, &b)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Inserted) != 7 || len(w.Suppressed) != 4 {
		t.Fatalf("inserted %d, suppressed %d", len(w.Inserted), len(w.Suppressed))
	}
	for i, d := range b.New {
		if want := i < 3; w.Suppressed[d.ID] == want {
			t.Fatalf("delivery %d (%s %s): suppressed %v", i, d.EventType, d.Repeat.Key, w.Suppressed[d.ID])
		}
	}
	var statuses []string
	if err := db.Select(&statuses, `SELECT status FROM deliveries WHERE webhook_id = $1 ORDER BY status`, wh); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(statuses) != "[pending pending pending suppressed suppressed suppressed suppressed]" {
		t.Fatalf("statuses %v", statuses)
	}
	again := Batch{New: []NewDelivery{limited(wh, "battery.low", "D-1", time.Second)}}
	if w, err = db.Write(ctx, &again); err != nil || !w.Suppressed[again.New[0].ID] {
		t.Fatalf("within the period: %v %v", w, err)
	}
	time.Sleep(1100 * time.Millisecond)
	next := Batch{New: []NewDelivery{limited(wh, "battery.low", "D-1", time.Second), limited(wh, "battery.low", "D-1", time.Second)}}
	if w, err = db.Write(ctx, &next); err != nil || w.Suppressed[next.New[0].ID] || !w.Suppressed[next.New[1].ID] {
		t.Fatalf("after the period: %+v %v", w, err)
	}
	var n int
	if err := db.Get(&n, `SELECT suppressed_since_last FROM deliveries WHERE id = $1`, next.New[0].ID); err != nil || n != 3 {
		t.Fatalf("suppressed_since_last %d %v (want 3: two in the first batch, one after)", n, err)
	}
	// A redelivered delivery (its row exists) does not count again.
	if w, err = db.Write(ctx, &next); err != nil || len(w.Suppressed) != 0 {
		t.Fatalf("redelivered: %+v %v", w, err)
	}
}

// TestRepeatLimitConcurrentWriters: many writers at once on the same key: exactly one
// delivery is let through, the rest are suppressed.
func TestRepeatLimitConcurrentWriters(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	wh := webhook(t, db).ID
	var wg sync.WaitGroup
	var mu sync.Mutex
	through := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				b := Batch{New: []NewDelivery{limited(wh, "battery.low", "ERI", time.Hour), limited(wh, "battery.low", "ERI", time.Hour)}}
				w, err := db.Write(ctx, &b)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				through += 2 - len(w.Suppressed)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if through != 1 {
		t.Fatalf("%d let through, want 1", through)
	}
}

// TestPruneRepeatLimits: retention drops a key's row once its period ended before the cutoff,
// not while the period still runs.
func TestPruneRepeatLimits(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	wh := webhook(t, db).ID
	if _, err := db.Exec(`INSERT INTO repeat_limits (webhook_id, event_type, key, sent_at, per_s, suppressed)
		VALUES ($1, 'battery.low', 'old', now() - interval '40 days', 86400, 3),
		       ($1, 'battery.low', 'long', now() - interval '40 days', 3600 * 24 * 30, 0),
		       ($1, 'battery.low', 'recent', now() - interval '1 hour', 86400, 0)`, wh); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Prune(ctx, time.Now().Add(-30*24*time.Hour), 100); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := db.Select(&keys, `SELECT key FROM repeat_limits ORDER BY key`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[long recent]" {
		t.Fatalf("kept %v", keys)
	}
}
