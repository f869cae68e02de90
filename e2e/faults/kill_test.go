package faults

import (
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
)

// TestKillDispatcherMidBurst: kill -9 the dispatcher while a burst is being delivered, start it
// again: every accepted event reaches every matching webhook at least once, duplicates carry
// the same webhook-id, and no delivery is left in a non-final state.
func TestKillDispatcherMidBurst(t *testing.T) {
	s := newStack(t)
	s.startDispatcher()
	s.startIngest()
	all, created := newSink(t, 3*time.Millisecond), newSink(t, 3*time.Millisecond)
	s.createWebhook(map[string]any{"url": all.URL, "events": []string{"task.*"}})
	s.createWebhook(map[string]any{"url": created.URL, "events": []string{"task.created"}})

	var ids, createdIDs []string
	names := []string{"created", "updated", "due", "overdue"}
	burst := func(from, n int) {
		var batch []map[string]any
		for i := from; i < from+n; i++ {
			batch = append(batch, map[string]any{"event_id": fmt.Sprintf("k-%04d", i), "task_id": fmt.Sprint(i),
				"event": names[i%4], "title": "Follow up"})
		}
		accepted := s.postBatch(batch)
		if len(accepted) != n {
			t.Fatalf("ingest accepted %d of %d", len(accepted), n)
		}
		ids = append(ids, accepted...)
		for i := from; i < from+n; i++ {
			if i%4 == 0 {
				createdIDs = append(createdIDs, fmt.Sprintf("k-%04d", i))
			}
		}
	}
	for i := 0; i < 4; i++ {
		burst(i*100, 100)
	}
	waitUntil(t, 20*time.Second, "deliveries under way", func() bool { return all.requests() > 50 })
	s.dispatcher.Kill()
	for i := 4; i < 8; i++ {
		burst(i*100, 100) // accepted while the dispatcher is down
	}
	time.Sleep(500 * time.Millisecond)
	s.startDispatcher()
	waitUntil(t, 90*time.Second, "every event at every matching webhook", func() bool {
		return len(all.missing(t, ids)) == 0 && len(created.missing(t, createdIDs)) == 0
	})
	db, err := sqlx.Open("postgres", s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	total := waitRecorded(t, db, len(ids)+len(createdIDs))
	t.Logf("%d events, %d deliveries; duplicates after kill -9: %d (task.*) + %d (task.created)", len(ids), total, all.duplicates(), created.duplicates())
}
