package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// opsEvent is what a generic receiver sees of an operational event.
type opsEvent struct {
	Type string `json:"type"`
	Data struct {
		Type           string `json:"type"`
		EventID        string `json:"event_id"`
		WebhookID      string `json:"webhook_id"`
		WebhookName    string `json:"webhook_name"`
		Reason         string `json:"reason"`
		Health         string `json:"health"`
		PreviousHealth string `json:"previous_health"`
		LastStatusCode int    `json:"last_status_code"`
		Count          int    `json:"count"`
		DeliveryID     string `json:"delivery_id"`
	} `json:"data"`
}

func (c *capture) opsEvents(t *testing.T) []opsEvent {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []opsEvent
	for _, b := range c.body {
		var e opsEvent
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("not a generic envelope: %s", b)
		}
		out = append(out, e)
	}
	return out
}

func (c *capture) bodies() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.body))
	for i, b := range c.body {
		out[i] = string(b)
	}
	return out
}

// count is how many operational events of typ about webhook the receiver got, and their counts.
func countOps(evs []opsEvent, typ, webhook string) (n int, counts []int) {
	for _, e := range evs {
		if e.Type == typ && e.Data.WebhookID == webhook {
			n++
			counts = append(counts, e.Data.Count)
		}
	}
	return n, counts
}

// TestOperationalEventsOnTheRealBinaries: with TASKHOOK_OPS_INTERVAL=3s, an on-call generic
// webhook and an on-call Slack webhook naming the four operational types hear, once per window:
// a receiver answering 410 (webhook.disabled, exactly one), 50 deliveries giving up within the
// window (one delivery.exhausted with count 50), a receiver failing for a while then recovering
// (delivery.recovered). No operational payload carries the seed patient's name; no webhook hears
// about itself, while a failing ops webhook is reported to the others; ingest refuses
// operational events.
func TestOperationalEventsOnTheRealBinaries(t *testing.T) {
	s := newStack(t, "TASKHOOK_OPS_INTERVAL=3s")
	s.startDispatcher()
	s.startIngest()
	all := []string{"webhook.disabled", "webhook.health_changed", "delivery.exhausted", "delivery.recovered"}

	onCall := newCapture(t, nil)
	slack := newCapture(t, nil)
	onCallID := s.createWebhook(map[string]any{"name": "on call", "url": onCall.URL, "events": []string{"webhook.*", "delivery.*"}})
	slackID := s.createWebhook(map[string]any{"name": "on-call channel", "url": slack.URL + "/services/T1/B1/x", "provider": "slack",
		"events": all, "rate_limit_per_second": 100})
	// An ops webhook that always fails: its failures are reported to the others, never to itself.
	var brokenMu sync.Mutex
	var brokenSaw []string
	brokenRecv := newCapture(t, func(w http.ResponseWriter, r *http.Request, b []byte) bool {
		brokenMu.Lock()
		brokenSaw = append(brokenSaw, string(b))
		brokenMu.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
		return true
	})
	brokenID := s.createWebhook(map[string]any{"name": "broken on call", "url": brokenRecv.URL, "events": []string{"delivery.exhausted"}, "max_attempts": 1})

	gone := newCapture(t, func(w http.ResponseWriter, r *http.Request, b []byte) bool {
		w.WriteHeader(http.StatusGone)
		return true
	})
	goneID := s.createWebhook(map[string]any{"name": "gone receiver", "url": gone.URL, "events": []string{"report.*"}})
	failing := newCapture(t, func(w http.ResponseWriter, r *http.Request, b []byte) bool {
		w.WriteHeader(http.StatusInternalServerError)
		return true
	})
	failingID := s.createWebhook(map[string]any{"name": "failing receiver", "url": failing.URL, "events": []string{"task.*"}, "max_attempts": 1})
	var flakyMu sync.Mutex
	var flakyFirst time.Time
	flaky := newCapture(t, func(w http.ResponseWriter, r *http.Request, b []byte) bool {
		flakyMu.Lock()
		defer flakyMu.Unlock()
		if flakyFirst.IsZero() {
			flakyFirst = time.Now()
		}
		if time.Since(flakyFirst) < 4500*time.Millisecond { // an outage longer than the observer's period
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	flakyID := s.createWebhook(map[string]any{"name": "flaky receiver", "url": flaky.URL, "events": []string{"battery.*"}})

	// Ingest refuses operational events.
	code, b := s.call("POST", "http://"+s.ingestAddr+"/v1/events", ingestToken, json.RawMessage(
		`{"type":"webhook.disabled","webhook_id":"0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f","webhook_name":"x","count":1}`))
	if code != 422 || !strings.Contains(string(b), "/type") || !strings.Contains(string(b), "Taskhook publishes itself") {
		t.Fatalf("ingest accepted an operational event: %d %s", code, b)
	}

	root := "../.."
	seed, err := os.ReadFile(root + "/examples/seed-task-created.json")
	if err != nil {
		t.Fatal(err)
	}
	report, _ := os.ReadFile(root + "/examples/goreporter-report-completed.json")
	battery, _ := os.ReadFile(root + "/examples/goreporter-battery-critical.json")
	var events []map[string]any
	for i := 0; i < 50; i++ {
		var ev map[string]any
		_ = json.Unmarshal(seed, &ev)
		ev["event_id"], ev["task_id"] = fmt.Sprintf("ops-seed-%d", i), fmt.Sprintf("T-%d", i)
		events = append(events, ev)
	}
	for _, raw := range [][]byte{report, battery} {
		var ev map[string]any
		_ = json.Unmarshal(raw, &ev)
		events = append(events, ev)
	}
	start := time.Now()
	if ids := s.postBatch(events); len(ids) != 52 {
		t.Fatalf("ingest accepted %d of 52", len(ids))
	}

	waitUntil(t, 40*time.Second, "every operational event at the on-call webhook", func() bool {
		evs := onCall.opsEvents(t)
		disabled, _ := countOps(evs, "webhook.disabled", goneID)
		_, exhausted := countOps(evs, "delivery.exhausted", failingID)
		recovered, _ := countOps(evs, "delivery.recovered", flakyID)
		brokenReported, _ := countOps(evs, "delivery.exhausted", brokenID)
		return disabled >= 1 && slices.Contains(exhausted, 50) && recovered >= 1 && brokenReported >= 1
	})
	firstAll := time.Since(start)
	time.Sleep(4 * time.Second) // one more window: nothing about the same window may follow

	evs := onCall.opsEvents(t)
	if n, _ := countOps(evs, "webhook.disabled", goneID); n != 1 {
		t.Errorf("webhook.disabled about the 410 receiver %d times, want 1", n)
	}
	if n, counts := countOps(evs, "delivery.exhausted", failingID); n != 1 || counts[0] != 50 {
		t.Errorf("delivery.exhausted about the failing receiver: %d events with counts %v, want one with 50", n, counts)
	}
	for _, e := range evs {
		if e.Type == "webhook.health_changed" && e.Data.WebhookID == failingID && (e.Data.PreviousHealth != "green" || e.Data.Health != "red") {
			t.Errorf("the failing receiver's health: %+v", e.Data)
		}
		if e.Type == "webhook.health_changed" && e.Data.WebhookID == goneID {
			t.Errorf("the 410 receiver's deactivation reported twice (webhook.disabled and health_changed): %+v", e.Data)
		}
	}
	if n, _ := countOps(evs, "webhook.health_changed", failingID); n != 1 {
		t.Errorf("webhook.health_changed about the failing receiver %d times, want 1 (green → red)", n)
	}
	if n, _ := countOps(evs, "delivery.recovered", flakyID); n != 1 {
		t.Errorf("delivery.recovered about the flaky receiver %d times, want 1", n)
	}
	windows := map[string]bool{}
	for _, e := range evs {
		if e.Data.WebhookID == onCallID {
			t.Errorf("the on-call webhook heard about itself: %+v", e)
		}
		if e.Type != e.Data.Type || !strings.HasPrefix(e.Data.EventID, "ops:"+e.Type+":"+e.Data.WebhookID+":") {
			t.Errorf("event id %q of %s about %s", e.Data.EventID, e.Type, e.Data.WebhookID)
		}
		if windows[e.Data.EventID] {
			t.Errorf("event %s delivered twice", e.Data.EventID)
		}
		windows[e.Data.EventID] = true
	}
	for _, recv := range []*capture{onCall, slack} {
		for _, body := range recv.bodies() {
			if strings.Contains(body, "John") || strings.Contains(body, "Doe") || strings.Contains(body, "1980-05-15") || strings.Contains(body, "127.0.0.1") {
				t.Errorf("an operational payload carries event content or a URL: %s", body)
			}
		}
	}
	for _, body := range slack.bodies() {
		if strings.Contains(body, slackID) {
			t.Errorf("the Slack on-call webhook heard about itself: %s", body)
		}
	}
	brokenMu.Lock()
	for _, body := range brokenSaw {
		if strings.Contains(body, brokenID) {
			t.Errorf("the failing ops webhook was sent an event about itself: %s", body)
		}
	}
	brokenMu.Unlock()

	// Slack: readable, one message per event.
	var texts []string
	for _, body := range slack.bodies() {
		var m struct{ Text string }
		_ = json.Unmarshal([]byte(body), &m)
		texts = append(texts, m.Text)
	}
	var disabledText string
	for _, txt := range texts {
		if strings.HasPrefix(txt, "Webhook disabled: gone receiver\n") {
			if disabledText != "" {
				t.Errorf("Slack heard twice that the webhook was disabled")
			}
			disabledText = txt
		}
	}
	if !strings.Contains(disabledText, "\nReason: HTTP 410 Gone") || !strings.Contains(disabledText, "\nLast status: HTTP 410") ||
		!strings.Contains(disabledText, "\nCount: once in the last 3s") {
		t.Errorf("Slack's webhook.disabled:\n%s\n(all: %q)", disabledText, texts)
	}
	if !slices.ContainsFunc(texts, func(s string) bool {
		return strings.HasPrefix(s, "Deliveries gave up: failing receiver\n") && strings.Contains(s, "Count: 50 deliveries in the last 3s") && strings.Contains(s, "Last status: HTTP 500")
	}) {
		t.Errorf("Slack did not hear of the 50 deliveries that gave up: %q", texts)
	}
	if !slices.ContainsFunc(texts, func(s string) bool { return strings.HasPrefix(s, "Webhook recovered: flaky receiver\n") }) {
		t.Errorf("Slack did not hear of the recovery: %q", texts)
	}
	t.Logf("all operational events delivered %s after the burst; on-call got %d events, Slack %d", firstAll.Round(100*time.Millisecond), len(evs), len(texts))
	for _, e := range evs {
		t.Logf("  %s about %q: count %d, health %q → %q, reason %q", e.Type, e.Data.WebhookName, e.Data.Count, e.Data.PreviousHealth, e.Data.Health, e.Data.Reason)
	}
}
