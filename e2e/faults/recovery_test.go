package faults

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// TestRecoveryInSeconds: with the defaults (a 3 s lease renewed every sixth by the live replica,
// also the consumer's ack wait; 10 s attempt timeout; 500 ms poll), kill -9 of a dispatcher
// mid-burst delays the deliveries it was working on by at most 5 s: beside a second replica, and
// alone followed by a restart. The time from the kill to the last delivery (every event, those
// published in the second after the kill too) is logged and must be at most 5 s.
func TestRecoveryInSeconds(t *testing.T) {
	for _, replicas := range []int{2, 1} {
		t.Run(fmt.Sprintf("%d replicas", replicas), func(t *testing.T) { recoverFromKill(t, replicas) })
	}
}

func recoverFromKill(t *testing.T, replicas int) {
	s := newStack(t, "TASKHOOK_LEASE=3s", "TASKHOOK_ATTEMPT_TIMEOUT=10s", "TASKHOOK_POLL_INTERVAL=500ms") // the defaults
	s.startDispatcher()
	if replicas == 2 {
		s.startReplica()
	}
	s.startIngest()
	sink := newSink(t, 20*time.Millisecond) // slow enough that the killed replica has work in flight
	s.createWebhook(map[string]any{"url": sink.URL})
	p, stop := startPublisher(s, fmt.Sprintf("r%d", replicas), 2*time.Millisecond)
	waitUntil(t, 30*time.Second, "deliveries under way", func() bool { return sink.requests() > 200 })
	s.dispatcher.Kill()
	killed := time.Now()
	if replicas == 1 {
		s.startDispatcher()
	}
	time.Sleep(time.Second)
	stop()
	ids := p.ids()
	var last time.Time
	for deadline := killed.Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if len(sink.missing(t, ids)) == 0 {
			last = time.Now()
			break
		}
		if time.Now().After(deadline) {
			diagnose(t, s, sink.missing(t, ids))
			t.Fatalf("%d of %d events not delivered 60 s after the kill", len(sink.missing(t, ids)), len(ids))
		}
	}
	recovery := last.Sub(killed)
	t.Logf("%d replica(s): every one of %d events delivered %s after kill -9 (%d duplicates, same webhook-id)", replicas, len(ids), recovery.Round(100*time.Millisecond), sink.duplicates())
	if recovery > 5*time.Second {
		t.Fatalf("recovery took %s, more than 5 s", recovery)
	}
}

// TestStalledReplica: a replica frozen (SIGSTOP) mid-burst for longer than its lease loses its
// leases to the other, which delivers everything; thawed (SIGCONT), its late writes are fenced:
// every delivery ends succeeded, once in the log, and the receiver got each event (duplicates,
// if any, under the same webhook-id).
func TestStalledReplica(t *testing.T) {
	s := newStack(t) // lease 5 s
	s.startDispatcher()
	second := s.startReplica()
	s.startIngest()
	sink := newSink(t, 20*time.Millisecond)
	s.createWebhook(map[string]any{"url": sink.URL})
	p, stop := startPublisher(s, "stall", 2*time.Millisecond)
	waitUntil(t, 30*time.Second, "deliveries under way", func() bool { return sink.requests() > 200 })
	pid := second.p.Pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(8 * time.Second) // longer than the lease
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	stop()
	reconcile(t, s, p.ids(), sink)
}
