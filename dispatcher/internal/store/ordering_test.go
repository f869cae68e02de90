package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestClaimInSubjectOrder: of a webhook's ordered deliveries, only the earliest unfinished one of
// each subject is claimed (a retrying one holds back its subject only); one stored late, after a
// later one of its subject was attempted, comes back superseded.
func TestClaimInSubjectOrder(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	w := webhook(t, db)
	due := State{Status: StatusPending, DueAt: time.Now().Add(-time.Second)}
	ids := map[string]uuid.UUID{}
	var b Batch
	b.Events = []Event{{ID: "e", Subject: "task.updated", Payload: []byte("p")}}
	for _, r := range []struct {
		name, key string
		seq       uint64
	}{{"a1", "task:A", 10}, {"a2", "task:A", 12}, {"a3", "task:A", 15}, {"b1", "task:B", 11}, {"b2", "task:B", 14}} {
		ids[r.name] = uuid.New()
		b.New = append(b.New, NewDelivery{ID: ids[r.name], WebhookID: w.ID, EventID: "e", EventType: "task.updated", State: due})
		b.Ordered = append(b.Ordered, Ordered{ID: ids[r.name], Key: r.key, Seq: r.seq})
	}
	unordered := uuid.New()
	b.New = append(b.New, NewDelivery{ID: unordered, WebhookID: w.ID, EventID: "e", EventType: "task.updated", State: due})
	if _, err := db.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	claim := func() map[uuid.UUID]Claimed {
		t.Helper()
		c, err := db.Claim(ctx, 100, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		out := map[uuid.UUID]Claimed{}
		for _, x := range c {
			out[x.ID] = x
		}
		return out
	}
	got := claim()
	if len(got) != 3 || !got[ids["a1"]].Ordered || !got[ids["b1"]].Ordered || got[unordered].Ordered || got[unordered].ID != unordered {
		t.Fatalf("first claim %v, want a1, b1 and the unordered one", got)
	}
	// a1 fails and waits for a retry: A stays held back; b1 succeeds: b2 is next.
	write := func(id uuid.UUID, lease uuid.UUID, st State) {
		t.Helper()
		if _, err := db.Write(ctx, &Batch{Updates: []Update{{ID: id, WebhookID: w.ID, Lease: lease, State: st}}}); err != nil {
			t.Fatal(err)
		}
	}
	write(ids["a1"], got[ids["a1"]].LeaseToken, State{Status: StatusRetrying, Attempts: 1, NextAttemptAt: time.Now().Add(time.Hour), DueAt: time.Now().Add(time.Hour)})
	write(ids["b1"], got[ids["b1"]].LeaseToken, State{Status: StatusSucceeded, Attempts: 1})
	if got = claim(); len(got) != 1 || got[ids["b2"]].ID != ids["b2"] {
		t.Fatalf("second claim %v, want b2 only", got)
	}
	// a1 gives up: a2 is next.
	if _, err := db.ExecContext(ctx, `UPDATE deliveries SET due_at = NULL, status = 'failed' WHERE id = $1`, ids["a1"]); err != nil {
		t.Fatal(err)
	}
	if got = claim(); len(got) != 1 || got[ids["a2"]].ID != ids["a2"] || got[ids["a2"]].Superseded {
		t.Fatalf("third claim %v, want a2", got)
	}
	// An event of A stored late (seq 11, its message redelivered) while a2 (seq 12) is in
	// flight: claimable (nothing earlier is unfinished) but superseded.
	late := uuid.New()
	if _, err := db.Write(ctx, &Batch{New: []NewDelivery{{ID: late, WebhookID: w.ID, EventID: "e", EventType: "task.updated", State: due}},
		Ordered: []Ordered{{ID: late, Key: "task:A", Seq: 11}}}); err != nil {
		t.Fatal(err)
	}
	if got = claim(); len(got) != 1 || !got[late].Superseded {
		t.Fatalf("late claim %v, want the late one, superseded", got)
	}
}
