package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMetricsAreLive: the SPEC's dispatch metrics exist, and the backlog gauges follow the
// database while retries wait.
func TestMetricsAreLive(t *testing.T) {
	h := start(t, "TASKHOOK_RETRY_SCHEDULE=1h")
	rcv := newReceiver(t, answer{status: 503})
	h.createWebhook(map[string]any{"url": rcv.URL})
	for i := 0; i < 3; i++ {
		h.publish(taskEvent(fmt.Sprintf("m%d", i), "created", ""))
	}
	rcv.waitFor(t, 3, 10*time.Second)
	eventually(t, 5*time.Second, "retry backlog gauge", func() bool {
		return h.metric("taskhook_dispatch_retry_backlog") == 3 && h.metric("taskhook_dispatch_retry_oldest_age_seconds") > 0
	})
	r := h.do("GET", "/metrics", "", nil)
	for _, name := range []string{"taskhook_dispatch_deliveries_total", "taskhook_dispatch_attempts_total",
		"taskhook_dispatch_attempt_duration_seconds", "taskhook_dispatch_retries_total", "taskhook_dispatch_retry_backlog",
		"taskhook_dispatch_retry_oldest_age_seconds", "taskhook_dispatch_consumer_pending"} {
		if !strings.Contains(string(r.Body), "\n"+name) {
			t.Errorf("metric %s missing", name)
		}
	}
	if h.metric("taskhook_dispatch_attempts_total", `result="retry"`) != 3 || h.metric("taskhook_dispatch_retries_total") != 3 {
		t.Fatal("retry metrics wrong")
	}
}

// TestGracefulShutdownFinishesOrReleases: on shutdown, attempts in flight finish and are
// recorded, nothing stays leased, and a new dispatcher delivers the rest.
func TestGracefulShutdownFinishesOrReleases(t *testing.T) {
	srv := natstestStart(t)
	dbURL := newDB(t)
	h := startWith(t, srv, dbURL, dbURL, "TASKHOOK_WEBHOOK_CONCURRENCY=2", "TASKHOOK_ATTEMPT_TIMEOUT=3s", "TASKHOOK_LEASE=30s")
	rcv := newReceiver(t, answer{status: 200, delay: 400 * time.Millisecond})
	wh := h.createWebhook(map[string]any{"url": rcv.URL})
	var ids []string
	for i := 0; i < 20; i++ {
		ids = append(ids, h.publish(taskEvent(fmt.Sprintf("g%02d", i), "created", "")))
	}
	rcv.waitFor(t, 2, 10*time.Second)
	began := time.Now()
	h.stop()
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("shutdown took %v", took)
	}
	var leased int
	_ = h.db.Get(&leased, `SELECT count(*) FROM deliveries WHERE lease_token IS NOT NULL AND status NOT IN ('succeeded','failed')`)
	if leased != 0 {
		t.Fatalf("%d deliveries still leased after a graceful shutdown", leased)
	}
	got := len(rcv.requests())
	// Restart: everything is delivered, every request seen once or (an attempt cut short) twice.
	h2 := startWith(t, srv, dbURL, dbURL, h.keyEnv)
	defer func() {
		if t.Failed() {
			for _, d := range h2.deliveries(wh.ID) {
				t.Logf("%+v", d)
			}
			t.Logf("requests %d, consumer %+v", len(rcv.requests()), h2.consumerInfo())
		}
	}()
	eventually(t, 30*time.Second, "all delivered after restart", func() bool {
		ds := h2.deliveries(wh.ID)
		n := 0
		for _, d := range ds {
			if d.Status == "succeeded" {
				n++
			}
		}
		return n == len(ids)
	})
	seen := map[string]int{}
	for _, r := range rcv.requests() {
		var b struct {
			Data struct {
				EventID string `json:"event_id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(r.Body, &b)
		seen[b.Data.EventID]++
	}
	if len(seen) != len(ids) {
		t.Fatalf("%d distinct events delivered, want %d (before the restart: %d requests)", len(seen), len(ids), got)
	}
}

// TestReadiness: /readyz is 200 with NATS and PostgreSQL up, 503 naming NATS when it is down.
func TestReadiness(t *testing.T) {
	h := start(t)
	if r := h.do("GET", "/readyz", "", nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), "postgres") {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if r := h.do("GET", "/healthz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("healthz %d", r.Status)
	}
	h.nats.Shutdown()
	eventually(t, 10*time.Second, "not ready without NATS", func() bool {
		r := h.do("GET", "/readyz", "", nil)
		return r.Status == http.StatusServiceUnavailable && strings.Contains(string(r.Body), "nats")
	})
	h.nats.Start()
	eventually(t, 15*time.Second, "ready again", func() bool { return h.do("GET", "/readyz", "", nil).Status == http.StatusOK })
}
