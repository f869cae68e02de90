package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// digestBody is the generic digest message.
type digestBody struct {
	Type   string         `json:"type"`
	Count  int            `json:"count"`
	Total  int            `json:"total"`
	Counts map[string]int `json:"counts"`
	Window struct {
		Start, End time.Time
	} `json:"window"`
	Events []struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	} `json:"events"`
}

// TestDigestWindow: 200 events into a 5 s window arrive as one generic message with count 200
// and one Slack message, both in the delivery log as event type digest; nothing else follows.
func TestDigestWindow(t *testing.T) {
	h := start(t)
	gen, sl := newReceiver(t), newReceiver(t)
	g := h.createWebhook(map[string]any{"url": gen.URL + "/hook", "events": []string{"task.*"}, "auth": map[string]any{"type": "hmac"},
		"digest": map[string]any{"window": "5s"}})
	s := h.createWebhook(map[string]any{"url": sl.URL + "/services/T0/B0/x", "provider": "slack", "events": []string{"task.*"},
		"digest": map[string]any{"window": "5s"}, "redact": true})
	var view struct {
		Digest map[string]any `json:"digest"`
	}
	h.do("GET", "/v1/webhooks/"+g.ID, viewerToken, nil).decode(t, &view)
	if view.Digest["window"] != "5s" {
		t.Fatalf("digest in the view: %v", view.Digest)
	}
	start := time.Now()
	for i := 0; i < 200; i++ {
		h.publish(taskEvent(fmt.Sprintf("d-%03d", i), "created", `,"patient":{"id":"p1","first_name":"Jane","last_name":"Roe"}`))
	}
	reqs := gen.waitFor(t, 1, 15*time.Second)
	if took := time.Since(start); took < 4*time.Second {
		t.Fatalf("digest sent after %s, before its 5 s window closed", took)
	}
	var d digestBody
	if err := json.Unmarshal(reqs[0].Body, &d); err != nil {
		t.Fatal(err)
	}
	if d.Type != "digest" || d.Count != 200 || d.Total != 200 || len(d.Events) != 200 || d.Counts["task.created"] != 200 {
		t.Fatalf("generic digest: type %s count %d total %d events %d counts %v", d.Type, d.Count, d.Total, len(d.Events), d.Counts)
	}
	if reqs[0].Header.Get("webhook-signature") == "" || reqs[0].Header.Get("webhook-id") == "" {
		t.Fatalf("digest not signed: %v", reqs[0].Header)
	}
	if d.Window.End.Sub(d.Window.Start) != 5*time.Second {
		t.Fatalf("window %s – %s", d.Window.Start, d.Window.End)
	}
	slack := sl.waitFor(t, 1, 10*time.Second)
	body := string(slack[0].Body)
	if !strings.Contains(body, "Digest: 200 events") || !strings.Contains(body, "and 190 more") || strings.Contains(body, "Jane") {
		t.Fatalf("slack digest: %s", body)
	}
	time.Sleep(2 * time.Second)
	if n, m := len(gen.requests()), len(sl.requests()); n != 1 || m != 1 {
		t.Fatalf("after the digest: %d generic and %d slack messages, want one each", n, m)
	}
	for _, id := range []string{g.ID, s.ID} {
		ds := h.deliveries(id)
		if len(ds) != 1 || ds[0].Status != "succeeded" {
			t.Fatalf("delivery log of %s: %+v", id, ds)
		}
		var typ string
		if err := h.db.Get(&typ, `SELECT event_type FROM deliveries WHERE id = $1`, ds[0].ID); err != nil || typ != "digest" {
			t.Fatalf("event_type %q %v", typ, err)
		}
	}
	var waiting int
	if err := h.db.Get(&waiting, `SELECT count(*) FROM digest_items WHERE digest_id IS NULL`); err != nil || waiting != 0 {
		t.Fatalf("items still waiting: %d %v", waiting, err)
	}
	// A redelivered event (same event ids) is not collected again: no second window opens.
	for i := 0; i < 5; i++ {
		h.publishRaw("task.created", []byte(taskEvent(fmt.Sprintf("d-%03d", i), "created", "")), fmt.Sprintf("again-%d", i))
	}
	eventually(t, 5*time.Second, "the redelivered events consumed", func() bool { return h.consumerInfo().NumAckPending == 0 && h.consumerInfo().NumPending == 0 })
	var windows int
	if err := h.db.Get(&windows, `SELECT count(*) FROM digest_windows`); err != nil || windows != 0 {
		t.Fatalf("a window opened for events already sent: %d %v", windows, err)
	}
}

// TestDigestOffFlushes: PATCHing a digest off sends what its window collected as one message,
// at once; events after that are delivered one by one.
func TestDigestOffFlushes(t *testing.T) {
	h := start(t)
	gen := newReceiver(t)
	g := h.createWebhook(map[string]any{"url": gen.URL, "events": []string{"task.*"}, "digest": map[string]any{"window": "24h"}})
	for i := 0; i < 3; i++ {
		h.publish(taskEvent(fmt.Sprintf("off-%d", i), "created", ""))
	}
	eventually(t, 5*time.Second, "three items collected", func() bool {
		var n int
		_ = h.db.Get(&n, `SELECT count(*) FROM digest_items WHERE webhook_id = $1`, g.ID)
		return n == 3
	})
	if r := h.do("PATCH", "/v1/webhooks/"+g.ID, adminToken, map[string]any{"digest": nil}); r.Status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	reqs := gen.waitFor(t, 1, 5*time.Second)
	var d digestBody
	if err := json.Unmarshal(reqs[0].Body, &d); err != nil || d.Count != 3 {
		t.Fatalf("flushed digest: %s %v", reqs[0].Body, err)
	}
	h.publish(taskEvent("after", "created", ""))
	reqs = gen.waitFor(t, 2, 5*time.Second)
	if !strings.Contains(string(reqs[1].Body), `"type":"task.created"`) {
		t.Fatalf("after the digest was turned off: %s", reqs[1].Body)
	}
	var audit []string
	if err := h.db.Select(&audit, `SELECT details::text FROM audit_log WHERE action = 'webhook.update'`); err != nil || len(audit) != 1 || !strings.Contains(audit[0], "digest") {
		t.Fatalf("audit: %v %v", audit, err)
	}
}

// TestDigestDailySendEmpty: a daily digest that sends empty days has a window from the start,
// closing at the next daily time in the webhook's zone.
func TestDigestDailySendEmpty(t *testing.T) {
	h := start(t)
	gen := newReceiver(t)
	g := h.createWebhook(map[string]any{"url": gen.URL, "timezone": "America/New_York",
		"digest": map[string]any{"daily_at": "08:00", "send_empty": true}})
	var closes time.Time
	if err := h.db.Get(&closes, `SELECT closes_at FROM digest_windows WHERE webhook_id = $1`, g.ID); err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	if lc := closes.In(ny); lc.Hour() != 8 || lc.Minute() != 0 || time.Until(closes) > 24*time.Hour || time.Until(closes) <= 0 {
		t.Fatalf("window closes at %s", lc)
	}
	// Make it due now: an empty digest goes out, and the next day's window opens.
	if _, err := h.db.Exec(`UPDATE digest_windows SET closes_at = now() WHERE webhook_id = $1`, g.ID); err != nil {
		t.Fatal(err)
	}
	reqs := gen.waitFor(t, 1, 5*time.Second)
	var d digestBody
	if err := json.Unmarshal(reqs[0].Body, &d); err != nil || d.Count != 0 || d.Events == nil {
		t.Fatalf("empty digest: %s %v", reqs[0].Body, err)
	}
	eventually(t, 5*time.Second, "the next window", func() bool {
		var next time.Time
		return h.db.Get(&next, `SELECT closes_at FROM digest_windows WHERE webhook_id = $1`, g.ID) == nil && next.After(time.Now())
	})
}

func TestDigestRefused(t *testing.T) {
	h := start(t)
	rcv := newReceiver(t)
	cases := []struct {
		name string
		body map[string]any
		path string
	}{
		{"fhir", map[string]any{"provider": "fhir", "options": map[string]any{"identifier_system": "urn:x"}, "digest": map[string]any{"window": "15m"}}, "/digest"},
		{"window under 5 s", map[string]any{"digest": map[string]any{"window": "4s"}}, "/digest/window"},
		{"window over 24 h", map[string]any{"digest": map[string]any{"window": "25h"}}, "/digest/window"},
		{"window not a duration", map[string]any{"digest": map[string]any{"window": 900}}, "/digest/window"},
		{"bad daily_at", map[string]any{"digest": map[string]any{"daily_at": "8am"}}, "/digest/daily_at"},
		{"both", map[string]any{"digest": map[string]any{"daily_at": "08:00", "window": "1h"}}, "/digest"},
		{"empty", map[string]any{"digest": map[string]any{}}, "/digest"},
		{"unknown field", map[string]any{"digest": map[string]any{"window": "1h", "every": "day"}}, "/digest/every"},
		{"with a template", map[string]any{"digest": map[string]any{"window": "1h"}, "template": `{"x": 1}`}, "/digest"},
	}
	for _, c := range cases {
		c.body["name"], c.body["url"] = "d", rcv.URL
		r := h.do("POST", "/v1/webhooks", adminToken, c.body)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), `"path":"`+c.path+`"`) {
			t.Errorf("%s: %d %s, want 422 at %s", c.name, r.Status, r.Body, c.path)
		}
	}
}
