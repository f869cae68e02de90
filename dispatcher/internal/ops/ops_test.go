package ops

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/streampub"
	"github.com/taskhook/taskhook/pkg/families"
	opsfam "github.com/taskhook/taskhook/pkg/families/ops"
	"github.com/taskhook/taskhook/pkg/natstest"
	"github.com/taskhook/taskhook/pkg/natsx"
	"github.com/taskhook/taskhook/pkg/pgtest"
)

func at(min int) sql.NullTime {
	return sql.NullTime{Time: time.Date(2024, 1, 15, 10, min, 0, 0, time.UTC), Valid: true}
}

// TestTransition: the rules that turn two observations into signals.
func TestTransition(t *testing.T) {
	id := uuid.MustParse("0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f")
	seen := func(health string, fails int, lastOK sql.NullTime) store.Observed {
		return store.Observed{ID: id, Active: true, Seen: true, SeenHealth: health, SeenFailures: fails, SeenLastSuccess: lastOK}
	}
	now := func(o store.Observed, active bool, fails int, lastOK sql.NullTime, failed24h int64) store.Observed {
		o.Active, o.ConsecutiveFailures, o.LastSuccessAt, o.Failed24h = active, fails, lastOK, failed24h
		return o
	}
	cases := []struct {
		name     string
		r        store.Observed
		retrying bool
		changed  bool
		health   string
		signals  string // type:previous→health:reason, ...
	}{
		{"first observation: baseline, no signal", now(store.Observed{ID: id}, true, 7, at(0), 7), false, true, "red", ""},
		{"first observation of a new webhook: compared with green", now(store.Observed{ID: id, New: true}, true, 7, sql.NullTime{}, 7), false, true, "red",
			"webhook.health_changed:green→red:7 consecutive failures (red from 5)"},
		{"a new webhook that succeeded: stored, no signal", now(store.Observed{ID: id, New: true}, true, 0, at(1), 0), false, true, "green", ""},
		{"a new webhook not used yet: nothing to store", now(store.Observed{ID: id, New: true}, true, 0, sql.NullTime{}, 0), false, false, "green", ""},
		{"nothing changed", now(seen("green", 0, at(1)), true, 0, at(1), 0), false, false, "green", ""},
		{"green to red", now(seen("green", 0, at(1)), true, 5, at(1), 5), false, true, "red",
			"webhook.health_changed:green→red:5 consecutive failures (red from 5)"},
		{"a failure more, still red: stored, no signal", now(seen("red", 5, at(1)), true, 6, at(1), 6), false, true, "red", ""},
		{"green to yellow by a retry", now(seen("green", 0, at(1)), true, 0, at(1), 0), true, true, "yellow",
			"webhook.health_changed:green→yellow:deliveries are waiting for a retry"},
		{"red to yellow after a success: recovered", now(seen("red", 9, at(1)), true, 0, at(3), 9), false, true, "yellow",
			"webhook.health_changed:red→yellow:failed attempts in the last 24 hours, delivery.recovered:→yellow:succeeded after 9 consecutive failures"},
		{"success then a failure again between observations: recovered", now(seen("yellow", 2, at(1)), true, 1, at(2), 3), false, true, "yellow",
			"delivery.recovered:→yellow:succeeded after 2 consecutive failures"},
		{"first success ever after failures", now(seen("yellow", 1, sql.NullTime{}), true, 0, at(2), 1), false, true, "yellow",
			"delivery.recovered:→yellow:succeeded after 1 consecutive failure"},
		{"successes without failures: no recovery", now(seen("green", 0, at(1)), true, 0, at(2), 0), false, true, "green", ""},
		{"paused by an admin", func() store.Observed {
			o := now(seen("green", 0, at(1)), false, 0, at(1), 0)
			o.DisabledReason = "deactivated by alice"
			return o
		}(), false, true, "disabled", "webhook.health_changed:green→disabled:deactivated by alice"},
		{"auto-disabled: already observed as disabled", now(seen("disabled", 3, at(1)), false, 3, at(1), 3), false, false, "disabled", ""},
		{"reactivated", now(seen("disabled", 0, at(1)), true, 0, at(1), 0), false, true, "green", "webhook.health_changed:disabled→green:deliveries succeed"},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			ob, changed := Transition(k.r, k.retrying, 5)
			var sigs []string
			for _, s := range ob.Signals {
				sigs = append(sigs, s.Type+":"+s.PreviousHealth+"→"+s.Health+":"+s.Reason)
			}
			if changed != k.changed || ob.Health != k.health || strings.Join(sigs, ", ") != k.signals {
				t.Fatalf("changed %v health %s signals %q, want %v %s %q", changed, ob.Health, strings.Join(sigs, ", "), k.changed, k.health, k.signals)
			}
			if ob.PrevSeen != k.r.Seen || ob.PrevHealth != k.r.SeenHealth || ob.PrevFailures != k.r.SeenFailures || ob.WebhookID != id {
				t.Fatalf("compare-and-set against %+v", ob)
			}
		})
	}
}

// TestBody: a claimed signal becomes a valid event of its type with ids and reasons only.
func TestBody(t *testing.T) {
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC)
	did := uuid.New()
	base := store.OpsSignal{WebhookID: uuid.New(), WebhookName: "EMR", Count: 50, WindowStart: start, LastAt: start.Add(time.Minute),
		Reason: "r", Health: "red", PreviousHealth: "green", LastStatusCode: sql.NullInt64{Int64: 503, Valid: true}, LastError: strings.Repeat("x", 2000),
		DeliveryID: uuid.NullUUID{UUID: did, Valid: true}, Attempts: sql.NullInt64{Int64: 8, Valid: true}}
	for _, typ := range opsfam.Types() {
		r := base
		r.Type = typ
		body, id, err := Body(r, 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		v, err := cat.ValidateInternal(body)
		if err != nil || v.ID != id || v.Type != typ {
			t.Fatalf("%s: %v\n%s", typ, err, body)
		}
		e, _ := opsfam.Parse(body)
		if e.Count != 50 || !e.Window.End.Equal(start.Add(5*time.Minute)) || len([]rune(e.LastError)) != 1000 || e.LastStatusCode != 503 {
			t.Fatalf("%s: %+v", typ, e)
		}
		if (e.DeliveryID != "") != (typ == opsfam.Exhausted) || (e.PreviousHealth != "") != (typ == opsfam.HealthChanged) {
			t.Fatalf("%s carries fields of another type: %s", typ, body)
		}
	}
}

type rig struct {
	db  *store.DB
	js  jetstream.JetStream
	fl  *Flusher
	obs *Observer
}

func newRig(t *testing.T, interval time.Duration) *rig {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, pgtest.NewDatabase(t), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if _, err := natsx.EnsureStream(ctx, js, natsx.DefaultStream(1, 2*time.Minute, time.Hour)); err != nil {
		t.Fatal(err)
	}
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	return &rig{db: db, js: js,
		fl: &Flusher{Store: db, Pub: &streampub.JetStream{JS: js, Stream: natsx.StreamName, Timeout: 5 * time.Second}, Catalog: cat,
			Log: zap.NewNop(), Interval: interval, Every: 20 * time.Millisecond, Batch: 10},
		obs: &Observer{Store: db, Log: zap.NewNop(), RedAfter: 3, Every: 20 * time.Millisecond}}
}

func (r *rig) webhook(t *testing.T, events ...string) uuid.UUID {
	t.Helper()
	w := &store.Webhook{ID: uuid.New(), Name: "hook " + events[0], URLSealed: []byte{1}, URLHint: "https://example.com/…", Provider: "generic",
		Events: pq.StringArray(events), Active: true, AuthType: "none", Timezone: "UTC"}
	if err := store.InsertWebhook(context.Background(), r.db, w); err != nil {
		t.Fatal(err)
	}
	return w.ID
}

// published reads every message of the stream: subject, Nats-Msg-Id and body.
func (r *rig) published(t *testing.T) []jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := r.js.Stream(ctx, natsx.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	var out []jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, *m)
	}
	return out
}

// TestFiftyExhaustedMakeOneEvent: 50 deliveries giving up within the window are one
// delivery.exhausted with count 50, published at the window's end (not before), once, even
// when a crash makes a replica publish it again.
func TestFiftyExhaustedMakeOneEvent(t *testing.T) {
	const window = 2 * time.Second // long enough for the writes below on a loaded machine
	r := newRig(t, window)
	ctx := context.Background()
	r.webhook(t, "delivery.exhausted")
	failing := r.webhook(t, "task.*")
	start := time.Now()
	b := &store.Batch{}
	for i := 0; i < 50; i++ {
		b.New = append(b.New, store.NewDelivery{ID: uuid.New(), WebhookID: failing, EventID: "e" + string(rune('a'+i%26)) + string(rune('a'+i/26)), EventType: "task.created",
			State: store.State{Status: store.StatusFailed, Attempts: 1, LastStatusCode: 500, LastError: "HTTP 500"}})
	}
	if _, err := r.db.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n, err := r.fl.Flush(ctx); err != nil || n != 0 {
		if time.Since(start) < window {
			t.Fatalf("published before the window ended: %d %v", n, err)
		}
		t.Skipf("the writes took %s, longer than the window: the machine is too loaded for this test", time.Since(start))
	}
	time.Sleep(window + 100*time.Millisecond)
	if n, err := r.fl.Flush(ctx); err != nil || n != 1 {
		t.Fatalf("flush: %d %v", n, err)
	}
	msgs := r.published(t)
	if len(msgs) != 1 || msgs[0].Subject != opsfam.Exhausted {
		t.Fatalf("published %d messages", len(msgs))
	}
	e, err := opsfam.Parse(msgs[0].Data)
	if err != nil || e.Count != 50 || e.WebhookID != failing.String() || e.LastStatusCode != 500 || msgs[0].Header.Get(jetstream.MsgIDHeader) != e.EventID {
		t.Fatalf("%+v %v", e, err)
	}
	// A replica that crashed after publishing publishes the same event again: deduplicated.
	if err := r.fl.Pub.Publish(ctx, []streampub.Message{{Subject: e.Type, ID: e.EventID, Body: msgs[0].Data}}); err != nil {
		t.Fatal(err)
	}
	if n := len(r.published(t)); n != 1 {
		t.Fatalf("republished event stored twice (%d messages)", n)
	}
}

// TestObserverReportsOnce: three replicas observing the same webhook turning red record one
// health change; a recovery is reported as delivery.recovered.
func TestObserverReportsOnce(t *testing.T) {
	r := newRig(t, time.Hour)
	ctx := context.Background()
	w := r.webhook(t, "task.*")
	if n, err := r.obs.Observe(ctx); err != nil || n != 0 {
		t.Fatalf("nobody listens yet: %d %v", n, err)
	}
	r.webhook(t, "webhook.*", "delivery.recovered")
	if n, err := r.obs.Observe(ctx); err != nil || n != 0 { // baseline
		t.Fatalf("baseline: %d %v", n, err)
	}
	fail := func(i int, ok bool) {
		a := store.Attempt{DeliveryID: uuid.New(), WebhookID: w, N: 1, StartedAt: time.Now().Add(time.Duration(i) * time.Millisecond), StatusCode: 500, Succeeded: ok}
		if _, err := r.db.Write(ctx, &store.Batch{Attempts: []store.Attempt{a}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		fail(i, false)
	}
	done := make(chan int, 3)
	for i := 0; i < 3; i++ {
		go func() {
			n, err := r.obs.Observe(ctx)
			if err != nil {
				t.Error(err)
			}
			done <- n
		}()
	}
	total := <-done + <-done + <-done
	fail(10, true)
	if n, err := r.obs.Observe(ctx); err != nil || n != 1 {
		t.Fatalf("recovery: %d %v", n, err)
	}
	var rows []struct {
		Type   string `db:"type"`
		Count  int    `db:"count"`
		Health string `db:"health"`
		Prev   string `db:"previous_health"`
	}
	_ = r.db.Select(&rows, `SELECT type, count, health, previous_health FROM ops_signals WHERE webhook_id = $1 ORDER BY type`, w)
	if total != 1 || len(rows) != 2 || rows[0].Type != opsfam.Recovered || rows[1].Type != opsfam.HealthChanged ||
		rows[1].Count != 2 || rows[1].Prev != "green" || rows[1].Health != "yellow" {
		t.Fatalf("recorded by %d replicas: %+v", total, rows)
	}
}

// blockingPub is a JetStream that does not answer until released (NATS unreachable).
type blockingPub struct{ release chan struct{} }

func (p *blockingPub) Publish(ctx context.Context, _ []streampub.Message) error {
	select {
	case <-p.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestDeliveryPathNeverWaitsForPublish: while a flusher waits for JetStream, the delivery path
// records more failures of the same webhook at once (into a new window), and the waiting event
// is published once JetStream answers.
func TestDeliveryPathNeverWaitsForPublish(t *testing.T) {
	r := newRig(t, 200*time.Millisecond)
	ctx := context.Background()
	r.webhook(t, "delivery.*")
	failing := r.webhook(t, "task.*")
	fail := func(id string) {
		d := store.NewDelivery{ID: uuid.New(), WebhookID: failing, EventID: id, EventType: "task.created",
			State: store.State{Status: store.StatusFailed, Attempts: 1, LastStatusCode: 400, LastError: "HTTP 400"}}
		if _, err := r.db.Write(ctx, &store.Batch{New: []store.NewDelivery{d}}); err != nil {
			t.Fatal(err)
		}
	}
	fail("a")
	time.Sleep(300 * time.Millisecond)
	pub := &blockingPub{release: make(chan struct{})}
	r.fl.Pub = pub
	flushed := make(chan error, 1)
	go func() { _, err := r.fl.Flush(ctx); flushed <- err }()
	time.Sleep(200 * time.Millisecond) // the flusher now waits in Publish
	start := time.Now()
	fail("b")
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("a delivery write waited %s for the publish", took)
	}
	close(pub.release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	var outbox, open int
	_ = r.db.Get(&outbox, `SELECT count(*) FROM ops_outbox`)
	_ = r.db.Get(&open, `SELECT count FROM ops_signals WHERE webhook_id = $1`, failing)
	if outbox != 0 || open != 1 {
		t.Fatalf("outbox %d rows, open window count %d", outbox, open)
	}
}
