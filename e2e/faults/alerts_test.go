package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// batteryCritical is the goReporter example with a distinct device per n (its own event id).
func batteryCritical(t *testing.T, n int) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../../examples/goreporter-battery-critical.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	_ = json.Unmarshal(b, &ev)
	ev["device"].(map[string]any)["id"] = fmt.Sprintf("D-%d-%d", time.Now().UnixNano(), n)
	return ev
}

var ackLink = regexp.MustCompile(`https?://[^"\s\\<>|]+/ack/[A-Za-z0-9_-]{43}`)

// links lists the acknowledge links in bodies, in order.
func links(bodies []string) []string {
	var out []string
	for _, b := range bodies {
		if l := ackLink.FindString(b); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func httpDo(t *testing.T, method, u string, form url.Values) (int, string) {
	t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, rd)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	b := string(raw)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s %s: content type %q, want a page", method, u, ct)
	}
	return resp.StatusCode, b
}

type alertView struct {
	ID              string
	State           string
	Step            int
	AcknowledgedBy  *string `json:"acknowledged_by"`
	AcknowledgedVia *string `json:"acknowledged_via"`
	Escalations     []struct {
		Step       int
		Reason     string
		WebhookIDs []string `json:"webhook_ids"`
	}
}

func (s *stack) alerts(state string) []alertView {
	s.t.Helper()
	code, b := s.call("GET", "http://"+s.dispAddr+"/v1/alerts?limit=500&state="+state, adminToken, nil)
	if code != 200 {
		s.t.Fatalf("list alerts: %d %s", code, b)
	}
	var out struct{ Alerts []alertView }
	_ = json.Unmarshal(b, &out)
	return out.Alerts
}

// Acknowledged in time → no escalation. The link's GET shows a page and changes nothing; only
// the POST acknowledges; a second POST shows who did it first and changes nothing; a forged or
// malformed token gets a clean 404 page; an expired one a 410 page.
func TestAlertAcknowledgedInTime(t *testing.T) {
	s := newStack(t, "TASKHOOK_PUBLIC_URL=http://taskhook.test", "TASKHOOK_ACK_LINK_TTL=20s")
	s.startDispatcher()
	s.startIngest()
	primary, oncall := newCapture(t, nil), newCapture(t, nil)
	target := s.createWebhook(map[string]any{"name": "on-call", "url": oncall.URL, "provider": "slack", "events": []string{"task.created"}})
	s.createWebhook(map[string]any{"name": "ward 3", "url": primary.URL, "events": []string{"battery.*"}, "redact": true,
		"escalation": map[string]any{"acknowledge_within": "10s", "escalate_to": []string{target}}})
	if ids := s.postBatch([]map[string]any{batteryCritical(t, 1)}); len(ids) != 1 {
		t.Fatal("ingest did not accept the event")
	}
	_, body := primary.first(t)
	var env struct {
		Alert struct {
			ID             string `json:"id"`
			AcknowledgeURL string `json:"acknowledge_url"`
		}
	}
	_ = json.Unmarshal(body, &env)
	if !strings.HasPrefix(env.Alert.AcknowledgeURL, "http://taskhook.test/ack/") || env.Alert.ID == "" {
		t.Fatalf("generic envelope without an alert: %s", body)
	}
	if strings.Contains(env.Alert.AcknowledgeURL, env.Alert.ID) {
		t.Fatal("the token contains the alert id")
	}
	link := "http://" + s.dispAddr + strings.TrimPrefix(env.Alert.AcknowledgeURL, "http://taskhook.test")

	// GET (a chat app's preview, a mail scanner) acknowledges nothing, and shows no patient data
	// for a redacting webhook.
	for i := 0; i < 3; i++ {
		code, page := httpDo(t, "GET", link, nil)
		if code != 200 || !strings.Contains(page, "Acknowledge this alert") || !strings.Contains(page, "ward 3") {
			t.Fatalf("GET: %d %s", code, page)
		}
		if strings.Contains(page, "Doe") || strings.Contains(page, "1980") {
			t.Fatalf("the page of a redacting webhook shows patient data: %s", page)
		}
	}
	if a := s.alerts("open"); len(a) != 1 || a[0].ID != env.Alert.ID {
		t.Fatalf("after GETs: open alerts %+v", a)
	}
	// Forged, malformed, cut-short tokens: a clean 404 page, nothing changed.
	forged := link[:len(link)-43] + strings.Repeat("A", 43)
	for _, u := range []string{forged, link[:len(link)-1], link + "x", "http://" + s.dispAddr + "/ack/%2e%2e"} {
		code, page := httpDo(t, "POST", u, url.Values{"name": {"Mallory"}})
		if code != 404 || !strings.Contains(page, "Link not found") || strings.Contains(page, "ward 3") {
			t.Errorf("POST %s: %d %s", u, code, page)
		}
	}
	// Too long a name: 422, nothing acknowledged.
	if code, _ := httpDo(t, "POST", link, url.Values{"name": {strings.Repeat("x", 101)}}); code != 422 {
		t.Errorf("a 101-character name: %d, want 422", code)
	}
	if code, _ := httpDo(t, "POST", link, url.Values{"name": {strings.Repeat("x", 5000)}}); code != 400 {
		t.Errorf("a form over 4 KB: %d, want 400", code)
	}
	if a := s.alerts("open"); len(a) != 1 {
		t.Fatalf("forged tokens changed something: %+v", a)
	}
	code, page := httpDo(t, "POST", link, url.Values{"name": {"Nurse Joy"}})
	if code != 200 || !strings.Contains(page, "Acknowledged by Nurse Joy") {
		t.Fatalf("POST: %d %s", code, page)
	}
	code, page = httpDo(t, "POST", link, url.Values{"name": {"Someone Else"}})
	if code != 200 || !strings.Contains(page, "Already acknowledged") || !strings.Contains(page, "Acknowledged by Nurse Joy") {
		t.Fatalf("second POST: %d %s", code, page)
	}
	a := s.alerts("acknowledged")
	if len(a) != 1 || a[0].AcknowledgedBy == nil || *a[0].AcknowledgedBy != "Nurse Joy" || *a[0].AcknowledgedVia != "link" {
		t.Fatalf("acknowledged alerts %+v", a)
	}
	code, raw := s.call("GET", "http://"+s.dispAddr+"/v1/audit", adminToken, nil)
	b := string(raw)
	if code != 200 || strings.Count(b, `"alert.acknowledge"`) != 1 {
		t.Errorf("audit: %d %s", code, b)
	}
	// Past acknowledge_within (10s) and more: nobody on call hears of it.
	time.Sleep(12 * time.Second)
	if n := len(oncall.bodies()); n != 0 {
		t.Fatalf("an acknowledged alert escalated: %d messages", n)
	}
	// Past TASKHOOK_ACK_LINK_TTL (20s): 410, as a page.
	waitUntil(t, 15*time.Second, "the link to expire", func() bool {
		code, _ := httpDo(t, "GET", link, nil)
		return code == 410
	})
	if code, page := httpDo(t, "POST", link, url.Values{"name": {"Late"}}); code != 410 || !strings.Contains(page, "expired") || strings.Contains(page, "Nurse Joy") {
		t.Errorf("expired POST: %d %s", code, page)
	}
	if v := metric(t, s.dispAddr, "taskhook_alert_time_to_acknowledge_seconds_count", `via="link"`); v != 1 {
		t.Errorf("time-to-acknowledge count %v, want 1", v)
	}
}

// Never acknowledged → each escalation target gets exactly one message per step, across two
// dispatcher replicas with one SIGKILLed between the steps; a click on the link in the on-call
// Slack message closes that alert for everyone and stops its further steps.
func TestAlertEscalatesOncePerStepAcrossReplicas(t *testing.T) {
	s := newStack(t, "TASKHOOK_PUBLIC_URL=http://taskhook.test")
	s.startDispatcher()
	s.startReplica()
	s.startIngest()
	primary, slack, backup := newCapture(t, nil), newCapture(t, nil), newCapture(t, nil)
	slackID := s.createWebhook(map[string]any{"name": "on-call", "url": slack.URL + "/services/T/B/x", "provider": "slack", "events": []string{"task.created"}})
	genericID := s.createWebhook(map[string]any{"name": "pager bridge", "url": backup.URL, "events": []string{"task.created"}})
	teamsID := s.createWebhook(map[string]any{"name": "ward 3 teams", "url": primary.URL + "/workflows/1", "provider": "teams", "events": []string{"battery.*"},
		"escalation": map[string]any{"acknowledge_within": "10s", "escalate_to": []string{slackID, genericID}, "repeat": 1}})
	const events = 3
	var evs []map[string]any
	for i := 0; i < events; i++ {
		evs = append(evs, batteryCritical(t, i))
	}
	if ids := s.postBatch(evs); len(ids) != events {
		t.Fatal("ingest did not accept the events")
	}
	waitUntil(t, 20*time.Second, "the primary messages", func() bool { return len(primary.bodies()) == events })
	for _, b := range primary.bodies() {
		if !strings.Contains(b, `"title":"Acknowledge"`) || len(links([]string{b})) != 1 {
			t.Fatalf("teams message without the Acknowledge action: %s", b)
		}
	}
	// Step 1 at 10 s.
	waitUntil(t, 25*time.Second, "step 1 on both targets", func() bool {
		return len(slack.bodies()) >= events && len(backup.bodies()) >= events
	})
	time.Sleep(time.Second)
	if n, m := len(slack.bodies()), len(backup.bodies()); n != events || m != events {
		t.Fatalf("step 1: slack %d, generic %d messages, want %d each", n, m, events)
	}
	for _, b := range slack.bodies() {
		if !strings.Contains(b, `Not acknowledged after 10 s: `) || !strings.Contains(b, `"type":"button"`) {
			t.Fatalf("slack escalation: %s", b)
		}
	}
	for _, b := range backup.bodies() {
		var env struct {
			Escalation struct {
				Step          int
				Reason        string
				FromWebhookID string `json:"from_webhook_id"`
			}
			Alert struct{ ID string }
		}
		_ = json.Unmarshal([]byte(b), &env)
		if env.Escalation.Step != 1 || env.Escalation.Reason != "not_acknowledged" || env.Escalation.FromWebhookID != teamsID || env.Alert.ID == "" {
			t.Fatalf("generic escalation: %s", b)
		}
	}
	// The same link everywhere: the on-call channel's button is the primary's link.
	same := map[string]bool{}
	for _, l := range links(primary.bodies()) {
		same[l] = true
	}
	slackLinks := links(slack.bodies())
	for _, l := range slackLinks {
		if !same[l] {
			t.Fatalf("the escalation carries another link: %s", l)
		}
	}
	// Someone on call acknowledges the first alert from Slack.
	ackURL := "http://" + s.dispAddr + strings.TrimPrefix(slackLinks[0], "http://taskhook.test")
	if code, page := httpDo(t, "POST", ackURL, url.Values{"name": {"Dr. Rivera"}}); code != 200 || !strings.Contains(page, "Acknowledged by Dr. Rivera") {
		t.Fatalf("acknowledge from slack: %d %s", code, page)
	}
	// A replica dies (SIGKILL) between the steps.
	s.dispatcher.Kill()
	// Step 2 at 20 s, for the two alerts not acknowledged only, then unacknowledged at 30 s.
	waitUntil(t, 30*time.Second, "step 2 on both targets", func() bool {
		return len(slack.bodies()) >= 2*events-1 && len(backup.bodies()) >= 2*events-1
	})
	s.startDispatcher()
	waitUntil(t, 30*time.Second, "the alerts to end unacknowledged", func() bool { return len(s.alerts("unacknowledged")) == events-1 })
	time.Sleep(2 * time.Second)
	if n, m := len(slack.bodies()), len(backup.bodies()); n != 2*events-1 || m != 2*events-1 {
		t.Fatalf("after step 2: slack %d, generic %d messages, want %d each (one per step and target)", n, m, 2*events-1)
	}
	for _, b := range slack.bodies()[events:] {
		if !strings.Contains(b, `Not acknowledged after 20 s: `) {
			t.Fatalf("slack step 2: %s", b)
		}
	}
	acked := s.alerts("acknowledged")
	if len(acked) != 1 || acked[0].Step != 1 || len(acked[0].Escalations) != 1 {
		t.Fatalf("acknowledged: %+v", acked)
	}
	for _, a := range s.alerts("unacknowledged") {
		if a.Step != 2 || len(a.Escalations) != 2 || a.Escalations[1].Reason != "not_acknowledged" || len(a.Escalations[1].WebhookIDs) != 2 {
			t.Fatalf("unacknowledged alert %+v", a)
		}
	}
}

// A primary that answers 410: its fallback receives the event once (and, the webhook being
// disabled now, the next event too, as "disabled"); its escalation targets are told
// delivery_failed at once, without waiting for acknowledge_within.
func TestAlertFallbackWhenThePrimaryIsGone(t *testing.T) {
	s := newStack(t, "TASKHOOK_PUBLIC_URL=http://taskhook.test")
	s.startDispatcher()
	s.startIngest()
	gone := newCapture(t, func(w http.ResponseWriter, r *http.Request, b []byte) bool {
		w.WriteHeader(http.StatusGone)
		return true
	})
	fallback, oncall := newCapture(t, nil), newCapture(t, nil)
	fbID := s.createWebhook(map[string]any{"name": "second channel", "url": fallback.URL, "events": []string{"task.created"}})
	oncallID := s.createWebhook(map[string]any{"name": "on-call", "url": oncall.URL + "/services/T/B/x", "provider": "slack", "events": []string{"task.created"}})
	primaryID := s.createWebhook(map[string]any{"name": "ward 3", "url": gone.URL, "events": []string{"battery.*"}, "fallback": fbID,
		"escalation": map[string]any{"acknowledge_within": "1h", "escalate_to": []string{oncallID}}})
	// A loop is refused.
	if code, b := s.call("PATCH", "http://"+s.dispAddr+"/v1/webhooks/"+fbID, adminToken, map[string]any{"fallback": primaryID}); code != 422 || !strings.Contains(string(b), `"/fallback"`) {
		t.Errorf("fallback loop: %d %s", code, b)
	}
	if ids := s.postBatch([]map[string]any{batteryCritical(t, 1)}); len(ids) != 1 {
		t.Fatal("ingest did not accept the event")
	}
	waitUntil(t, 20*time.Second, "the fallback and the escalation", func() bool { return len(fallback.bodies()) == 1 && len(oncall.bodies()) == 1 })
	var env struct {
		Fallback struct {
			FromWebhookID string `json:"from_webhook_id"`
			Reason        string
		}
	}
	_ = json.Unmarshal([]byte(fallback.bodies()[0]), &env)
	if env.Fallback.FromWebhookID != primaryID || env.Fallback.Reason != "failed" {
		t.Fatalf("fallback envelope: %s", fallback.bodies()[0])
	}
	if b := oncall.bodies()[0]; !strings.Contains(b, "Not delivered to ward 3: ") {
		t.Fatalf("escalation: %s", b)
	}
	a := s.alerts("escalated")
	if len(a) != 1 || a[0].Escalations[0].Reason != "delivery_failed" {
		t.Fatalf("alert %+v", a)
	}
	// The webhook is disabled now (410): the next event goes to the fallback as "disabled".
	if ids := s.postBatch([]map[string]any{batteryCritical(t, 2)}); len(ids) != 1 {
		t.Fatal("ingest did not accept the event")
	}
	waitUntil(t, 20*time.Second, "the second fallback", func() bool { return len(fallback.bodies()) == 2 })
	_ = json.Unmarshal([]byte(fallback.bodies()[1]), &env)
	if env.Fallback.Reason != "disabled" {
		t.Fatalf("second fallback: %s", fallback.bodies()[1])
	}
	time.Sleep(2 * time.Second)
	if n, m := len(fallback.bodies()), len(oncall.bodies()); n != 2 || m != 1 {
		t.Fatalf("fallback %d, on-call %d messages, want 2 and 1", n, m)
	}
	if v := metric(t, s.dispAddr, "taskhook_alert_fallbacks_total"); v != 2 {
		t.Errorf("fallbacks metric %v, want 2", v)
	}
	if v := metric(t, s.dispAddr, "taskhook_alert_escalations_total", `reason="delivery_failed"`); v != 1 {
		t.Errorf("escalations metric %v, want 1", v)
	}
}

// The policy's 422s: fhir, digest, unknown or own id, and no TASKHOOK_PUBLIC_URL.
func TestAlertPolicyValidation(t *testing.T) {
	s := newStack(t)
	s.startDispatcher()
	other := s.createWebhook(map[string]any{"name": "other", "url": "http://127.0.0.1:1/x"})
	pol := map[string]any{"acknowledge_within": "15m", "escalate_to": []string{other}}
	code, raw := s.call("POST", "http://"+s.dispAddr+"/v1/webhooks", adminToken, map[string]any{"name": "x", "url": "http://127.0.0.1:1/y", "escalation": pol})
	b := string(raw)
	if code != 422 || !strings.Contains(b, "TASKHOOK_PUBLIC_URL") || !strings.Contains(b, `"/escalation"`) {
		t.Errorf("without TASKHOOK_PUBLIC_URL: %d %s", code, b)
	}
	code, raw = s.call("POST", "http://"+s.dispAddr+"/v1/webhooks", adminToken, map[string]any{"name": "x", "url": "http://127.0.0.1:1/y",
		"escalation": map[string]any{"acknowledge_within": "5s", "escalate_to": []string{"00000000-0000-4000-8000-000000000000"}, "repeat": 9}})
	b = string(raw)
	for _, p := range []string{`"/escalation/acknowledge_within"`, `"/escalation/repeat"`} {
		if code != 422 || !strings.Contains(b, p) {
			t.Errorf("bad policy: %d %s (want %s)", code, b, p)
		}
	}
	code, raw = s.call("PATCH", "http://"+s.dispAddr+"/v1/webhooks/"+other, adminToken, map[string]any{"fallback": other})
	b = string(raw)
	if code != 422 || !strings.Contains(b, `"/fallback"`) {
		t.Errorf("own fallback: %d %s", code, b)
	}
}
