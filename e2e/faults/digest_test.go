package faults

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// TestDigestAcrossReplicasAndKill: two bin/dispatcher replicas share a webhook's 8 s digest
// window; one is killed (kill -9) mid-window after it collected the first 100 events, the other
// collects the next 100. The window arrives once, as one generic message with count 200 (every
// event exactly once) and one Slack message, and the killed replica, restarted, sends nothing
// again.
func TestDigestAcrossReplicasAndKill(t *testing.T) {
	s := newStack(t)
	s.startDispatcher()
	s.startReplica()
	s.startIngest()
	gen, sl := newCapture(t, nil), newCapture(t, nil)
	s.createWebhook(map[string]any{"url": gen.URL, "events": []string{"task.*"}, "auth": map[string]any{"type": "hmac"},
		"digest": map[string]any{"window": "8s"}})
	s.createWebhook(map[string]any{"url": sl.URL + "/services/T0/B0/x", "provider": "slack", "events": []string{"task.*"},
		"digest": map[string]any{"window": "8s"}})
	db, err := sqlx.Open("postgres", s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	collected := func() int {
		var n int
		_ = db.Get(&n, `SELECT count(*) FROM digest_items`)
		return n
	}
	post := func(from, n int) {
		var batch []map[string]any
		for i := from; i < from+n; i++ {
			batch = append(batch, map[string]any{"event_id": fmt.Sprintf("dg-%03d", i), "task_id": fmt.Sprint(i), "event": "created", "title": "Follow up"})
		}
		if ids := s.postBatch(batch); len(ids) != n {
			t.Fatalf("ingest accepted %d of %d", len(ids), n)
		}
	}
	opened := time.Now()
	post(0, 100)
	waitUntil(t, 5*time.Second, "the first 100 events collected (by both webhooks)", func() bool { return collected() == 200 })
	s.dispatcher.Kill()
	post(100, 100)
	waitUntil(t, 5*time.Second, "the next 100 collected by the surviving replica", func() bool { return collected() == 400 })
	if time.Since(opened) > 7*time.Second {
		t.Fatalf("posting and collecting 200 events took %s, longer than the 8 s window", time.Since(opened))
	}
	waitUntil(t, 20*time.Second, "the digests", func() bool {
		gen.mu.Lock()
		defer gen.mu.Unlock()
		sl.mu.Lock()
		defer sl.mu.Unlock()
		return len(gen.reqs) > 0 && len(sl.reqs) > 0
	})
	s.startDispatcher() // the killed replica comes back: the window is closed, nothing is sent again
	time.Sleep(3 * time.Second)
	gen.mu.Lock()
	defer gen.mu.Unlock()
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if len(gen.reqs) != 1 || len(sl.reqs) != 1 {
		t.Fatalf("%d generic and %d Slack messages, want one of each", len(gen.reqs), len(sl.reqs))
	}
	var d struct {
		Count  int `json:"count"`
		Events []struct {
			Data struct {
				EventID string `json:"event_id"`
			} `json:"data"`
		} `json:"events"`
	}
	if err := json.Unmarshal(gen.body[0], &d); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range d.Events {
		seen[e.Data.EventID]++
	}
	for i := 0; i < 200; i++ {
		if id := fmt.Sprintf("dg-%03d", i); seen[id] != 1 {
			t.Fatalf("event %s in the digest %d times", id, seen[id])
		}
	}
	if d.Count != 200 || gen.reqs[0].Header.Get("webhook-signature") == "" {
		t.Fatalf("digest count %d, signature %q", d.Count, gen.reqs[0].Header.Get("webhook-signature"))
	}
	if !strings.Contains(string(sl.body[0]), "Digest: 200 events") {
		t.Fatalf("slack digest: %s", sl.body[0])
	}
	t.Logf("window of 200 events across two replicas and a kill -9: one generic (count %d) and one Slack message", d.Count)
}
