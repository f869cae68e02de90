package app

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
)

func TestDeliversSignedGenericPayload(t *testing.T) {
	h := start(t)
	rcv := newReceiver(t)
	wh := h.createWebhook(map[string]any{"url": rcv.URL + "/hook", "events": []string{"task.*"}, "auth": map[string]any{"type": "hmac"}})
	if !strings.HasPrefix(wh.Auth.Secret, "whsec_") {
		t.Fatalf("generated secret not returned once at creation: %+v", wh.Auth)
	}
	eventID := h.publish(seed(t))
	got := rcv.waitFor(t, 1, 10*time.Second)[0]
	id, ts := got.Header.Get("webhook-id"), got.Header.Get("webhook-timestamp")
	sec, _ := strconv.ParseInt(ts, 10, 64)
	if id == "" || sec == 0 || !credential.Verify(wh.Auth.Secret, got.Header.Get("webhook-signature"), id, time.Unix(sec, 0), got.Body) {
		t.Fatalf("signature does not verify: %v", got.Header)
	}
	if !strings.HasPrefix(got.Header.Get("User-Agent"), "Taskhook/") || got.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", got.Header)
	}
	var body struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(got.Body, &body); err != nil || body.Type != "task.created" || body.Timestamp.IsZero() {
		t.Fatalf("body %s (%v)", got.Body, err)
	}
	var data map[string]any
	_ = json.Unmarshal(body.Data, &data)
	if data["event_id"] != eventID || data["task_id"] != "12345" {
		t.Fatalf("data %s", body.Data)
	}
	d := h.waitDelivery(wh.ID, "succeeded", 5*time.Second)
	if d.ID != id || d.Attempts != 1 || d.LastCode == nil || *d.LastCode != 200 {
		t.Fatalf("delivery %+v, webhook-id %s", d, id)
	}
	// Nothing readable at rest: payloads and secrets are sealed.
	var plain int
	_ = h.db.Get(&plain, `SELECT count(*) FROM events WHERE position('John' in convert_from(payload, 'LATIN1')) > 0`)
	var secretRows int
	_ = h.db.Get(&secretRows, `SELECT count(*) FROM webhooks WHERE position($1 in convert_from(auth_sealed, 'LATIN1')) > 0 OR position('127.0.0.1' in convert_from(url_sealed, 'LATIN1')) > 0`, wh.Auth.Secret[6:20])
	if plain != 0 || secretRows != 0 {
		t.Fatalf("plaintext at rest: %d events, %d webhooks", plain, secretRows)
	}
	if h.metric("taskhook_dispatch_attempts_total", `provider="generic"`, `result="success"`) != 1 ||
		h.metric("taskhook_dispatch_deliveries_total", `outcome="succeeded"`) != 1 {
		t.Fatal("metrics do not count the delivery")
	}
}

func TestRetriesThenSucceedsWithTheSameWebhookID(t *testing.T) {
	h := start(t)
	rcv := newReceiver(t, answer{status: 500}, answer{status: 500}, answer{status: 200})
	wh := h.createWebhook(map[string]any{"url": rcv.URL})
	h.publish(taskEvent("e1", "due", ""))
	reqs := rcv.waitFor(t, 3, 10*time.Second)
	d := h.waitDelivery(wh.ID, "succeeded", 5*time.Second)
	for i, r := range reqs {
		if r.Header.Get("webhook-id") != d.ID {
			t.Fatalf("attempt %d webhook-id %s, want %s", i+1, r.Header.Get("webhook-id"), d.ID)
		}
	}
	if d.Attempts != 3 || len(rcv.requests()) != 3 {
		t.Fatalf("%+v after %d requests", d, len(rcv.requests()))
	}
	as := h.attempts(d.ID)
	if len(as) != 3 || *as[0].StatusCode != 500 || *as[2].StatusCode != 200 || as[0].Error != "HTTP 500" {
		t.Fatalf("attempts %+v", as)
	}
	if h.metric("taskhook_dispatch_retries_total") != 2 {
		t.Fatalf("retries metric %v", h.metric("taskhook_dispatch_retries_total"))
	}
}

func TestPermanent400IsOneAttempt(t *testing.T) {
	h := start(t)
	rcv := newReceiver(t, answer{status: 400, body: `{"error":"bad"}`})
	wh := h.createWebhook(map[string]any{"url": rcv.URL})
	h.publish(taskEvent("e1", "created", ""))
	d := h.waitDelivery(wh.ID, "failed", 10*time.Second)
	time.Sleep(500 * time.Millisecond) // would-be retries are 100-300 ms apart
	as := h.attempts(d.ID)
	if d.Attempts != 1 || len(rcv.requests()) != 1 || len(as) != 1 || len(as[0].Excerpt) == 0 || strings.Contains(string(as[0].Excerpt), "bad") {
		t.Fatalf("%+v %+v (%d requests); the excerpt must be stored sealed", d, as, len(rcv.requests()))
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	h := start(t)
	rcv := newReceiver(t, answer{status: 503})
	wh := h.createWebhook(map[string]any{"url": rcv.URL, "max_attempts": 3})
	h.publish(taskEvent("e1", "created", ""))
	d := h.waitDelivery(wh.ID, "failed", 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	if d.Attempts != 3 || len(rcv.requests()) != 3 || !strings.Contains(d.LastError, "gave up after 3 attempts") {
		t.Fatalf("%+v (%d requests)", d, len(rcv.requests()))
	}
}

func TestHonoursRetryAfter(t *testing.T) {
	h := start(t)
	rcv := newReceiver(t, answer{status: 429, header: map[string]string{"Retry-After": "1"}}, answer{status: 200})
	wh := h.createWebhook(map[string]any{"url": rcv.URL})
	h.publish(taskEvent("e1", "created", ""))
	reqs := rcv.waitFor(t, 2, 10*time.Second)
	h.waitDelivery(wh.ID, "succeeded", 5*time.Second)
	// The schedule's first delay is 100 ms: a second attempt after >= ~1 s proves Retry-After won.
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 900*time.Millisecond {
		t.Fatalf("second attempt %v after the 429, before its Retry-After of 1s", gap)
	}
}

func TestHungReceiverTimesOutAndRetries(t *testing.T) {
	h := start(t)
	rcv := newReceiver(t, answer{status: 200, delay: 3 * time.Second}, answer{status: 200})
	wh := h.createWebhook(map[string]any{"url": rcv.URL})
	h.publish(taskEvent("e1", "created", ""))
	d := h.waitDelivery(wh.ID, "succeeded", 10*time.Second)
	as := h.attempts(d.ID)
	if len(as) != 2 || as[0].StatusCode != nil || !strings.Contains(as[0].Error, "timeout") {
		t.Fatalf("attempts %+v", as)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	h := start(t)
	internal := newReceiver(t)
	rcv := newReceiver(t, answer{status: 302, header: map[string]string{"Location": internal.URL + "/admin"}})
	wh := h.createWebhook(map[string]any{"url": rcv.URL})
	h.publish(taskEvent("e1", "created", ""))
	d := h.waitDelivery(wh.ID, "failed", 10*time.Second)
	if len(internal.requests()) != 0 || d.Attempts != 1 || !strings.Contains(d.LastError, "redirect") {
		t.Fatalf("%+v; the redirect target got %d requests", d, len(internal.requests()))
	}
}

func TestSSRFGuard(t *testing.T) {
	h := start(t)
	h.dns.set("metadata.test", func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("169.254.169.254")} })
	h.dns.set("loop6.test", func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("::1")} })
	for _, u := range []string{"http://metadata.test/latest/meta-data", "http://loop6.test/", "http://[::1]:8080/", "http://169.254.169.254/", "http://10.0.0.1/", "ftp://example.com/"} {
		r := h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "x", "url": u})
		if r.Status != 422 || !strings.Contains(string(r.Body), `"/url"`) {
			t.Errorf("%s: %d %s", u, r.Status, r.Body)
		}
	}
	// DNS rebinding: public at creation, the metadata address at delivery.
	rcv := newReceiver(t)
	port := rcv.URL[strings.LastIndex(rcv.URL, ":")+1:]
	calls := 0
	h.dns.set("rebind.test", func() []netip.Addr {
		calls++
		if calls == 1 {
			return []netip.Addr{netip.MustParseAddr("93.184.216.34")}
		}
		return []netip.Addr{netip.MustParseAddr("169.254.169.254")}
	})
	wh := h.createWebhook(map[string]any{"url": "http://rebind.test:" + port + "/", "max_attempts": 1})
	h.publish(taskEvent("e1", "created", ""))
	d := h.waitDelivery(wh.ID, "failed", 10*time.Second)
	if !strings.Contains(d.LastError, "169.254.169.254") || len(rcv.requests()) != 0 {
		t.Fatalf("%+v", d)
	}
}

func TestGoneDeactivatesTheWebhook(t *testing.T) {
	h := start(t)
	rcv := newReceiver(t, answer{status: 410})
	wh := h.createWebhook(map[string]any{"url": rcv.URL})
	h.publish(taskEvent("e1", "created", ""))
	h.waitDelivery(wh.ID, "failed", 10*time.Second)
	var v webhookView
	h.do("GET", "/v1/webhooks/"+wh.ID, viewerToken, nil).decode(t, &v)
	if v.Active || !strings.Contains(v.DisabledReason, "410") || v.Health.State != "disabled" {
		t.Fatalf("%+v", v)
	}
	h.publish(taskEvent("e2", "created", ""))
	time.Sleep(500 * time.Millisecond)
	if n := len(rcv.requests()); n != 1 || len(h.deliveries(wh.ID)) != 1 {
		t.Fatalf("deactivated webhook still receives: %d requests", n)
	}
}

func TestFanOutWithEventsAndFilters(t *testing.T) {
	h := start(t)
	all, due, cardio := newReceiver(t), newReceiver(t), newReceiver(t)
	h.createWebhook(map[string]any{"url": all.URL, "events": []string{"task.*"}})
	h.createWebhook(map[string]any{"url": due.URL, "events": []string{"task.due", "task.overdue"}})
	h.createWebhook(map[string]any{"url": cardio.URL, "filter": `event.assignee.team.name == "Cardiology" && type != "task.updated"`})
	team := `,"assignee":{"staff":null,"team":{"id":"t1","name":"Cardiology"}}`
	h.publish(taskEvent("a", "created", team))
	h.publish(taskEvent("b", "due", ""))
	h.publish(taskEvent("c", "updated", team))
	h.publish(taskEvent("d", "overdue", team))
	all.waitFor(t, 4, 10*time.Second)
	due.waitFor(t, 2, 10*time.Second)
	cardio.waitFor(t, 2, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	ids := func(r *receiver) string {
		var out []string
		for _, q := range r.requests() {
			var b struct {
				Data struct {
					EventID string `json:"event_id"`
				}
			}
			_ = json.Unmarshal(q.Body, &b)
			out = append(out, b.Data.EventID)
		}
		return fmt.Sprint(out)
	}
	if len(all.requests()) != 4 || len(due.requests()) != 2 || len(cardio.requests()) != 2 {
		t.Fatalf("all %s, due %s, cardio %s", ids(all), ids(due), ids(cardio))
	}
	for _, q := range cardio.requests() {
		if !strings.Contains(string(q.Body), `"event_id":"a"`) && !strings.Contains(string(q.Body), `"event_id":"d"`) {
			t.Fatalf("filter let through %s", ids(cardio))
		}
	}
}

// TestRedeliveredEventCreatesNoSecondDelivery: the same event reaching the dispatcher twice
// (a second publish past the duplicate window, or a redelivery) is delivered once.
func TestRedeliveredEventCreatesNoSecondDelivery(t *testing.T) {
	h := start(t)
	rcv := newReceiver(t)
	wh := h.createWebhook(map[string]any{"url": rcv.URL})
	body := taskEvent("same", "created", "")
	h.publishRaw("task.created", []byte(body), "msg-1")
	rcv.waitFor(t, 1, 10*time.Second)
	h.waitDelivery(wh.ID, "succeeded", 5*time.Second)
	h.publishRaw("task.created", []byte(body), "msg-2") // another stream message, same event id
	eventually(t, 10*time.Second, "second message consumed", func() bool {
		return h.metric("taskhook_dispatch_events_total", `outcome="redelivered"`) == 1
	})
	if n := len(rcv.requests()); n != 1 || len(h.deliveries(wh.ID)) != 1 {
		t.Fatalf("%d requests, %d deliveries", n, len(h.deliveries(wh.ID)))
	}
}

func TestPoisonMessageIsTerminatedAndCounted(t *testing.T) {
	h := start(t)
	rcv := newReceiver(t)
	h.createWebhook(map[string]any{"url": rcv.URL})
	h.publishRaw("task.created", []byte("not json at all"), "poison-1")
	h.publish(taskEvent("after", "created", ""))
	rcv.waitFor(t, 1, 10*time.Second)
	eventually(t, 5*time.Second, "poison counted", func() bool {
		return h.metric("taskhook_dispatch_poison_messages_total", `reason="invalid_json"`) == 1
	})
	time.Sleep(time.Second)
	info := h.consumerInfo()
	if info.NumAckPending != 0 || info.NumRedelivered != 0 || info.NumPending != 0 {
		t.Fatalf("poison message not terminated: ack pending %d, redelivered %d, pending %d", info.NumAckPending, info.NumRedelivered, info.NumPending)
	}
	if h.metric("taskhook_dispatch_poison_messages_total") != 1 {
		t.Fatal("poison message processed more than once")
	}
}
