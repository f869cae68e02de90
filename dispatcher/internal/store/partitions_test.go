package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/taskhook/taskhook/pkg/pgtest"
)

// TestUpgradeFromUnpartitionedTables: a database built and filled by the previous release's
// migrations (up to 00010: events, deliveries and attempts unpartitioned) is converted in place
// at start, its rows kept in their days' partitions (none in a DEFAULT partition); after it, an
// open delivery is claimed with its event, an old one's attempts are read, the delivery log
// pages across days, and writing an old delivery again inserts nothing.
func TestUpgradeFromUnpartitionedTables(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, pgtest.NewDatabase(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := db.provider()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 10); err != nil {
		t.Fatal(err)
	}
	wh := uuid.New()
	if _, err := db.Exec(`INSERT INTO webhooks (id, name, url_sealed, url_hint, provider, events) VALUES ($1, 'old', '\x00', 'https://x', 'generic', '{task.due}')`, wh); err != nil {
		t.Fatal(err)
	}
	// Five deliveries over three days (two days ago, yesterday, today), the newest still retrying
	// and due; the oldest with two attempts.
	ids := make([]uuid.UUID, 5)
	for i := range ids {
		ids[i] = uuid.New()
		ago := time.Duration(4-i) * 12 * time.Hour // 48h, 36h, 24h, 12h, 0h
		status, due := "succeeded", any(nil)
		if i == 4 {
			status, due = "retrying", time.Now().Add(-time.Second)
		}
		if _, err := db.Exec(`INSERT INTO events (id, subject, payload, received_at) VALUES ($1, 'task.due', $2, now() - $3 * interval '1 second')`,
			fmt.Sprint("ev-", i), []byte(fmt.Sprint("payload-", i)), ago.Seconds()); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, attempts, due_at, created_at)
			VALUES ($1, $2, $3, 'task.due', $4, 1, $5, now() - $6 * interval '1 second')`, ids[i], wh, fmt.Sprint("ev-", i), status, due, ago.Seconds()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO attempts (delivery_id, n, started_at, duration_ms, status_code) VALUES
		($1, 1, now() - interval '48 hours', 5, 500), ($1, 2, now() - interval '47 hours', 5, 200)`, ids[0]); err != nil {
		t.Fatal(err)
	}
	count := func(table string) (n int) {
		if err := db.Get(&n, `SELECT count(*) FROM `+table); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := map[string]int{"events": count("events"), "deliveries": count("deliveries"), "attempts": count("attempts")}

	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for table, n := range before {
		var kind string
		_ = db.Get(&kind, `SELECT relkind::text FROM pg_class WHERE oid = $1::regclass`, table)
		if got := count(table); got != n || kind != "p" || count(table+"_default") != 0 {
			t.Fatalf("%s: %d rows after the upgrade, %d before (relkind %s, %d in the default partition)", table, got, n, kind, count(table+"_default"))
		}
		ps, err := db.Partitions(ctx, table)
		if err != nil || len(ps) < 3+PartitionsAhead {
			t.Fatalf("%s: partitions %v %v", table, ps, err)
		}
	}
	// The retrying delivery is claimed, with its event's payload.
	claimed, err := db.Claim(ctx, 10, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].ID != ids[4] || string(claimed[0].Payload) != "payload-4" {
		t.Fatalf("claimed %+v %v", claimed, err)
	}
	// Its outcome is written through the fence (its key found from its id).
	w, err := db.Write(ctx, &Batch{Updates: []Update{{ID: ids[4], WebhookID: wh, Lease: claimed[0].LeaseToken,
		State: State{Status: StatusSucceeded, Attempts: 2, LastAttemptAt: time.Now()}}}})
	if err != nil || !w.Updated[ids[4]] {
		t.Fatalf("update %+v %v", w, err)
	}
	// The oldest one's attempts.
	_, as, err := db.GetDelivery(ctx, ids[0])
	if err != nil || len(as) != 2 {
		t.Fatalf("attempts %+v %v", as, err)
	}
	// The log, two at a time, newest first, across the three days.
	var got []uuid.UUID
	page := Page{Limit: 2}
	for {
		ds, err := db.ListDeliveries(ctx, wh, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			got = append(got, d.ID)
		}
		if len(ds) < 2 {
			break
		}
		last := ds[len(ds)-1]
		page = Page{Limit: 2, After: true, AtTime: last.CreatedAt, AtID: last.ID}
	}
	if len(got) != 5 || got[0] != ids[4] || got[4] != ids[0] {
		t.Fatalf("log %v, want %v newest first", got, ids)
	}
	// An old delivery written again (a redelivered event, no key known) is found, not doubled.
	ins, err := db.Write(ctx, &Batch{New: []NewDelivery{{ID: ids[1], WebhookID: wh, EventID: "ev-1", EventType: "task.due",
		State: State{Status: StatusSucceeded, Attempts: 1}}}})
	if err != nil || len(ins.Inserted) != 0 || count("deliveries") != 5 {
		t.Fatalf("written again: inserted %v, %d rows, %v", ins.Inserted, count("deliveries"), err)
	}
}

// TestPartitionsCarryLaterColumns: the partitioned tables keep what the migrations before the
// partitioning added (silences and repeat limits, ordering, custom event types): their columns,
// check constraint and partial index, on the partitioned table; and a silenced delivery and a
// custom type's event, written again without their time keys (a redelivery), are found, not
// doubled.
func TestPartitionsCarryLaterColumns(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, pgtest.NewDatabase(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ table, column string }{
		{"deliveries", "silence_id"}, {"deliveries", "suppressed_since_last"}, {"deliveries", "order_key"},
		{"deliveries", "stream_seq"}, {"events", "type_version"},
	} {
		var n int
		if err := db.Get(&n, `SELECT count(*) FROM information_schema.columns WHERE table_name = $1 AND column_name = $2`, c.table, c.column); err != nil || n != 1 {
			t.Fatalf("%s.%s: %d %v", c.table, c.column, n, err)
		}
	}
	var kind, def string
	if err := db.Get(&kind, `SELECT c.relkind::text FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
		WHERE c.relname = 'deliveries_ordered' AND i.indrelid = 'deliveries'::regclass`); err != nil || kind != "I" {
		t.Fatalf("deliveries_ordered on the partitioned deliveries: relkind %q %v", kind, err)
	}
	if err := db.Get(&def, `SELECT pg_get_indexdef('deliveries_ordered'::regclass)`); err != nil || !strings.Contains(def, "WHERE (order_key IS NOT NULL)") {
		t.Fatalf("deliveries_ordered: %q %v", def, err)
	}
	if err := db.Get(&def, `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'deliveries'::regclass AND conname = 'deliveries_status_check'`); err != nil ||
		!strings.Contains(def, "silenced") || !strings.Contains(def, "suppressed") {
		t.Fatalf("deliveries_status_check: %q %v", def, err)
	}

	wh, silence := uuid.New(), uuid.New()
	if _, err := db.Exec(`INSERT INTO webhooks (id, name, url_sealed, url_hint, provider, events) VALUES ($1, 'w', '\x00', 'https://x', 'generic', '{acme.thing}')`, wh); err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	received := time.Now().Add(-36 * time.Hour) // an earlier day's partition
	if _, err := db.EnsurePartitions(ctx, received, time.Now()); err != nil {
		t.Fatal(err)
	}
	b := &Batch{Events: []Event{{ID: "ev-typed", Subject: "acme.thing", Payload: []byte("p"), TypeVersion: 3, ReceivedAt: received}},
		New: []NewDelivery{{ID: id, WebhookID: wh, EventID: "ev-typed", EventType: "acme.thing", CreatedAt: received,
			State: State{Status: StatusSilenced}, SilenceID: silence}}}
	if w, err := db.Write(ctx, b); err != nil || !w.Inserted[id] {
		t.Fatalf("first write %+v %v", w, err)
	}
	b.Events[0].ReceivedAt, b.New[0].CreatedAt = time.Time{}, time.Time{}
	if w, err := db.Write(ctx, b); err != nil || len(w.Inserted) != 0 {
		t.Fatalf("written again: %+v %v", w, err)
	}
	var rows struct {
		Events     int       `db:"events"`
		Deliveries int       `db:"deliveries"`
		Version    int       `db:"version"`
		Silence    uuid.UUID `db:"silence"`
		Default    int       `db:"in_default"`
	}
	if err := db.Get(&rows, `SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM deliveries) AS deliveries,
		(SELECT type_version FROM events) AS version, (SELECT silence_id FROM deliveries) AS silence,
		(SELECT count(*) FROM deliveries_default) + (SELECT count(*) FROM events_default) AS in_default`); err != nil {
		t.Fatal(err)
	}
	if rows.Events != 1 || rows.Deliveries != 1 || rows.Version != 3 || rows.Silence != silence || rows.Default != 0 {
		t.Fatalf("rows %+v", rows)
	}
	d, _, err := db.GetDelivery(ctx, id)
	if err != nil || d.EventTypeVersion.Int32 != 3 {
		t.Fatalf("delivery %+v %v", d, err)
	}
}
