package faults

import (
	"fmt"
	"testing"
	"time"
)

// TestRateLimitSharedByReplicas: two bin/dispatcher replicas together keep a webhook to its
// rate (2 per second here), not each to it: twelve deliveries take at least 5.5 s and no two
// arrive closer than the rate allows.
func TestRateLimitSharedByReplicas(t *testing.T) {
	s := newStack(t)
	s.startDispatcher()
	second := s.startReplica()
	s.startIngest()
	rcv := newCapture(t, nil)
	s.createWebhook(map[string]any{"url": rcv.URL, "rate_limit_per_second": 2})
	var events []map[string]any
	for i := 0; i < 12; i++ {
		events = append(events, map[string]any{"task_id": fmt.Sprint("rl-", i), "event": "due", "title": "Call back"})
	}
	if ids := s.postBatch(events); len(ids) != 12 {
		t.Fatalf("ingest accepted %d", len(ids))
	}
	var at []time.Time
	waitUntil(t, 40*time.Second, "twelve deliveries", func() bool { rcv.mu.Lock(); defer rcv.mu.Unlock(); return len(rcv.reqs) >= 12 })
	rcv.mu.Lock()
	at = append(at, rcv.at...)
	rcv.mu.Unlock()
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 350*time.Millisecond {
			t.Errorf("deliveries %d and %d only %s apart at 2/s", i-1, i, gap)
		}
	}
	span := at[len(at)-1].Sub(at[0])
	first, other := metric(t, s.dispAddr, "taskhook_dispatch_attempts_total"), metric(t, second.addr, "taskhook_dispatch_attempts_total")
	t.Logf("12 deliveries at 2/s over two replicas: %s; attempts by replica: %.0f and %.0f", span.Round(10*time.Millisecond), first, other)
	if span < 5400*time.Millisecond {
		t.Fatalf("12 deliveries at 2/s over two replicas took %s", span)
	}
}
