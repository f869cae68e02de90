package faults

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// envelope is what a generic webhook receives of a battery event.
type envelope struct {
	Type string `json:"type"`
	Data struct {
		EventID string `json:"event_id"`
		Device  struct {
			ID string `json:"id"`
		} `json:"device"`
	} `json:"data"`
	SuppressedSinceLast int `json:"suppressed_since_last"`
}

func (c *capture) envelopes(t *testing.T) []envelope {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]envelope, len(c.body))
	for i, b := range c.body {
		if err := json.Unmarshal(b, &out[i]); err != nil {
			t.Fatalf("not a generic envelope: %s", b)
		}
	}
	return out
}

func (c *capture) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.body)
}

func batteryEvent(typ, device, id string) map[string]any {
	return map[string]any{"type": typ, "event_id": id, "device": map[string]any{"id": device, "kind": "pacemaker"}, "battery": map[string]any{"percent": 11}}
}

type logEntry struct {
	EventID             string `json:"event_id"`
	EventType           string `json:"event_type"`
	Status              string `json:"status"`
	Attempts            int    `json:"attempts"`
	SilenceID           string `json:"silence_id"`
	SuppressedSinceLast int    `json:"suppressed_since_last"`
}

// deliveryLog is a webhook's delivery log read through the admin API (of replica addr).
func (s *stack) deliveryLog(addr, webhook string) []logEntry {
	s.t.Helper()
	code, b := s.call("GET", "http://"+addr+"/v1/webhooks/"+webhook+"/deliveries?limit=500", adminToken, nil)
	var page struct {
		Deliveries []logEntry `json:"deliveries"`
	}
	if err := json.Unmarshal(b, &page); code != 200 || err != nil {
		s.t.Fatalf("delivery log: %d %s", code, b)
	}
	return page.Deliveries
}

// postConcurrently posts events in batches of size from several clients at once (so that both
// replicas take some), and checks that every one was accepted.
func (s *stack) postConcurrently(events []map[string]any, size int) {
	s.t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for i := 0; i < len(events); i += size {
		part := events[i:min(i+size, len(events))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := s.postBatch(part)
			mu.Lock()
			accepted += len(ids)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if accepted != len(events) {
		s.t.Fatalf("ingest accepted %d of %d", accepted, len(events))
	}
}

// TestSilenceOnTwoReplicas: with two bin/dispatcher replicas, a silence created through one of
// them for device D-991 at webhook A silences exactly that device's events at A, whichever
// replica consumes them (recorded as silenced with the silence id, never attempted); webhook B
// and the other devices still receive everything; ended through the other replica, the next
// event of D-991 reaches A.
func TestSilenceOnTwoReplicas(t *testing.T) {
	s := newStack(t)
	s.startDispatcher()
	second := s.startReplica()
	s.startIngest()
	a, b := newCapture(t, nil), newCapture(t, nil)
	wa := s.createWebhook(map[string]any{"url": a.URL, "events": []string{"battery.*"}, "name": "A"})
	s.createWebhook(map[string]any{"url": b.URL, "events": []string{"battery.*"}, "name": "B"})
	code, body := s.call("POST", "http://"+second.addr+"/v1/silences", adminToken, map[string]any{
		"matcher": `event.device.id == "D-991"`, "webhook_ids": []string{wa},
		"ends_at": time.Now().Add(2 * time.Hour).Format(time.RFC3339), "reason": "firmware update in clinic"})
	if code != 201 {
		t.Fatalf("create silence: %d %s", code, body)
	}
	var sil struct{ ID, State string }
	_ = json.Unmarshal(body, &sil)

	var events []map[string]any
	for i := range 40 {
		dev, typ := "D-991", "battery.low"
		if i%2 == 1 {
			dev = fmt.Sprint("D-", i%5)
		}
		if i%3 == 0 {
			typ = "battery.critical"
		}
		events = append(events, batteryEvent(typ, dev, fmt.Sprint("sil-", i)))
	}
	s.postConcurrently(events, 5)
	waitUntil(t, 30*time.Second, "B receives all 40", func() bool { return b.count() >= 40 })
	waitUntil(t, 30*time.Second, "A's log holds all 40", func() bool { return len(s.deliveryLog(s.dispAddr, wa)) == 40 })
	time.Sleep(500 * time.Millisecond)
	for _, e := range a.envelopes(t) {
		if e.Data.Device.ID == "D-991" {
			t.Fatalf("A received D-991's %s", e.Data.EventID)
		}
	}
	if n := a.count(); n != 20 {
		t.Fatalf("A received %d, want the 20 of other devices", n)
	}
	silenced := 0
	for _, d := range s.deliveryLog(second.addr, wa) {
		if d.Status == "silenced" {
			silenced++
			if d.SilenceID != sil.ID || d.Attempts != 0 {
				t.Fatalf("silenced delivery: %+v", d)
			}
		}
	}
	one, two := metric(t, s.dispAddr, "taskhook_dispatch_silenced_total"), metric(t, second.addr, "taskhook_dispatch_silenced_total")
	t.Logf("silenced by replica: %.0f and %.0f", one, two)
	if silenced != 20 || one+two != 20 {
		t.Fatalf("%d silenced in the log, %v counted by the replicas", silenced, one+two)
	}

	if code, body := s.call("DELETE", "http://"+s.dispAddr+"/v1/silences/"+sil.ID, adminToken, nil); code != 200 {
		t.Fatalf("end: %d %s", code, body)
	}
	s.postConcurrently([]map[string]any{batteryEvent("battery.low", "D-991", "sil-after")}, 1)
	waitUntil(t, 20*time.Second, "D-991 reaches A after the end", func() bool {
		for _, e := range a.envelopes(t) {
			if e.Data.EventID == "sil-after" {
				return true
			}
		}
		return false
	})
	// The audit trail, read through either replica, says who created it and why, and who ended it.
	code, body = s.call("GET", "http://"+second.addr+"/v1/audit?limit=20", adminToken, nil)
	if code != 200 || !strings.Contains(string(body), `"silence.create"`) || !strings.Contains(string(body), `"silence.end"`) ||
		!strings.Contains(string(body), "firmware update in clinic") {
		t.Fatalf("audit: %d %s", code, body)
	}
}

// TestRepeatLimitOnTwoReplicas: a repeat limit keyed on event.device.id lets one battery.low a
// day per device through, however the events are spread over two replicas, counts the rest as
// suppressed, and never holds back battery.critical. With a short period, the next battery.low
// sent after it says how many were suppressed. (Each type has its own count: one battery.critical
// per device here; a second one of the same device within the period would be held back too.)
func TestRepeatLimitOnTwoReplicas(t *testing.T) {
	s := newStack(t)
	s.startDispatcher()
	second := s.startReplica()
	s.startIngest()
	daily, short := newCapture(t, nil), newCapture(t, nil)
	wd := s.createWebhook(map[string]any{"url": daily.URL, "events": []string{"battery.*"}, "name": "daily",
		"repeat_limit": map[string]any{"key": "event.device.id", "per": "24h"}})
	ws := s.createWebhook(map[string]any{"url": short.URL, "events": []string{"battery.*"}, "name": "short",
		"repeat_limit": map[string]any{"key": "event.device.id", "per": "6s"}})

	var events []map[string]any
	for i := range 60 {
		events = append(events, batteryEvent("battery.low", fmt.Sprint("ERI-", i%3), fmt.Sprint("low-", i)))
		if i%12 == 0 {
			// the critical events of the devices whose battery.low are being held back (and two more)
			events = append(events, batteryEvent("battery.critical", fmt.Sprint("ERI-", i/12), fmt.Sprint("crit-", i)))
		}
	}
	start := time.Now()
	s.postConcurrently(events, 4)
	for _, c := range []*capture{daily, short} {
		waitUntil(t, 30*time.Second, "3 battery.low and 5 battery.critical", func() bool { return c.count() >= 8 })
	}
	for _, w := range []string{wd, ws} {
		waitUntil(t, 30*time.Second, "every delivery logged", func() bool { return len(s.deliveryLog(s.dispAddr, w)) == 65 })
	}
	time.Sleep(time.Second) // nothing more may arrive
	for name, c := range map[string]*capture{"daily": daily, "short": short} {
		low := map[string]int{}
		crit := 0
		for _, e := range c.envelopes(t) {
			switch e.Type {
			case "battery.low":
				low[e.Data.Device.ID]++
			case "battery.critical":
				crit++
			}
		}
		if len(low) != 3 || low["ERI-0"] != 1 || low["ERI-1"] != 1 || low["ERI-2"] != 1 || crit != 5 {
			t.Fatalf("%s received battery.low by device %v and %d battery.critical", name, low, crit)
		}
	}
	suppressed := 0
	for _, d := range s.deliveryLog(second.addr, wd) {
		if d.Status == "suppressed" {
			suppressed++
			if d.EventType != "battery.low" || d.Attempts != 0 {
				t.Fatalf("suppressed: %+v", d)
			}
		}
	}
	one, two := metric(t, s.dispAddr, "taskhook_dispatch_suppressed_total"), metric(t, second.addr, "taskhook_dispatch_suppressed_total")
	e1, e2 := metric(t, s.dispAddr, "taskhook_dispatch_events_total"), metric(t, second.addr, "taskhook_dispatch_events_total")
	t.Logf("events consumed by replica: %.0f and %.0f; suppressed by replica: %.0f and %.0f", e1, e2, one, two)
	if suppressed != 57 || one+two != 114 {
		t.Fatalf("%d suppressed in the daily log (want 57), %v counted (want 114)", suppressed, one+two)
	}

	// The short period ends: the next battery.low of ERI-0 goes out, saying 19 were suppressed.
	if wait := 6*time.Second - time.Since(start); wait > 0 {
		time.Sleep(wait + 200*time.Millisecond)
	}
	s.postConcurrently([]map[string]any{batteryEvent("battery.low", "ERI-0", "low-next")}, 1)
	waitUntil(t, 20*time.Second, "the next battery.low at the short webhook", func() bool { return short.count() == 9 })
	last := short.envelopes(t)[8]
	if last.Data.EventID != "low-next" || last.SuppressedSinceLast != 19 {
		t.Fatalf("next message: %+v", last)
	}
	time.Sleep(500 * time.Millisecond)
	if n := daily.count(); n != 8 {
		t.Fatalf("the daily webhook received %d (its day is not over)", n)
	}
}
