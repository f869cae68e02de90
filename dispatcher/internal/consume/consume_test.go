package consume

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhook/taskhook/dispatcher/internal/deliver"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/families"
	"github.com/taskhook/taskhook/pkg/families/ops"
)

func TestDeliveryIDIsStablePerPair(t *testing.T) {
	w1, w2 := uuid.New(), uuid.New()
	cases := []struct {
		name string
		a, b uuid.UUID
		same bool
	}{
		{"same event and webhook", DeliveryID("evt-1", w1), DeliveryID("evt-1", w1), true},
		{"other webhook", DeliveryID("evt-1", w1), DeliveryID("evt-1", w2), false},
		{"other event", DeliveryID("evt-1", w1), DeliveryID("evt-2", w1), false},
		// The separator keeps "a"+"bc" and "ab"+"c" apart even if ids could run into each other.
		{"no concatenation collision", DeliveryID("evt-1", w1), DeliveryID("evt-1\x00", w1), false},
	}
	for _, c := range cases {
		if (c.a == c.b) != c.same {
			t.Errorf("%s: %s vs %s, want same=%v", c.name, c.a, c.b, c.same)
		}
		if c.a.Version() != 5 {
			t.Errorf("%s: version %d, want a UUIDv5", c.name, c.a.Version())
		}
	}
}

func TestRedeliveryDelay(t *testing.T) {
	cases := []struct {
		n    uint64
		want time.Duration
	}{
		{0, 500 * time.Millisecond},
		{1, time.Second},
		{2, 2 * time.Second},
		{3, 4 * time.Second},
		{4, 8 * time.Second},
		{5, 15 * time.Second},
		{100, 15 * time.Second},
	}
	for _, c := range cases {
		if got := redeliveryDelay(c.n); got != c.want {
			t.Errorf("redeliveryDelay(%d) = %s, want %s", c.n, got, c.want)
		}
	}
}

func TestUnrecorded(t *testing.T) {
	a, b, c := &deliver.Job{DeliveryID: uuid.New()}, &deliver.Job{DeliveryID: uuid.New()}, &deliver.Job{DeliveryID: uuid.New()}
	cases := []struct {
		name     string
		existing map[uuid.UUID]bool
		want     []*deliver.Job
	}{
		{"none recorded", nil, []*deliver.Job{a, b, c}},
		{"one recorded", map[uuid.UUID]bool{b.DeliveryID: true}, []*deliver.Job{a, c}},
		{"all recorded", map[uuid.UUID]bool{a.DeliveryID: true, b.DeliveryID: true, c.DeliveryID: true}, nil},
	}
	for _, tc := range cases {
		got := unrecorded([]*deliver.Job{a, b, c}, tc.existing)
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d jobs, want %d", tc.name, len(got), len(tc.want))
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("%s: job %d differs", tc.name, i)
			}
		}
	}
}

func TestRow(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	j := &deliver.Job{DeliveryID: uuid.New(), WebhookID: uuid.New(), EventID: "evt-1", EventType: "task.created",
		Lease: uuid.New(), LeaseUntil: now.Add(16 * time.Second)}
	done := store.State{Status: store.StatusSucceeded, Attempts: 1, LastStatusCode: 204}
	cases := []struct {
		name string
		r    *deliver.Result
		want store.State
	}{
		{"still running: leased to this replica until its lease ends", nil,
			store.State{Status: store.StatusPending, DueAt: j.LeaseUntil, LeaseToken: j.Lease}},
		{"lane full: unleased, due when the lane has room", &deliver.Result{Job: j, RetryIn: 3 * time.Second},
			store.State{Status: store.StatusPending, DueAt: now.Add(3 * time.Second)}},
		{"attempted: its outcome", &deliver.Result{Job: j, Attempted: true, State: done}, done},
	}
	for _, c := range cases {
		got := row(j, c.r, now)
		if got.ID != j.DeliveryID || got.WebhookID != j.WebhookID || got.EventID != j.EventID || got.EventType != j.EventType {
			t.Errorf("%s: identity %+v", c.name, got)
		}
		if got.State.Status != c.want.Status || !got.State.DueAt.Equal(c.want.DueAt) || got.State.LeaseToken != c.want.LeaseToken ||
			got.State.LastStatusCode != c.want.LastStatusCode {
			t.Errorf("%s: state %+v, want %+v", c.name, got.State, c.want)
		}
	}
}

// TestCollect: a batch waits for its first message without limit, then at most the wait for
// the rest, and never holds more than n.
func TestCollect(t *testing.T) {
	cases := []struct {
		name     string
		queued   int
		n        int
		want     int
		maxTaken time.Duration
	}{
		{"full batch at once", 10, 4, 4, 40 * time.Millisecond},
		{"partial batch after the wait", 2, 4, 2, time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msgs := make(chan jetstream.Msg, c.queued)
			for range c.queued {
				msgs <- nil
			}
			start := time.Now()
			got := collect(context.Background(), msgs, c.n, 30*time.Millisecond)
			if len(got) != c.want {
				t.Fatalf("collected %d, want %d", len(got), c.want)
			}
			if took := time.Since(start); took > c.maxTaken {
				t.Fatalf("took %s", took)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := collect(ctx, make(chan jetstream.Msg), 4, time.Hour); got != nil {
		t.Fatalf("collected %d after the context ended", len(got))
	}
}

// TestAboutWebhook: an operational event names the webhook it is about (the consumer skips that
// webhook); other events never do, whatever their body holds.
func TestAboutWebhook(t *testing.T) {
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		subject, raw, want string
	}{
		{ops.Exhausted, ops.ExampleExhausted, "0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f"},
		{ops.Disabled, ops.ExampleDisabled, "0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f"},
		{"task.created", `{"task_id":"1","event":"created","title":"t","webhook_id":"0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f"}`, ""},
		{ops.Recovered, `not json`, ""},
	}
	for _, k := range cases {
		if got := aboutWebhook(cat, &item{subject: k.subject, raw: []byte(k.raw)}); got != k.want {
			t.Errorf("%s: %q, want %q", k.subject, got, k.want)
		}
	}
}
