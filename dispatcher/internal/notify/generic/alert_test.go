package generic

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
)

// The generic envelope gains "alert" (and "escalation" or "fallback") members; the event under
// "data" is unchanged.
func TestAlertMembers(t *testing.T) {
	c := notifytest.Cases()[0]
	plain, _ := New().Render(context.Background(), &notify.Target{URL: "https://r"}, notifytest.Message(c))
	m := notifytest.Message(c)
	m.Alert = &notify.Alert{ID: "a1", AcknowledgeURL: "https://th/ack/x", AcknowledgeBy: time.Date(2024, 1, 10, 9, 15, 0, 0, time.UTC),
		Escalation: &notify.Escalation{Step: 2, Reason: "delivery_failed", FromWebhookID: "w1"}}
	req, err := New().Render(context.Background(), &notify.Target{URL: "https://r"}, m)
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]json.RawMessage
	if err := json.Unmarshal(req.Body, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, req.Body)
	}
	_ = json.Unmarshal(plain.Body, &want)
	if string(got["data"]) != string(want["data"]) || string(got["type"]) != string(want["type"]) {
		t.Error("data or type changed")
	}
	if string(got["alert"]) != `{"id":"a1","acknowledge_url":"https://th/ack/x","acknowledge_by":"2024-01-10T09:15:00Z"}` {
		t.Errorf("alert %s", got["alert"])
	}
	if string(got["escalation"]) != `{"alert_id":"a1","step":2,"reason":"delivery_failed","from_webhook_id":"w1"}` {
		t.Errorf("escalation %s", got["escalation"])
	}
	m.Alert = &notify.Alert{Fallback: &notify.Fallback{FromWebhookID: "w1", Reason: "paused"}}
	req, _ = New().Render(context.Background(), &notify.Target{URL: "https://r"}, m)
	got = nil
	_ = json.Unmarshal(req.Body, &got)
	if string(got["fallback"]) != `{"from_webhook_id":"w1","reason":"paused"}` || got["alert"] != nil {
		t.Errorf("fallback envelope %s", req.Body)
	}
}
