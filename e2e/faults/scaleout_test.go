package faults

import (
	"encoding/json"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/taskhook/taskhook/pkg/natstest"
)

// overlapSink records deliveries like sink, fails the first attempt of a third of the events
// (so that retries go through the replicas' claims), and tracks how many requests with the
// same webhook-id are in flight at once.
type overlapSink struct {
	*sink
	mu       sync.Mutex
	inflight map[string]int
	maxSame  int
	failed   map[string]bool
}

func newOverlapSink(t *testing.T) *overlapSink {
	o := &overlapSink{sink: &sink{byEv: map[string][]string{}}, inflight: map[string]int{}, failed: map[string]bool{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			Data struct {
				EventID string `json:"event_id"`
			} `json:"data"`
		}
		_ = json.NewDecoder(r.Body).Decode(&env)
		id := r.Header.Get("webhook-id")
		o.mu.Lock()
		o.inflight[id]++
		o.maxSame = max(o.maxSame, o.inflight[id])
		h := fnv.New32a()
		h.Write([]byte(env.Data.EventID))
		fail := h.Sum32()%3 == 0 && !o.failed[env.Data.EventID]
		o.failed[env.Data.EventID] = true
		o.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		o.mu.Lock()
		o.inflight[id]--
		o.mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		o.sink.mu.Lock()
		o.byEv[env.Data.EventID] = append(o.byEv[env.Data.EventID], id)
		o.n++
		o.sink.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(o.Close)
	return o
}

// TestScaleOut: a 3-node NATS cluster with the stream at R3, two dispatcher replicas sharing
// the work; one NATS node and one dispatcher are killed mid-burst. Nothing is lost, both
// replicas worked, and no delivery was ever attempted by two replicas at once.
func TestScaleOut(t *testing.T) {
	cluster := natstest.StartCluster(t, 3)
	s := newStackOn(t, cluster.Servers[0], "TASKHOOK_STREAM_REPLICAS=3")
	s.natsURL = cluster.URLs()
	s.startDispatcher()
	second := s.startReplica()
	s.startIngest()
	sink := newOverlapSink(t)
	s.createWebhook(map[string]any{"url": sink.URL})

	p, stop := startPublisher(s, "s", 3*time.Millisecond)
	waitUntil(t, 30*time.Second, "both replicas deliver", func() bool {
		return metric(t, s.dispAddr, "taskhook_dispatch_attempts_total") > 20 && metric(t, second.addr, "taskhook_dispatch_attempts_total") > 20
	})
	first, other := metric(t, s.dispAddr, "taskhook_dispatch_attempts_total"), metric(t, second.addr, "taskhook_dispatch_attempts_total")
	cluster.Servers[1].Shutdown()
	second.p.Kill()
	time.Sleep(2 * time.Second)
	stop()
	if len(p.other) > 0 {
		t.Fatalf("ingest answered other than 202/503: %v", p.other)
	}
	reconcile(t, s, p.ids(), sink.sink)
	sink.mu.Lock()
	maxSame := sink.maxSame
	sink.mu.Unlock()
	if maxSame != 1 {
		t.Fatalf("a delivery was attempted %d times at once", maxSame)
	}
	t.Logf("attempts before the kill: replica 1 %.0f, replica 2 %.0f; 503s from ingest during the node loss: %d", first, other, p.refused)
}
