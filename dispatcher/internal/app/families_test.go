package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/pkg/families/battery"
	"github.com/taskhook/taskhook/pkg/families/report"
)

// TestEventFamilies: the catalog is served to viewers; webhooks subscribe to a family, filter on
// its fields, and each provider renders it; unknown patterns are 422.
func TestEventFamilies(t *testing.T) {
	h := start(t)
	var list struct {
		EventTypes []struct {
			Type, Family string
			Example      json.RawMessage
		} `json:"event_types"`
	}
	r := h.do("GET", "/v1/event-types", viewerToken, nil)
	r.decode(t, &list)
	if r.Status != 200 || len(list.EventTypes) != 12 || list.EventTypes[7].Type != "battery.critical" || list.EventTypes[7].Family != "battery" {
		t.Fatalf("catalog: %d %.300s", r.Status, r.Body)
	}
	if r := h.do("GET", "/v1/event-types", "", nil); r.Status != 401 {
		t.Fatalf("catalog without a token: %d", r.Status)
	}

	critical := newReceiver(t, answer{status: 204})
	fhir := newReceiver(t, answer{status: 201})
	slack := newReceiver(t, answer{status: 200, body: "ok"})
	h.createWebhook(map[string]any{"url": critical.URL, "events": []string{"battery.*"}, "filter": "event.battery.percent < 10"})
	h.createWebhook(map[string]any{"url": fhir.URL + "/r4", "provider": "fhir", "events": []string{"report.completed", "battery.critical"}})
	h.createWebhook(map[string]any{"url": slack.URL + "/services/T0/B0/x", "provider": "slack", "events": []string{"*"}, "redact": true})
	low := strings.Replace(battery.Example, `"battery.critical"`, `"battery.low"`, 1)
	low = strings.Replace(low, `"percent":4`, `"percent":18`, 1)
	h.publish(low)
	h.publish(battery.Example)
	h.publish(report.Example)

	got := critical.waitFor(t, 1, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // the 18 % event, filtered out, must not follow
	if n := len(critical.requests()); n != 1 || !strings.Contains(string(got[0].Body), `"type":"battery.critical"`) {
		t.Fatalf("filtered battery webhook got %d requests: %s", n, got[0].Body)
	}
	paths := map[string]bool{}
	for _, rq := range fhir.waitFor(t, 2, 10*time.Second) {
		paths[rq.Path] = true
		if rq.Header.Get("Content-Type") != "application/fhir+json" || rq.Header.Get("If-None-Exist") == "" {
			t.Errorf("fhir request %s %v", rq.Path, rq.Header)
		}
	}
	if !paths["/r4/Observation"] || !paths["/r4/DiagnosticReport"] {
		t.Fatalf("fhir paths %v", paths)
	}
	titles := map[string]bool{}
	for _, rq := range slack.waitFor(t, 3, 15*time.Second) {
		var m struct{ Text string }
		_ = json.Unmarshal(rq.Body, &m)
		titles[strings.SplitN(m.Text, "\n", 2)[0]] = true
		if strings.Contains(m.Text, "John") || strings.Contains(m.Text, "1980") {
			t.Errorf("redacted slack message carries the patient: %s", m.Text)
		}
	}
	if !titles["Battery Low"] || !titles["Battery Critical"] || !titles["Report Completed"] {
		t.Fatalf("slack titles %v", titles)
	}

	// Test-before-save with a battery sample; unknown patterns and a bad family filter refused.
	var res struct {
		OK        bool   `json:"ok"`
		EventType string `json:"event_type"`
	}
	r = h.do("POST", "/v1/webhooks/test?event=battery.critical", adminToken, map[string]any{"name": "try", "url": slack.URL + "/services/T0/B0/y", "provider": "slack"})
	r.decode(t, &res)
	last := slack.requests()[len(slack.requests())-1]
	if !res.OK || res.EventType != "battery.critical" || !strings.Contains(string(last.Body), "Battery Critical") {
		t.Fatalf("test send %s / %s", r.Body, last.Body)
	}
	if r := h.do("POST", "/v1/webhooks/test?event=battery.dead", adminToken, map[string]any{"name": "try", "url": slack.URL}); r.Status != 400 {
		t.Fatalf("unknown test event: %d", r.Status)
	}
	for _, events := range [][]string{{"battery.dead"}, {"device.*"}, {"report"}} {
		r := h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "x", "url": critical.URL, "events": events})
		var e struct {
			Details []struct{ Path, Message string }
		}
		r.decode(t, &e)
		if r.Status != 422 || len(e.Details) != 1 || e.Details[0].Path != "/events/0" || !strings.Contains(e.Details[0].Message, "battery.*") {
			t.Errorf("%v: %d %s", events, r.Status, r.Body)
		}
	}
}
