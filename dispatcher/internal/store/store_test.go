package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/taskhook/taskhook/pkg/pgtest"
)

func open(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, pgtest.NewDatabase(t), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestMigrateConcurrentlyIsSafe(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(ctx, url, 2)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			_, err = db.Migrate(ctx)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
}

func webhook(t *testing.T, db *DB) *Webhook {
	t.Helper()
	w := &Webhook{ID: uuid.New(), Name: "n", URLSealed: []byte{1}, URLHint: "https://example.com/…", Provider: "generic",
		Events: pq.StringArray{"task.*"}, Active: true, AuthType: "none", Timezone: "UTC"}
	if err := InsertWebhook(context.Background(), db, w); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWebhookCRUDBumpsGeneration(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	g0, _ := db.Generation(ctx)
	w := webhook(t, db)
	g1, _ := db.Generation(ctx)
	if g1 <= g0 || w.CreatedAt.IsZero() {
		t.Fatalf("generation %d → %d, created %v", g0, g1, w.CreatedAt)
	}
	w.Name, w.RateLimitPerSecond = "renamed", sql.NullFloat64{Float64: 1, Valid: true}
	if err := UpdateWebhook(ctx, db, w); err != nil {
		t.Fatal(err)
	}
	got, err := GetWebhook(ctx, db, w.ID)
	if err != nil || got.Name != "renamed" || got.RateLimitPerSecond.Float64 != 1 || got.ConsecutiveFailures != 0 {
		t.Fatalf("%+v %v", got, err)
	}
	all, gen, err := db.LoadWebhooks(ctx)
	if err != nil || len(all) != 1 || gen <= g1 {
		t.Fatalf("%d webhooks at generation %d: %v", len(all), gen, err)
	}
	if err := db.DeleteWebhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := GetWebhook(ctx, db, w.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := db.DeleteWebhook(ctx, w.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestWriteIsIdempotentAndFenced(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	w := webhook(t, db)
	lease := uuid.New()
	now := time.Now()
	d1 := NewDelivery{ID: uuid.New(), WebhookID: w.ID, EventID: "e1", EventType: "task.created",
		State: State{Status: StatusPending, DueAt: now.Add(time.Minute), LeaseToken: lease}}
	d2 := NewDelivery{ID: uuid.New(), WebhookID: w.ID, EventID: "e1", EventType: "task.created",
		State: State{Status: StatusSucceeded, Attempts: 1, LastStatusCode: 200}}
	b := &Batch{Events: []Event{{ID: "e1", Subject: "task.created", Payload: []byte("sealed")}, {ID: "e1", Subject: "task.created", Payload: []byte("sealed")}},
		New:      []NewDelivery{d1, d2},
		Attempts: []Attempt{{DeliveryID: d2.ID, WebhookID: w.ID, N: 1, StartedAt: now, Duration: time.Millisecond, StatusCode: 200, Succeeded: true}}}
	wr, err := db.Write(ctx, b)
	if err != nil || !wr.Inserted[d1.ID] || !wr.Inserted[d2.ID] {
		t.Fatalf("%+v %v", wr, err)
	}
	// Redelivery: the same batch inserts nothing.
	wr, err = db.Write(ctx, &Batch{Events: b.Events, New: b.New})
	if err != nil || len(wr.Inserted) != 0 {
		t.Fatalf("second write inserted %v (%v)", wr.Inserted, err)
	}
	ex, err := db.ExistingDeliveries(ctx, []uuid.UUID{d1.ID, uuid.New()})
	if err != nil || !ex[d1.ID] || len(ex) != 1 {
		t.Fatalf("existing %v %v", ex, err)
	}
	// An update with the wrong lease is fenced out; the right one applies.
	final := State{Status: StatusFailed, Attempts: 1, LastStatusCode: 400, LastError: "HTTP 400"}
	wr, err = db.Write(ctx, &Batch{Updates: []Update{{ID: d1.ID, WebhookID: w.ID, Lease: uuid.New(), State: final}}})
	if err != nil || wr.Updated[d1.ID] {
		t.Fatalf("stale lease applied: %v %v", wr.Updated, err)
	}
	wr, err = db.Write(ctx, &Batch{Updates: []Update{{ID: d1.ID, WebhookID: w.ID, Lease: lease, State: final}},
		Attempts: []Attempt{{DeliveryID: d1.ID, WebhookID: w.ID, N: 1, StartedAt: now.Add(time.Second), StatusCode: 400}}})
	if err != nil || !wr.Updated[d1.ID] {
		t.Fatalf("lease holder's update not applied: %v %v", wr.Updated, err)
	}
	h, _ := GetWebhook(ctx, db, w.ID)
	if h.ConsecutiveFailures != 1 || h.Succeeded24h != 1 || h.Failed24h != 1 || !h.LastSuccessAt.Valid || !h.FailingSince.Valid {
		t.Fatalf("health %+v", h.Health)
	}
	var stats struct{ Ok, Bad int }
	_ = db.Get(&stats, `SELECT sum(deliveries_succeeded) AS ok, sum(deliveries_failed) AS bad FROM webhook_stats WHERE webhook_id = $1`, w.ID)
	if stats.Ok != 1 || stats.Bad != 1 {
		t.Fatalf("stats %+v", stats)
	}
	// A later success resets the streak.
	_, err = db.Write(ctx, &Batch{Attempts: []Attempt{{DeliveryID: d2.ID, WebhookID: w.ID, N: 2, StartedAt: now.Add(2 * time.Second), StatusCode: 200, Succeeded: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if h, _ = GetWebhook(ctx, db, w.ID); h.ConsecutiveFailures != 0 || h.FailingSince.Valid {
		t.Fatalf("health after success %+v", h.Health)
	}
}

func TestClaimSkipsLockedAndLeases(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	w := webhook(t, db)
	var news []NewDelivery
	for i := 0; i < 10; i++ {
		news = append(news, NewDelivery{ID: uuid.New(), WebhookID: w.ID, EventID: "e", EventType: "task.due",
			State: State{Status: StatusRetrying, Attempts: 1, NextAttemptAt: time.Now().Add(-time.Second), DueAt: time.Now().Add(-time.Second)}})
	}
	news = append(news, NewDelivery{ID: uuid.New(), WebhookID: w.ID, EventID: "e", EventType: "task.due",
		State: State{Status: StatusRetrying, DueAt: time.Now().Add(time.Hour)}}) // not due
	if _, err := db.Write(ctx, &Batch{Events: []Event{{ID: "e", Subject: "task.due", Payload: []byte("p")}}, New: news}); err != nil {
		t.Fatal(err)
	}
	// Two claimers at once share the due rows without overlap.
	var mu sync.Mutex
	seen := map[uuid.UUID]int{}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := db.Claim(ctx, 6, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for _, x := range c {
				seen[x.ID]++
				if string(x.Payload) != "p" || x.LeaseToken == uuid.Nil || time.Until(x.LeaseUntil) < 50*time.Second {
					t.Errorf("claimed %+v", x)
				}
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(seen) != 10 {
		t.Fatalf("claimed %d distinct rows, want the 10 due ones", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s claimed %d times", id, n)
		}
	}
	if c, _ := db.Claim(ctx, 100, time.Minute); len(c) != 0 {
		t.Fatalf("leased rows claimed again: %d", len(c))
	}
	b, err := db.RetryBacklog(ctx)
	if err != nil || b.Retrying != 11 || b.Pending != 11 || !b.OldestPending.Valid {
		t.Fatalf("backlog %+v %v", b, err)
	}
}

func TestReleaseMakesClaimableAgain(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	w := webhook(t, db)
	d := NewDelivery{ID: uuid.New(), WebhookID: w.ID, EventID: "e", EventType: "task.due",
		State: State{Status: StatusPending, DueAt: time.Now().Add(-time.Second)}}
	if _, err := db.Write(ctx, &Batch{New: []NewDelivery{d}}); err != nil {
		t.Fatal(err)
	}
	c, _ := db.Claim(ctx, 10, time.Minute)
	if len(c) != 1 || c[0].Payload != nil {
		t.Fatalf("claim %+v (event row absent: payload must be nil)", c)
	}
	if err := db.Release(ctx, []Lease{{ID: d.ID, Token: uuid.New()}}); err != nil {
		t.Fatal(err)
	}
	if again, _ := db.Claim(ctx, 10, time.Minute); len(again) != 0 {
		t.Fatal("released with a wrong token")
	}
	if err := db.Release(ctx, []Lease{{ID: d.ID, Token: c[0].LeaseToken}}); err != nil {
		t.Fatal(err)
	}
	if again, _ := db.Claim(ctx, 10, time.Minute); len(again) != 1 {
		t.Fatal("not claimable after release")
	}
}

func TestDisableWebhook(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	w := webhook(t, db)
	g0, _ := db.Generation(ctx)
	if _, err := db.Write(ctx, &Batch{Disable: []Disable{{WebhookID: w.ID, Reason: "receiver answered 410 Gone"}, {WebhookID: w.ID, Reason: "x"}}}); err != nil {
		t.Fatal(err)
	}
	got, _ := GetWebhook(ctx, db, w.ID)
	g1, _ := db.Generation(ctx)
	if got.Active || got.DisabledReason == "" || !got.DisabledAt.Valid || g1 <= g0 {
		t.Fatalf("%+v gen %d→%d", got.Webhook, g0, g1)
	}
}

func newDatabaseB(b *testing.B) string { return pgtest.NewDatabase(b) }

func webhookB(b *testing.B, db *DB) *Webhook {
	w := &Webhook{ID: uuid.New(), Name: "n", URLSealed: []byte{1}, URLHint: "x", Provider: "generic",
		Events: pq.StringArray{"task.*"}, Active: true, AuthType: "none", Timezone: "UTC"}
	if err := InsertWebhook(context.Background(), db, w); err != nil {
		b.Fatal(err)
	}
	return w
}

func TestGetDeliveryRebuildsAnInlineFirstAttempt(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	w := webhook(t, db)
	now := time.Now().Truncate(time.Millisecond)
	one := NewDelivery{ID: uuid.New(), WebhookID: w.ID, EventID: "e1", EventType: "task.created",
		State: State{Status: StatusSucceeded, Attempts: 1, LastStatusCode: 204, LastAttemptAt: now, LastDuration: 12 * time.Millisecond, LastExcerpt: []byte("x")}}
	lease := uuid.New()
	two := NewDelivery{ID: uuid.New(), WebhookID: w.ID, EventID: "e2", EventType: "task.created",
		State: State{Status: StatusRetrying, Attempts: 1, LastStatusCode: 500, LastError: "HTTP 500", LastAttemptAt: now, DueAt: now.Add(time.Hour), LeaseToken: lease}}
	b := &Batch{New: []NewDelivery{one, two}, Attempts: []Attempt{
		{DeliveryID: one.ID, WebhookID: w.ID, N: 1, StartedAt: now, Succeeded: true, Inline: true},
		{DeliveryID: two.ID, WebhookID: w.ID, N: 1, StartedAt: now, StatusCode: 500, Error: "HTTP 500"},
	}}
	if _, err := db.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	var rows int
	_ = db.Get(&rows, `SELECT count(*) FROM attempts`)
	if rows != 1 {
		t.Fatalf("%d attempts rows, want 1 (the inline one is in its delivery row)", rows)
	}
	d, as, err := db.GetDelivery(ctx, one.ID)
	if err != nil || d.Status != StatusSucceeded || len(as) != 1 || as[0].N != 1 || as[0].StatusCode.Int32 != 204 ||
		as[0].DurationMS != 12 || string(as[0].Excerpt) != "x" || !as[0].StartedAt.Equal(now) {
		t.Fatalf("%+v %+v %v", d, as, err)
	}
	// The second attempt of the other one: both attempts listed, from the table.
	later := now.Add(time.Second)
	_, err = db.Write(ctx, &Batch{Updates: []Update{{ID: two.ID, WebhookID: w.ID, Lease: lease,
		State: State{Status: StatusSucceeded, Attempts: 2, LastStatusCode: 200, LastAttemptAt: later}}},
		Attempts: []Attempt{{DeliveryID: two.ID, WebhookID: w.ID, N: 2, StartedAt: later, StatusCode: 200, Succeeded: true}}})
	if err != nil {
		t.Fatal(err)
	}
	_, as, _ = db.GetDelivery(ctx, two.ID)
	if len(as) != 2 || as[0].StatusCode.Int32 != 500 || as[1].StatusCode.Int32 != 200 {
		t.Fatalf("%+v", as)
	}
	if _, _, err := db.GetDelivery(ctx, uuid.New()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestASecondAttemptKeepsTheInlineFirst(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	w := webhook(t, db)
	now := time.Now().Truncate(time.Millisecond)
	d := NewDelivery{ID: uuid.New(), WebhookID: w.ID, EventID: "e1", EventType: "task.created",
		State: State{Status: StatusSucceeded, Attempts: 1, LastStatusCode: 204, LastAttemptAt: now}}
	if _, err := db.Write(ctx, &Batch{New: []NewDelivery{d}, Attempts: []Attempt{{DeliveryID: d.ID, WebhookID: w.ID, N: 1, StartedAt: now, StatusCode: 204, Succeeded: true, Inline: true}}}); err != nil {
		t.Fatal(err)
	}
	c, err := db.ClaimOne(ctx, d.ID, time.Minute)
	if err != nil || c.Attempts != 1 {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := db.ClaimOne(ctx, d.ID, time.Minute); !errors.Is(err, ErrLeased) {
		t.Fatalf("second claim: %v", err)
	}
	later := now.Add(time.Minute)
	_, err = db.Write(ctx, &Batch{Updates: []Update{{ID: d.ID, WebhookID: w.ID, Lease: c.LeaseToken,
		State: State{Status: StatusFailed, Attempts: 2, LastStatusCode: 400, LastError: "HTTP 400", LastAttemptAt: later}}},
		Attempts: []Attempt{{DeliveryID: d.ID, WebhookID: w.ID, N: 2, StartedAt: later, StatusCode: 400, Error: "HTTP 400"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, as, _ := db.GetDelivery(ctx, d.ID)
	if len(as) != 2 || as[0].N != 1 || as[0].StatusCode.Int32 != 204 || as[1].N != 2 || as[1].StatusCode.Int32 != 400 {
		t.Fatalf("attempts %+v", as)
	}
	if _, err := db.ClaimOne(ctx, uuid.New(), time.Minute); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}

// TestRetentionDropsDaysAndDisableFailing: days past the retention leave as whole partitions, deliveries first;
// a day with a delivery still retrying stays (with its events and attempts, and every later
// day's) until that delivery is final; nothing lands in a DEFAULT partition.
func TestRetentionDropsDaysAndDisableFailing(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	w := webhook(t, db)
	now := time.Now()
	old, older, oldest := now.AddDate(0, 0, -38), now.AddDate(0, 0, -39), now.AddDate(0, 0, -40)
	if _, err := db.EnsurePartitions(ctx, oldest, old); err != nil {
		t.Fatal(err)
	}
	var news []NewDelivery
	var atts []Attempt
	for i := 0; i < 25; i++ {
		d := NewDelivery{ID: uuid.New(), WebhookID: w.ID, EventID: fmt.Sprint("old-", i), EventType: "task.due", CreatedAt: oldest,
			State: State{Status: StatusFailed, Attempts: 2, LastAttemptAt: oldest}}
		news = append(news, d)
		atts = append(atts, Attempt{DeliveryID: d.ID, WebhookID: w.ID, N: 1, StartedAt: oldest, StatusCode: 500})
	}
	pending := NewDelivery{ID: uuid.New(), WebhookID: w.ID, EventID: "old-pending", EventType: "task.due", CreatedAt: older,
		State: State{Status: StatusRetrying, DueAt: now.Add(time.Hour)}}
	fresh := NewDelivery{ID: uuid.New(), WebhookID: w.ID, EventID: "new", EventType: "task.due", State: State{Status: StatusSucceeded}}
	if _, err := db.Write(ctx, &Batch{New: append(news, pending, fresh), Attempts: append(atts, Attempt{DeliveryID: pending.ID, N: 1, StartedAt: older, StatusCode: 503}),
		Events: []Event{{ID: "old-0", Subject: "task.due", Payload: []byte("p"), ReceivedAt: oldest},
			{ID: "old-pending", Subject: "task.due", Payload: []byte("p"), ReceivedAt: older}, {ID: "new", Subject: "task.due", Payload: []byte("p")}}}); err != nil {
		t.Fatal(err)
	}
	count := func(table string) (n int) {
		_ = db.Get(&n, `SELECT count(*) FROM `+table)
		return n
	}
	d, err := db.DropPartitions(ctx, now.Add(-30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dropped %v, kept %v, longest DROP %s", d.Names, d.Kept, d.Lock)
	if !slices.Contains(d.Names, PartitionName("deliveries", oldest)) || !slices.Contains(d.Names, PartitionName("deliveries", old)) ||
		!slices.Equal(d.Kept, []string{PartitionName("deliveries", older)}) || d.DefaultRows != 0 {
		t.Fatalf("dropped %v, kept %v, %d rows in DEFAULT partitions", d.Names, d.Kept, d.DefaultRows)
	}
	if n, a, e := count("deliveries"), count("attempts"), count("events"); n != 2 || a != 1 || e != 2 {
		t.Fatalf("left %d deliveries (want the retrying and the new one), %d attempts (the retrying one's), %d events", n, a, e)
	}
	// Once final, its day goes too, with its event and attempts.
	if _, err := db.Exec(`UPDATE deliveries SET status = 'failed', due_at = NULL WHERE id = $1`, pending.ID); err != nil {
		t.Fatal(err)
	}
	if d, err = db.DropPartitions(ctx, now.Add(-30*24*time.Hour)); err != nil || len(d.Kept) != 0 {
		t.Fatalf("%+v %v", d, err)
	}
	if n, a, e := count("deliveries"), count("attempts"), count("events"); n != 1 || a != 0 || e != 1 {
		t.Fatalf("left %d deliveries, %d attempts, %d events; want the new one's", n, a, e)
	}
	for _, table := range []string{"deliveries", "events", "attempts"} {
		ps, err := db.Partitions(ctx, table)
		if err != nil || len(ps) == 0 || !ps[0].Day.Equal(Day(now)) {
			t.Fatalf("%s partitions %+v %v: want today's first", table, ps, err)
		}
	}
	if _, err := db.Prune(ctx, now.Add(-30*24*time.Hour), 10); err != nil {
		t.Fatal(err)
	}

	// Failing continuously for longer than the limit: deactivated, once.
	if _, err := db.Exec(`INSERT INTO webhook_health (webhook_id, consecutive_failures, failing_since) VALUES ($1, 40, now() - interval '6 days')
		ON CONFLICT (webhook_id) DO UPDATE SET consecutive_failures = 40, failing_since = now() - interval '6 days'`, w.ID); err != nil {
		t.Fatal(err)
	}
	other := webhook(t, db)
	_, _ = db.Exec(`INSERT INTO webhook_health (webhook_id, consecutive_failures, failing_since) VALUES ($1, 3, now() - interval '1 hour')`, other.ID)
	ids, err := db.DisableFailing(ctx, 5*24*time.Hour)
	if err != nil || len(ids) != 1 || ids[0] != w.ID {
		t.Fatalf("disabled %v %v", ids, err)
	}
	got, _ := GetWebhook(ctx, db, w.ID)
	if got.Active || !strings.HasPrefix(got.DisabledReason, "failing continuously since") {
		t.Fatalf("%+v", got.Webhook)
	}
	if again, _ := db.DisableFailing(ctx, 5*24*time.Hour); len(again) != 0 {
		t.Fatal("disabled twice")
	}
}

// TestDeliveryLogUsesItsIndexes: the delivery log's queries are answered from the
// (webhook_id[, status], created_at, id) indexes, so their cost does not grow with the table
// (the bench measures them on a million rows).
func TestDeliveryLogUsesItsIndexes(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	w := webhook(t, db)
	if _, err := db.Exec(`INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, created_at)
		SELECT gen_random_uuid(), $1, 'e' || g, 'task.due', CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'succeeded' END,
			now() - g * interval '1 second'
		FROM generate_series(1, 20000) g`, w.ID); err != nil {
		t.Fatal(err)
	}
	_, _ = db.Exec(`ANALYZE deliveries`)
	plan := func(p Page) string {
		tx, _ := db.BeginTxx(ctx, nil)
		defer func() { _ = tx.Rollback() }()
		var lines []string
		q := `EXPLAIN SELECT id FROM deliveries WHERE webhook_id = $1`
		args := []any{w.ID}
		if p.Status != "" {
			q += ` AND status = $2`
			args = append(args, p.Status)
		}
		q += ` ORDER BY created_at DESC, id DESC LIMIT 50`
		if err := tx.SelectContext(ctx, &lines, q, args...); err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	// Each day's partition answers from its own copy of the index (named after its columns), in
	// order: merged, never sorted.
	if p := plan(Page{}); !strings.Contains(p, "webhook_id_created_at_id_idx") || strings.Contains(p, "Sort  ") || strings.Contains(p, "Seq Scan") {
		t.Fatalf("delivery log plan:\n%s", p)
	}
	if p := plan(Page{Status: "failed"}); !strings.Contains(p, "webhook_id_status_created_at_id_idx") || strings.Contains(p, "Sort  ") || strings.Contains(p, "Seq Scan") {
		t.Fatalf("delivery log by status plan:\n%s", p)
	}
	ds, err := db.ListDeliveries(ctx, w.ID, Page{Limit: 50, Status: "failed"})
	if err != nil || len(ds) != 50 {
		t.Fatalf("%d %v", len(ds), err)
	}
}

// TestMigrationsUpgradeEveryEarlierSchema: a database migrated by any earlier version (here:
// only the first migration) reaches the same schema as a fresh one, and migrations run down and
// up again.
func TestMigrationsUpgradeEveryEarlierSchema(t *testing.T) {
	ctx := context.Background()
	schema := func(db *DB) string {
		var cols []string
		if err := db.Select(&cols, `SELECT table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns
			WHERE table_schema = 'public' AND table_name <> 'goose_db_version' ORDER BY 1`); err != nil {
			t.Fatal(err)
		}
		var cons []string
		if err := db.Select(&cons, `SELECT conrelid::regclass || ' ' || conname FROM pg_constraint
			WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'goose_db_version' ORDER BY 1`); err != nil {
			t.Fatal(err)
		}
		var idx []string
		if err := db.Select(&idx, `SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'goose_db_version' ORDER BY 1`); err != nil {
			t.Fatal(err)
		}
		return strings.Join(cols, "\n") + "\n--\n" + strings.Join(cons, "\n") + "\n--\n" + strings.Join(idx, "\n")
	}
	fresh := open(t)
	old, err := Open(ctx, pgtest.NewDatabase(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	p, err := old.provider()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if a, b := schema(fresh), schema(old); a != b {
		t.Fatalf("upgraded schema differs from a fresh one:\nfresh:\n%s\n\nupgraded:\n%s", a, b)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down: %v", err)
	}
	if _, err := old.Migrate(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
}

// TestMigrationsAreNeverEdited: a migration, once committed, may have run anywhere; changing it
// would leave those databases behind silently. migrations.sum records each file's SHA-256: a
// new migration is appended there, an existing one never changes.
func TestMigrationsAreNeverEdited(t *testing.T) {
	sums, err := os.ReadFile("migrations.sum")
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		f := strings.Fields(line)
		recorded[f[1]] = f[0]
	}
	entries, err := migrations.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := migrations.ReadFile("migrations/" + e.Name())
		sum := fmt.Sprintf("%x", sha256.Sum256(b))
		switch want, ok := recorded[e.Name()]; {
		case !ok:
			t.Errorf("%s is not in migrations.sum: append \"%s  %s\"", e.Name(), sum, e.Name())
		case want != sum:
			t.Errorf("%s was edited after it was recorded: write a new migration instead", e.Name())
		}
	}
	if len(recorded) != len(entries) {
		t.Errorf("migrations.sum lists %d files, the directory has %d", len(recorded), len(entries))
	}
}
