package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
)

func TestPatchWebhook(t *testing.T) {
	h := start(t)
	rcv := newReceiver(t)
	wh := h.createWebhook(map[string]any{"url": rcv.URL, "auth": map[string]any{"type": "hmac"}})
	first := wh.Auth.Secret

	r := h.do("PATCH", "/v1/webhooks/"+wh.ID, adminToken, map[string]any{"name": "renamed", "events": []string{"task.due"}})
	var v struct {
		webhookView
		Name   string   `json:"name"`
		Events []string `json:"events"`
	}
	r.decode(t, &v)
	if r.Status != 200 || v.Name != "renamed" || len(v.Events) != 1 || v.Auth.Secret != "" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	// A patch that would make it invalid changes nothing.
	for body, path := range map[string]string{`{"url":"ftp://x.example/"}`: "/url", `{"events":[]}`: "/events",
		`{"filter":"event.x =="}`: "/filter", `{"auth":{"token":"t"}}`: "/auth/type", `{"max_attempts":0}`: "/max_attempts",
		`{"provider":"carrier-pigeon"}`: "/provider", `{"timezone":"Nowhere/Land"}`: "/timezone"} {
		r := h.do("PATCH", "/v1/webhooks/"+wh.ID, adminToken, []byte(body))
		if r.Status != 422 || !strings.Contains(string(r.Body), `"path":"`+path+`"`) {
			t.Errorf("%s: %d %s", body, r.Status, r.Body)
		}
	}
	h.do("GET", "/v1/webhooks/"+wh.ID, adminToken, nil).decode(t, &v)
	if v.Name != "renamed" {
		t.Fatal("an invalid patch changed the webhook")
	}

	// Rotation: a new secret is generated and returned once; both sign during the grace period.
	r = h.do("PATCH", "/v1/webhooks/"+wh.ID, adminToken, map[string]any{"auth": map[string]any{"type": "hmac"}, "events": []string{"task.*"}})
	r.decode(t, &v)
	second := v.Auth.Secret
	if r.Status != 200 || second == "" || second == first || !strings.Contains(v.Auth.Hint, "previous secret valid until") {
		t.Fatalf("rotation: %d %s", r.Status, r.Body)
	}
	h.publish(taskEvent("rot", "created", ""))
	got := rcv.waitFor(t, 1, 10*time.Second)[0]
	ts, _ := strconv.ParseInt(got.Header.Get("webhook-timestamp"), 10, 64)
	sig, id := got.Header.Get("webhook-signature"), got.Header.Get("webhook-id")
	if len(strings.Fields(sig)) != 2 || !credential.Verify(first, sig, id, time.Unix(ts, 0), got.Body) || !credential.Verify(second, sig, id, time.Unix(ts, 0), got.Body) {
		t.Fatalf("during the grace period both secrets must verify: %q", sig)
	}
	// Deactivate and re-activate.
	var off, on webhookView
	h.do("PATCH", "/v1/webhooks/"+wh.ID, adminToken, map[string]any{"active": false}).decode(t, &off)
	if off.Active || off.Health.State != "disabled" || !strings.Contains(off.DisabledReason, "deactivated by tok_") {
		t.Fatalf("deactivate: %+v", off)
	}
	r = h.do("PATCH", "/v1/webhooks/"+wh.ID, adminToken, map[string]any{"active": true})
	r.decode(t, &on)
	if !on.Active || on.DisabledReason != "" || on.Auth.Secret != "" || strings.Contains(string(r.Body), "disabled_at") {
		t.Fatalf("re-activate: %s", r.Body)
	}
	if r := h.do("PATCH", "/v1/webhooks/"+wh.ID, viewerToken, map[string]any{"name": "x"}); r.Status != 403 {
		t.Fatalf("viewer patch: %d", r.Status)
	}
	if r := h.do("PATCH", "/v1/webhooks/0195f0e8-0000-7000-8000-000000000000", adminToken, map[string]any{"name": "x"}); r.Status != 404 {
		t.Fatalf("unknown: %d", r.Status)
	}
}

func TestTestBeforeSave(t *testing.T) {
	h := start(t)
	ok := newReceiver(t, answer{status: 200, body: `{"received":true}`})
	bad := newReceiver(t, answer{status: 500, body: "boom"})
	var res struct {
		OK              bool   `json:"ok"`
		StatusCode      *int   `json:"status_code"`
		DurationMS      int64  `json:"duration_ms"`
		ResponseExcerpt string `json:"response_excerpt"`
		Error           string `json:"error"`
	}
	r := h.do("POST", "/v1/webhooks/test?event=task.due", adminToken, map[string]any{"name": "try", "url": ok.URL, "auth": map[string]any{"type": "hmac"}})
	r.decode(t, &res)
	if r.Status != 200 || !res.OK || res.StatusCode == nil || *res.StatusCode != 200 || res.ResponseExcerpt != `{"received":true}` || res.Error != "" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	sent := ok.requests()[0]
	if !strings.Contains(string(sent.Body), `"type":"task.due"`) || sent.Header.Get("webhook-signature") == "" || sent.Header.Get("webhook-id") == "" {
		t.Fatalf("test request %v %s", sent.Header, sent.Body)
	}
	if r := h.do("POST", "/v1/webhooks/test", adminToken, map[string]any{"name": "try", "url": "ftp://x.example/"}); r.Status != 422 {
		t.Fatalf("invalid unsaved body: %d", r.Status)
	}
	h.dns.set("metadata.test", func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("169.254.169.254")} })
	if r := h.do("POST", "/v1/webhooks/test", adminToken, map[string]any{"name": "try", "url": "http://metadata.test/"}); r.Status != 422 {
		t.Fatalf("metadata address: %d", r.Status)
	}
	wh := h.createWebhook(map[string]any{"url": bad.URL})
	r = h.do("POST", "/v1/webhooks/"+wh.ID+"/test", adminToken, nil)
	r.decode(t, &res)
	if r.Status != 200 || res.OK || *res.StatusCode != 500 || res.Error != "HTTP 500" || res.ResponseExcerpt != "boom" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	time.Sleep(300 * time.Millisecond)
	if len(h.deliveries(wh.ID)) != 0 || len(bad.requests()) != 1 {
		t.Fatalf("a test was recorded or retried: %d deliveries, %d requests", len(h.deliveries(wh.ID)), len(bad.requests()))
	}
	if r := h.do("POST", "/v1/webhooks/"+wh.ID+"/test", viewerToken, nil); r.Status != 403 {
		t.Fatalf("viewer test: %d", r.Status)
	}
}

type deliveryPage struct {
	Deliveries []struct {
		ID, EventID, Status string
		Attempts            int
		CreatedAt           time.Time `json:"created_at"`
	}
	NextCursor *string `json:"next_cursor"`
}

func TestDeliveryLogRetryAndReplay(t *testing.T) {
	h := start(t, "TASKHOOK_RED_AFTER=3")
	rcv := newReceiver(t, answer{status: 400})
	wh := h.createWebhook(map[string]any{"url": rcv.URL})
	for i := 0; i < 7; i++ {
		h.publish(taskEvent(fmt.Sprintf("log-%d", i), "created", ""))
	}
	eventually(t, 10*time.Second, "7 failed deliveries", func() bool {
		n := 0
		for _, d := range h.deliveries(wh.ID) {
			if d.Status == "failed" {
				n++
			}
		}
		return n == 7
	})
	// Pages of 3, newest first, no overlap, then the end.
	seen := map[string]bool{}
	path := "/v1/webhooks/" + wh.ID + "/deliveries?limit=3"
	var last time.Time
	for pages := 0; ; pages++ {
		var p deliveryPage
		r := h.do("GET", path, viewerToken, nil)
		r.decode(t, &p)
		if r.Status != 200 || pages > 3 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		for _, d := range p.Deliveries {
			if seen[d.ID] || (!last.IsZero() && d.CreatedAt.After(last)) {
				t.Fatalf("page %d: overlap or order broken at %s", pages, d.ID)
			}
			seen[d.ID], last = true, d.CreatedAt
		}
		if p.NextCursor == nil {
			break
		}
		path = "/v1/webhooks/" + wh.ID + "/deliveries?limit=3&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	if len(seen) != 7 {
		t.Fatalf("listed %d of 7", len(seen))
	}
	var p deliveryPage
	h.do("GET", "/v1/webhooks/"+wh.ID+"/deliveries?status=succeeded", viewerToken, nil).decode(t, &p)
	if len(p.Deliveries) != 0 {
		t.Fatal("status filter")
	}
	h.do("GET", "/v1/webhooks/"+wh.ID+"/deliveries?since="+url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), viewerToken, nil).decode(t, &p)
	if len(p.Deliveries) != 0 {
		t.Fatal("since filter")
	}
	for q, want := range map[string]int{"?limit=0": 400, "?limit=501": 400, "?limit=x": 400, "?cursor=bm9wZQ": 400, "?cursor=%25%25": 400,
		"?status=lost": 400, "?since=yesterday": 400} {
		if r := h.do("GET", "/v1/webhooks/"+wh.ID+"/deliveries"+q, viewerToken, nil); r.Status != want {
			t.Errorf("%s: %d %s", q, r.Status, r.Body)
		}
	}
	for path, want := range map[string]int{"/v1/webhooks/nope/deliveries": 400, "/v1/webhooks/0195f0e8-0000-7000-8000-000000000000/deliveries": 404,
		"/v1/deliveries/nope": 400, "/v1/deliveries/0195f0e8-0000-7000-8000-000000000000": 404} {
		if r := h.do("GET", path, viewerToken, nil); r.Status != want {
			t.Errorf("%s: %d", path, r.Status)
		}
	}
	// Health: red after 3 consecutive failures.
	var v webhookView
	h.do("GET", "/v1/webhooks/"+wh.ID, viewerToken, nil).decode(t, &v)
	if v.Health.State != "red" || v.Health.ConsecutiveFailures != 7 || v.Health.SuccessRate24h == nil || *v.Health.SuccessRate24h != 0 {
		t.Fatalf("health %+v", v.Health)
	}

	// Retry one by hand: the receiver is fixed now.
	rcv.mu.Lock()
	rcv.reqs = nil
	rcv.mu.Unlock()
	fixed := newReceiver(t)
	h.do("PATCH", "/v1/webhooks/"+wh.ID, adminToken, map[string]any{"url": fixed.URL})
	var one struct {
		ID         string
		Status     string
		Attempts   int
		AttemptLog []struct {
			N          int
			StatusCode *int `json:"status_code"`
		} `json:"attempt_log"`
	}
	target := h.deliveries(wh.ID)[0]
	r := h.do("POST", "/v1/deliveries/"+target.ID+"/retry", adminToken, nil)
	r.decode(t, &one)
	if r.Status != 200 || one.Status != "succeeded" || one.Attempts != 2 || len(one.AttemptLog) != 2 || *one.AttemptLog[0].StatusCode != 400 || *one.AttemptLog[1].StatusCode != 200 {
		t.Fatalf("retry: %d %s", r.Status, r.Body)
	}
	if got := fixed.requests(); len(got) != 1 || got[0].Header.Get("webhook-id") != target.ID {
		t.Fatalf("retry did not reuse the webhook-id")
	}
	if r := h.do("POST", "/v1/deliveries/"+target.ID+"/retry", viewerToken, nil); r.Status != 403 {
		t.Fatalf("viewer retry: %d", r.Status)
	}
	if r := h.do("POST", "/v1/deliveries/0195f0e8-0000-7000-8000-000000000000/retry", adminToken, nil); r.Status != 404 {
		t.Fatalf("unknown retry: %d", r.Status)
	}

	// Events that arrive while the webhook is inactive are delivered only on replay.
	h.do("PATCH", "/v1/webhooks/"+wh.ID, adminToken, map[string]any{"active": false})
	since := time.Now().Add(-time.Minute)
	h.publish(taskEvent("while-off-1", "due", ""))
	h.publish(taskEvent("while-off-2", "due", ""))
	time.Sleep(500 * time.Millisecond)
	if n := len(h.deliveries(wh.ID)); n != 7 {
		t.Fatalf("%d deliveries while inactive", n)
	}
	if r := h.do("POST", "/v1/webhooks/"+wh.ID+"/replay", adminToken, map[string]any{"since": since}); r.Status != 409 {
		t.Fatalf("replay while inactive: %d %s", r.Status, r.Body)
	}
	h.do("PATCH", "/v1/webhooks/"+wh.ID, adminToken, map[string]any{"active": true})
	for body, want := range map[string]int{`{"since":"2030-01-01T00:00:00Z"}`: 422, `{}`: 422,
		`{"since":"2024-01-02T00:00:00Z","until":"2024-01-01T00:00:00Z"}`: 422, `{"since":"2024-01-01T00:00:00Z","status":"lost"}`: 422,
		`{"since":"soon"}`: 422} {
		if r := h.do("POST", "/v1/webhooks/"+wh.ID+"/replay", adminToken, []byte(body)); r.Status != want {
			t.Errorf("replay %s: %d %s", body, r.Status, r.Body)
		}
	}
	var res struct{ Requeued, Created int }
	r = h.do("POST", "/v1/webhooks/"+wh.ID+"/replay", adminToken, map[string]any{"since": since})
	r.decode(t, &res)
	if r.Status != 202 || res.Requeued != 6 || res.Created != 2 {
		t.Fatalf("replay: %d %s", r.Status, r.Body)
	}
	eventually(t, 10*time.Second, "replayed deliveries succeed", func() bool {
		ds := h.deliveries(wh.ID)
		ok := len(ds) == 9
		for _, d := range ds {
			ok = ok && d.Status == "succeeded"
		}
		return ok
	})
	h.do("GET", "/v1/webhooks/"+wh.ID, viewerToken, nil).decode(t, &v)
	if v.Health.State != "yellow" || v.Health.ConsecutiveFailures != 0 {
		t.Fatalf("health after repair %+v", v.Health)
	}

	// Stats and audit.
	var st struct {
		Totals     map[string]int64 `json:"totals"`
		ByProvider []struct {
			Provider            string
			DeliveriesSucceeded int64 `json:"deliveries_succeeded"`
		} `json:"by_provider"`
		RetryBacklog int64 `json:"retry_backlog"`
	}
	r = h.do("GET", "/v1/stats?window=24h", viewerToken, nil)
	r.decode(t, &st)
	if r.Status != 200 || st.Totals["deliveries_succeeded"] != 9 || st.Totals["deliveries_failed"] != 7 || len(st.ByProvider) != 1 || st.ByProvider[0].Provider != "generic" {
		t.Fatalf("stats %d %s", r.Status, r.Body)
	}
	if r := h.do("GET", "/v1/stats?window=1s", viewerToken, nil); r.Status != 400 {
		t.Fatalf("bad window: %d", r.Status)
	}
	var audit struct {
		Entries []struct {
			Action, Actor string
			Details       json.RawMessage
		}
		NextCursor *string `json:"next_cursor"`
	}
	r = h.do("GET", "/v1/audit?webhook_id="+wh.ID+"&limit=100", viewerToken, nil)
	r.decode(t, &audit)
	actions := map[string]int{}
	for _, e := range audit.Entries {
		actions[e.Action]++
		if !strings.HasPrefix(e.Actor, "tok_") {
			t.Errorf("actor %q is not a fingerprint", e.Actor)
		}
	}
	if actions["webhook.create"] != 1 || actions["webhook.update"] != 3 || actions["delivery.retry"] != 1 || actions["webhook.replay"] != 1 {
		t.Fatalf("audit actions %v", actions)
	}
	h.do("GET", "/v1/audit?limit=2", viewerToken, nil).decode(t, &audit)
	if len(audit.Entries) != 2 || audit.NextCursor == nil {
		t.Fatalf("audit page %+v", audit)
	}
	for q, want := range map[string]int{"?cursor=x": 400, "?limit=0": 400, "?webhook_id=nope": 400} {
		if r := h.do("GET", "/v1/audit"+q, viewerToken, nil); r.Status != want {
			t.Errorf("audit %s: %d", q, r.Status)
		}
	}
}

// TestViewerCannotWriteAndSecretsNeverLeak: every write route refuses a viewer; no response,
// list or audit record carries a secret after the one response that created it.
func TestViewerCannotWriteAndSecretsNeverLeak(t *testing.T) {
	h := start(t)
	rcv := newReceiver(t)
	wh := h.createWebhook(map[string]any{"url": rcv.URL, "auth": map[string]any{"type": "bearer", "token": "bearer-secret-0123456789"}})
	hm := h.createWebhook(map[string]any{"url": rcv.URL, "auth": map[string]any{"type": "hmac", "secret": "whsec_" + strings.Repeat("QUFB", 8)}})
	h.do("PATCH", "/v1/webhooks/"+wh.ID, adminToken, map[string]any{"auth": map[string]any{"type": "bearer", "token": "bearer-secret-rotated-999"}})
	h.do("PATCH", "/v1/webhooks/"+hm.ID, adminToken, map[string]any{"auth": map[string]any{"type": "hmac", "secret": "whsec_" + strings.Repeat("QkJC", 8)}})
	h.publish(taskEvent("s1", "created", ""))
	rcv.waitFor(t, 2, 10*time.Second)
	did := h.waitDelivery(wh.ID, "succeeded", 10*time.Second).ID
	writes := []struct{ method, path string }{
		{"POST", "/v1/webhooks"}, {"PATCH", "/v1/webhooks/" + wh.ID}, {"DELETE", "/v1/webhooks/" + wh.ID},
		{"POST", "/v1/webhooks/test"}, {"POST", "/v1/webhooks/" + wh.ID + "/test"}, {"POST", "/v1/webhooks/" + wh.ID + "/replay"},
		{"POST", "/v1/deliveries/" + did + "/retry"},
	}
	for _, w := range writes {
		if r := h.do(w.method, w.path, viewerToken, map[string]any{}); r.Status != http.StatusForbidden {
			t.Errorf("viewer %s %s: %d", w.method, w.path, r.Status)
		}
	}
	reads := []string{"/v1/webhooks", "/v1/webhooks/" + wh.ID, "/v1/webhooks/" + hm.ID, "/v1/webhooks/" + wh.ID + "/deliveries",
		"/v1/deliveries/" + did, "/v1/deliveries/" + did + "/attempts", "/v1/stats", "/v1/audit?limit=500"}
	for _, p := range reads {
		for _, tok := range []string{adminToken, viewerToken} {
			r := h.do("GET", p, tok, nil)
			if r.Status != 200 {
				t.Errorf("%s: %d", p, r.Status)
			}
			for _, secret := range []string{"bearer-secret", "QUFBQUFB", "QkJCQkJC", adminToken, viewerToken} {
				if strings.Contains(string(r.Body), secret) {
					t.Errorf("%s carries a secret (%s): %s", p, secret, r.Body)
				}
			}
		}
	}
	for _, tok := range []string{"", "wrong"} {
		if r := h.do("GET", "/v1/webhooks", tok, nil); r.Status != 401 {
			t.Errorf("token %q: %d", tok, r.Status)
		}
	}
}
