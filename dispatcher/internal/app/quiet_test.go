package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// battery is a battery event of device dev.
func batteryEvent(typ, dev string, n int) string {
	return fmt.Sprintf(`{"type":%q,"event_id":"%s-%s-%d-%d","device":{"id":%q,"kind":"pacemaker"},"battery":{"percent":12}}`,
		typ, typ, dev, n, time.Now().UnixNano(), dev)
}

type silenceView struct {
	ID         string   `json:"id"`
	Matcher    string   `json:"matcher"`
	WebhookIDs []string `json:"webhook_ids"`
	StartsAt   string   `json:"starts_at"`
	EndsAt     string   `json:"ends_at"`
	Reason     string   `json:"reason"`
	CreatedBy  string   `json:"created_by"`
	EndedBy    string   `json:"ended_by"`
	State      string   `json:"state"`
}

type logRow struct {
	ID                  string `json:"id"`
	EventID             string `json:"event_id"`
	EventType           string `json:"event_type"`
	Status              string `json:"status"`
	Attempts            int    `json:"attempts"`
	SilenceID           string `json:"silence_id"`
	SuppressedSinceLast int    `json:"suppressed_since_last"`
}

// log is a webhook's delivery log as the API shows it, newest first.
func (h *harness) log(webhookID string) []logRow {
	h.t.Helper()
	var page struct {
		Deliveries []logRow `json:"deliveries"`
	}
	r := h.do("GET", "/v1/webhooks/"+webhookID+"/deliveries?limit=100", viewerToken, nil)
	if r.Status != http.StatusOK {
		h.t.Fatalf("delivery log: %d %s", r.Status, r.Body)
	}
	r.decode(h.t, &page)
	return page.Deliveries
}

func (h *harness) createSilence(body map[string]any) silenceView {
	h.t.Helper()
	r := h.do("POST", "/v1/silences", adminToken, body)
	if r.Status != http.StatusCreated {
		h.t.Fatalf("create silence: %d %s", r.Status, r.Body)
	}
	var v silenceView
	r.decode(h.t, &v)
	return v
}

func deviceOf(t *testing.T, body []byte) string {
	t.Helper()
	var env struct {
		Data struct {
			Device struct {
				ID string `json:"id"`
			} `json:"device"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("not the generic envelope: %s", body)
	}
	return env.Data.Device.ID
}

// TestSilenceAPIRefusesBadInput: every bad silence is a 422 naming the field; ending an ended
// silence is a 409; viewers cannot create; unknown ids are 404.
func TestSilenceAPIRefusesBadInput(t *testing.T) {
	h := start(t, "TASKHOOK_SILENCE_MAX=2h")
	rcv := newReceiver(t)
	wh := h.createWebhook(map[string]any{"url": rcv.URL, "events": []string{"battery.*"}})
	in := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
	good := func() map[string]any {
		return map[string]any{"matcher": `event.device.id == "D-991"`, "ends_at": in(time.Hour), "reason": "firmware update in clinic"}
	}
	cases := []struct {
		name    string
		change  func(m map[string]any)
		pointer string
		says    string
	}{
		{"matcher missing", func(m map[string]any) { delete(m, "matcher") }, "/matcher", "required"},
		{"matcher does not compile", func(m map[string]any) { m["matcher"] = `event.device.id ==` }, "/matcher", "does not compile"},
		{"matcher not boolean", func(m map[string]any) { m["matcher"] = `event.device.id` }, "/matcher", "boolean"},
		{"matcher a string", func(m map[string]any) { m["matcher"] = `"yes"` }, "/matcher", "boolean"},
		{"matcher over its cost", func(m map[string]any) {
			m["matcher"] = `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, a+b+c+d+e > 0)))))`
		}, "/matcher", "cost limit"},
		{"ends_at missing", func(m map[string]any) { delete(m, "ends_at") }, "/ends_at", "required"},
		{"ends_at not a time", func(m map[string]any) { m["ends_at"] = "tomorrow" }, "/ends_at", "RFC 3339"},
		{"ends_at without offset", func(m map[string]any) { m["ends_at"] = "2030-01-01T10:00:00" }, "/ends_at", "offset"},
		{"end before start", func(m map[string]any) { m["starts_at"], m["ends_at"] = in(90*time.Minute), in(time.Hour) }, "/ends_at", "after starts_at"},
		{"end beyond the maximum", func(m map[string]any) { m["ends_at"] = in(3 * time.Hour) }, "/ends_at", "TASKHOOK_SILENCE_MAX"},
		{"end in the past", func(m map[string]any) { m["starts_at"], m["ends_at"] = in(-2*time.Hour), in(-time.Hour) }, "/ends_at", "past"},
		{"reason missing", func(m map[string]any) { delete(m, "reason") }, "/reason", "required"},
		{"reason one character", func(m map[string]any) { m["reason"] = "x" }, "/reason", "at least 3"},
		{"reason blank", func(m map[string]any) { m["reason"] = "    " }, "/reason", "at least 3"},
		{"reason too long", func(m map[string]any) { m["reason"] = strings.Repeat("a", 501) }, "/reason", "at most 500"},
		{"webhook id not a uuid", func(m map[string]any) { m["webhook_ids"] = []string{wh.ID, "nope"} }, "/webhook_ids/1", "UUID"},
		{"unknown webhook id", func(m map[string]any) { m["webhook_ids"] = []string{"0190a000-0000-7000-8000-000000000000"} }, "/webhook_ids/0", "no webhook"},
		{"unknown field", func(m map[string]any) { m["until"] = "later" }, "/until", "unknown field"},
		{"wrong type", func(m map[string]any) { m["reason"] = 5 }, "/reason", "string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := good()
			c.change(body)
			r := h.do("POST", "/v1/silences", adminToken, body)
			if r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			var e struct {
				Details []struct{ Path, Message string } `json:"details"`
			}
			r.decode(t, &e)
			for _, d := range e.Details {
				if d.Path == c.pointer && strings.Contains(d.Message, c.says) {
					return
				}
			}
			t.Fatalf("no problem at %s saying %q: %s", c.pointer, c.says, r.Body)
		})
	}
	if r := h.do("POST", "/v1/silences", viewerToken, good()); r.Status != http.StatusForbidden {
		t.Fatalf("viewer created a silence: %d %s", r.Status, r.Body)
	}
	// Time zones: 10:30+02:00 is 08:30Z; ends 09:00Z is after it (half an hour).
	start := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	zone := time.FixedZone("", 2*3600)
	body := good()
	body["starts_at"], body["ends_at"] = start.In(zone).Format(time.RFC3339), start.Add(30*time.Minute).UTC().Format(time.RFC3339)
	s := h.createSilence(body)
	if s.State != "pending" || s.CreatedBy == "" || len(s.WebhookIDs) != 0 {
		t.Fatalf("created: %+v", s)
	}
	if got, _ := time.Parse(time.RFC3339, s.StartsAt); !got.Equal(start) {
		t.Fatalf("starts_at %s, want %s", s.StartsAt, start)
	}
	var list struct{ Silences []silenceView }
	h.do("GET", "/v1/silences?state=pending", viewerToken, nil).decode(t, &list)
	if len(list.Silences) != 1 || list.Silences[0].ID != s.ID {
		t.Fatalf("pending: %+v", list)
	}
	h.do("GET", "/v1/silences?state=active", viewerToken, nil).decode(t, &list)
	if len(list.Silences) != 0 {
		t.Fatalf("active: %+v", list)
	}
	if r := h.do("GET", "/v1/silences?state=asleep", viewerToken, nil); r.Status != http.StatusBadRequest {
		t.Fatalf("bad state: %d", r.Status)
	}
	if r := h.do("DELETE", "/v1/silences/"+s.ID, viewerToken, nil); r.Status != http.StatusForbidden {
		t.Fatalf("viewer ended a silence: %d", r.Status)
	}
	r := h.do("DELETE", "/v1/silences/"+s.ID, adminToken, map[string]any{"reason": "not needed after all"})
	if r.Status != http.StatusOK {
		t.Fatalf("end: %d %s", r.Status, r.Body)
	}
	var ended silenceView
	r.decode(t, &ended)
	if ended.State != "expired" || ended.EndedBy == "" {
		t.Fatalf("ended: %+v", ended)
	}
	if r := h.do("DELETE", "/v1/silences/"+s.ID, adminToken, nil); r.Status != http.StatusConflict {
		t.Fatalf("ending an ended silence: %d %s", r.Status, r.Body)
	}
	if r := h.do("DELETE", "/v1/silences/0190a000-0000-7000-8000-000000000000", adminToken, nil); r.Status != http.StatusNotFound {
		t.Fatalf("ending an unknown silence: %d", r.Status)
	}
	if r := h.do("GET", "/v1/silences/not-a-uuid", viewerToken, nil); r.Status != http.StatusBadRequest {
		t.Fatalf("bad id: %d", r.Status)
	}
	h.do("GET", "/v1/silences?state=expired", viewerToken, nil).decode(t, &list)
	if len(list.Silences) != 1 || list.Silences[0].Reason != "firmware update in clinic" {
		t.Fatalf("expired: %+v", list)
	}
	// The audit trail says who created and who ended it, and why.
	var audit struct {
		Entries []struct {
			Actor    string          `json:"actor"`
			Action   string          `json:"action"`
			TargetID string          `json:"target_id"`
			Details  json.RawMessage `json:"details"`
		} `json:"entries"`
	}
	h.do("GET", "/v1/audit?limit=10", viewerToken, nil).decode(t, &audit)
	actions := map[string]string{}
	for _, e := range audit.Entries {
		if e.TargetID == s.ID {
			actions[e.Action] = e.Actor + " " + string(e.Details)
		}
	}
	if !strings.Contains(actions["silence.create"], "firmware update in clinic") || !strings.Contains(actions["silence.end"], "not needed after all") {
		t.Fatalf("audit: %v", actions)
	}
}

// TestSilenceSilencesOnlyItsDeviceAtItsWebhooks: a silence for one device at one webhook
// records that device's deliveries there as silenced (never attempted) with the silence id;
// other devices and other webhooks still receive; ending it lets the next event through.
func TestSilenceSilencesOnlyItsDeviceAtItsWebhooks(t *testing.T) {
	h := start(t)
	a, b := newReceiver(t), newReceiver(t)
	wa := h.createWebhook(map[string]any{"url": a.URL, "events": []string{"battery.*"}})
	h.createWebhook(map[string]any{"url": b.URL, "events": []string{"battery.*"}})
	s := h.createSilence(map[string]any{"matcher": `event.device.id == "D-991"`, "webhook_ids": []string{wa.ID},
		"ends_at": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339), "reason": "firmware update in clinic"})
	if s.State != "active" {
		t.Fatalf("silence: %+v", s)
	}
	h.publish(batteryEvent("battery.low", "D-991", 1))
	h.publish(batteryEvent("battery.critical", "D-991", 2))
	h.publish(batteryEvent("battery.low", "D-7", 3))
	b.waitFor(t, 3, 10*time.Second)
	a.waitFor(t, 1, 10*time.Second)
	eventually(t, 10*time.Second, "three deliveries logged at A", func() bool { return len(h.log(wa.ID)) == 3 })
	time.Sleep(300 * time.Millisecond) // nothing more may arrive at A
	if got := a.requests(); len(got) != 1 || deviceOf(t, got[0].Body) != "D-7" {
		t.Fatalf("A received %d (want only D-7's)", len(got))
	}
	silenced := 0
	for _, d := range h.log(wa.ID) {
		switch d.Status {
		case "silenced":
			silenced++
			if d.SilenceID != s.ID || d.Attempts != 0 {
				t.Fatalf("silenced delivery: %+v", d)
			}
		case "succeeded":
		default:
			t.Fatalf("delivery at A: %+v", d)
		}
	}
	if silenced != 2 {
		t.Fatalf("%d silenced at A", silenced)
	}
	// "Silence similar" on one of them proposes its type and device at its webhook.
	var similar struct {
		Matcher    string   `json:"matcher"`
		WebhookIDs []string `json:"webhook_ids"`
		Subject    string   `json:"subject"`
	}
	var one string
	for _, d := range h.log(wa.ID) {
		if d.Status == "silenced" && d.EventType == "battery.low" {
			one = d.ID
		}
	}
	h.do("GET", "/v1/silences/similar?delivery_id="+one, viewerToken, nil).decode(t, &similar)
	if similar.Matcher != `type == "battery.low" && event.device.id == "D-991"` || similar.Subject != "device D-991" ||
		len(similar.WebhookIDs) != 1 || similar.WebhookIDs[0] != wa.ID {
		t.Fatalf("similar: %+v", similar)
	}
	if r := h.do("GET", "/v1/silences/similar?delivery_id=nope", viewerToken, nil); r.Status != http.StatusBadRequest {
		t.Fatalf("similar of a bad id: %d", r.Status)
	}
	if n := h.metric("taskhook_dispatch_silenced_total"); n != 2 {
		t.Fatalf("taskhook_dispatch_silenced_total = %v", n)
	}
	var stats struct{ Totals map[string]int64 }
	h.do("GET", "/v1/stats", viewerToken, nil).decode(t, &stats)
	if stats.Totals["deliveries_silenced"] != 2 {
		t.Fatalf("stats: %+v", stats.Totals)
	}
	var pre struct{ Matched, Scanned int }
	r := h.do("POST", "/v1/silences/preview", viewerToken, map[string]any{"matcher": `event.device.id == "D-991"`})
	r.decode(t, &pre)
	if r.Status != http.StatusOK || pre.Matched != 4 || pre.Scanned != 6 {
		t.Fatalf("preview: %d %s", r.Status, r.Body)
	}
	if r := h.do("POST", "/v1/silences/preview", viewerToken, map[string]any{"matcher": `event.device.id`}); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("preview of a bad matcher: %d", r.Status)
	}
	if r := h.do("DELETE", "/v1/silences/"+s.ID, adminToken, nil); r.Status != http.StatusOK {
		t.Fatalf("end: %d %s", r.Status, r.Body)
	}
	h.publish(batteryEvent("battery.low", "D-991", 4))
	got := a.waitFor(t, 2, 10*time.Second)
	if deviceOf(t, got[1].Body) != "D-991" {
		t.Fatalf("after the end A received %s", got[1].Body)
	}
}

// TestRepeatLimitLetsOnePerKeyThrough: a repeat limit keyed on the device lets one
// battery.low per device and period through, suppresses (records, never attempts) the rest,
// never holds back battery.critical, and the next one sent says how many were suppressed.
func TestRepeatLimitLetsOnePerKeyThrough(t *testing.T) {
	h := start(t)
	rcv := newReceiver(t)
	bad := []struct {
		limit   any
		pointer string
	}{
		{map[string]any{"key": "event.device.id =="}, "/repeat_limit/key"},
		{map[string]any{"key": "event.device.id == 'x'", "per": "1h"}, "/repeat_limit/key"},
		{map[string]any{"per": "1h"}, "/repeat_limit/key"},
		{map[string]any{"key": "event.device.id", "per": "soon"}, "/repeat_limit/per"},
		{map[string]any{"key": "event.device.id", "per": "100ms"}, "/repeat_limit/per"},
		{map[string]any{"key": "event.device.id", "per": "10000h"}, "/repeat_limit/per"},
		{map[string]any{"key": "event.device.id", "per": "1h", "burst": 2}, "/repeat_limit/burst"},
		{"daily", "/repeat_limit"},
	}
	for _, c := range bad {
		r := h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "x", "url": rcv.URL, "events": []string{"battery.*"}, "repeat_limit": c.limit})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), `"path":"`+c.pointer+`"`) {
			t.Fatalf("repeat_limit %v: %d %s", c.limit, r.Status, r.Body)
		}
	}
	wh := h.createWebhook(map[string]any{"url": rcv.URL, "events": []string{"battery.*"},
		"repeat_limit": map[string]any{"key": "event.device.id", "per": "3s"}})
	var view struct {
		RepeatLimit struct{ Key, Per string } `json:"repeat_limit"`
	}
	h.do("GET", "/v1/webhooks/"+wh.ID, viewerToken, nil).decode(t, &view)
	if view.RepeatLimit.Key != "event.device.id" || view.RepeatLimit.Per != "3s" {
		t.Fatalf("webhook view: %+v", view)
	}
	for i := range 4 {
		h.publish(batteryEvent("battery.low", "D-1", i))
	}
	h.publish(batteryEvent("battery.low", "D-2", 9))
	h.publish(batteryEvent("battery.critical", "D-1", 10))
	got := rcv.waitFor(t, 3, 10*time.Second)
	eventually(t, 10*time.Second, "six deliveries logged", func() bool { return len(h.log(wh.ID)) == 6 })
	time.Sleep(500 * time.Millisecond)
	if n := len(rcv.requests()); n != 3 {
		t.Fatalf("%d requests, want 3 (one battery.low per device, the critical one)", n)
	}
	seen := map[string]bool{}
	for _, g := range got {
		var env struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(g.Body, &env)
		seen[env.Type+" "+deviceOf(t, g.Body)] = true
		if strings.Contains(string(g.Body), "suppressed_since_last") {
			t.Fatalf("a first message says it suppressed some: %s", g.Body)
		}
	}
	if !seen["battery.low D-1"] || !seen["battery.low D-2"] || !seen["battery.critical D-1"] {
		t.Fatalf("received %v", seen)
	}
	suppressed := 0
	for _, d := range h.log(wh.ID) {
		if d.Status == "suppressed" {
			suppressed++
			if d.Attempts != 0 || d.EventType != "battery.low" {
				t.Fatalf("suppressed: %+v", d)
			}
		}
	}
	if suppressed != 3 || h.metric("taskhook_dispatch_suppressed_total") != 3 {
		t.Fatalf("%d suppressed in the log, metric %v", suppressed, h.metric("taskhook_dispatch_suppressed_total"))
	}
	// The period ends: the next battery.low of D-1 goes out and says three were held back.
	time.Sleep(3 * time.Second)
	h.publish(batteryEvent("battery.low", "D-1", 20))
	got = rcv.waitFor(t, 4, 10*time.Second)
	var env struct {
		SuppressedSinceLast int `json:"suppressed_since_last"`
	}
	_ = json.Unmarshal(got[3].Body, &env)
	if env.SuppressedSinceLast != 3 || deviceOf(t, got[3].Body) != "D-1" {
		t.Fatalf("next message: %s", got[3].Body)
	}
	if d := h.log(wh.ID)[0]; d.SuppressedSinceLast != 3 {
		t.Fatalf("log: %+v", d)
	}
	var stats struct{ Totals map[string]int64 }
	h.do("GET", "/v1/stats", viewerToken, nil).decode(t, &stats)
	if stats.Totals["deliveries_suppressed"] != 3 {
		t.Fatalf("stats: %+v", stats.Totals)
	}
	// Removing the limit: everything goes through again.
	if r := h.do("PATCH", "/v1/webhooks/"+wh.ID, adminToken, map[string]any{"repeat_limit": nil}); r.Status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	h.publish(batteryEvent("battery.low", "D-1", 21))
	h.publish(batteryEvent("battery.low", "D-1", 22))
	rcv.waitFor(t, 6, 10*time.Second)
}
