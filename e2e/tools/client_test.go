package tools

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/client"
)

// TestClient drives the Go client against the real binaries: the admin API end to end, typed
// errors with their details, publishing one event and a batch, a 4xx never retried, a 503
// (NATS down) retried with the same id until it is stored, and Verify on every delivery.
func TestClient(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	adm := s.admin(t)
	rcv := newReceiver(t)
	start := time.Now()

	// A 422 carries one detail per problem, with its JSON pointer.
	_, err := adm.CreateWebhook(ctx, client.WebhookInput{Name: client.Ptr("bad"), URL: client.Ptr("ftp://example.org/x"), Events: []string{"task.nope"}})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || !errors.Is(err, client.ErrInvalid) || apiErr.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("create with a bad URL: %v", err)
	}
	paths := map[string]bool{}
	for _, d := range apiErr.Details {
		paths[d.Path] = true
	}
	if !paths["/url"] || !paths["/events/0"] {
		t.Fatalf("details %+v: want /url and /events/0", apiErr.Details)
	}

	w, err := adm.CreateWebhook(ctx, client.WebhookInput{Name: client.Ptr("Care team desk"), URL: client.Ptr(rcv.srv.URL + "/hook"),
		Events: []string{"task.*"}, Auth: &client.Auth{Type: "hmac"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w.Auth.Secret, client.SecretPrefix) || w.Health.State != "green" || !w.Active {
		t.Fatalf("created webhook %+v", w)
	}
	rcv.setSecret(w.Auth.Secret)
	if got, err := adm.GetWebhook(ctx, w.ID); err != nil || got.Name != "Care team desk" || got.Auth.Secret != "" {
		t.Fatalf("get: %+v, %v (the secret is shown once only)", got, err)
	}
	if ws, err := adm.ListWebhooks(ctx); err != nil || len(ws) != 1 || ws[0].ID != w.ID {
		t.Fatalf("list: %+v, %v", ws, err)
	}
	if _, err := adm.GetWebhook(ctx, "0198a7c0-0000-7000-8000-000000000000"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get unknown: %v, want ErrNotFound", err)
	}
	viewer, _ := client.NewAdmin(s.adminURL, viewerToken)
	if _, err := viewer.PauseWebhook(ctx, w.ID); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("pause as a viewer: %v, want ErrForbidden", err)
	}

	// The test send goes through the real path and verifies.
	tr, err := adm.TestWebhook(ctx, w.ID, "task.overdue")
	if err != nil || !tr.OK || tr.EventType != "task.overdue" {
		t.Fatalf("test: %+v, %v", tr, err)
	}

	pub := s.publisher(t)
	a1, err := pub.Publish(ctx, json.RawMessage(taskEvent("ev-1", "Call back")))
	if err != nil || a1.ID != "ev-1" || a1.Subject != "task.created" || a1.Duplicate {
		t.Fatalf("publish: %+v, %v", a1, err)
	}
	if a, err := pub.Publish(ctx, json.RawMessage(taskEvent("ev-1", "Call back"))); err != nil || !a.Duplicate {
		t.Fatalf("publish again: %+v, %v (want a duplicate)", a, err)
	}
	a2, err := pub.Publish(ctx, map[string]any{"task_id": "T-2", "event": "created", "title": "Refill"}, client.IdempotencyKey("key-2"))
	if err != nil || a2.ID != "key-2" {
		t.Fatalf("publish with a key: %+v, %v", a2, err)
	}

	// A 4xx is returned at once, never retried: one invalid event counted by ingest.
	_, err = pub.Publish(ctx, json.RawMessage(`{"task_id":"T-3","event":"created"}`))
	if !errors.As(err, &apiErr) || !errors.Is(err, client.ErrInvalid) || len(apiErr.Details) != 1 || apiErr.Details[0].Path != "/title" {
		t.Fatalf("publish without title: %v", err)
	}
	if n := metric(t, s.ingestURL, "taskhook_ingest_events_total", `outcome="invalid"`); n != 1 {
		t.Fatalf("ingest counted %v invalid events, want 1 (a 4xx is not retried)", n)
	}
	bad, _ := client.NewPublisher(s.ingestURL, "wrong-token")
	if _, err := bad.Publish(ctx, json.RawMessage(taskEvent("ev-x", "x"))); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("publish with a wrong token: %v", err)
	}

	// A batch: each item its own result; the refused one carries its details.
	rs, err := pub.PublishBatch(ctx, []json.RawMessage{
		json.RawMessage(`{"task_id":"B-1","event":"due","title":"Call back"}`),
		json.RawMessage(`{"task_id":"B-2","event":"overdue"}`),
		json.RawMessage(`{"type":"battery.critical","device":{"id":"D-991"},"battery":{"percent":4,"status":"ERI"}}`),
	}, client.IdempotencyKey("sync-1"))
	if err != nil || len(rs) != 3 {
		t.Fatalf("batch: %+v, %v", rs, err)
	}
	if !rs[0].OK() || rs[0].ID != "sync-1.0" || rs[1].Status != 422 || rs[1].Details[0].Path != "/title" || !rs[2].OK() {
		t.Fatalf("batch results %+v", rs)
	}

	// NATS down: ingest answers 503 with Retry-After; the client retries with the same id
	// and the event is stored once NATS is back.
	s.nats.Shutdown()
	back := make(chan struct{})
	go func() {
		defer close(back)
		time.Sleep(1500 * time.Millisecond)
		s.nats.Start()
	}()
	a3, err := pub.Publish(ctx, json.RawMessage(`{"task_id":"T-503","event":"created","title":"Stored after a 503"}`), client.IdempotencyKey("key-503"))
	<-back
	if err != nil || a3.ID != "key-503" || a3.Duplicate {
		t.Fatalf("publish through a NATS restart: %+v, %v", a3, err)
	}
	if n := metric(t, s.ingestURL, "taskhook_ingest_events_total", `outcome="unavailable"`); n < 1 {
		t.Fatalf("ingest answered no 503 (%v): the retry was not exercised", n)
	}
	if err := s.dispatcher.WaitHTTP(s.adminURL+"/readyz", 30*time.Second); err != nil {
		t.Fatal(err)
	}

	// task.created ev-1, key-2, key-503 and task.due sync-1.0: four deliveries, all verified.
	waitFor(t, 20*time.Second, "four succeeded deliveries", func() bool {
		p, err := adm.ListDeliveries(ctx, w.ID, client.DeliveryQuery{Status: "succeeded"})
		return err == nil && len(p.Deliveries) == 4
	})
	for _, d := range rcv.deliveries() {
		if d.Verified != nil {
			t.Fatalf("delivery %s did not verify: %v", d.ID, d.Verified)
		}
	}
	page, err := adm.ListDeliveries(ctx, w.ID, client.DeliveryQuery{Limit: 2})
	if err != nil || len(page.Deliveries) != 2 || page.NextCursor == nil {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	page2, err := adm.ListDeliveries(ctx, w.ID, client.DeliveryQuery{Limit: 2, Cursor: *page.NextCursor})
	if err != nil || len(page2.Deliveries) != 2 || page2.Deliveries[0].ID == page.Deliveries[0].ID {
		t.Fatalf("second page: %+v, %v", page2, err)
	}
	d, err := adm.GetDelivery(ctx, page.Deliveries[0].ID)
	if err != nil || len(d.AttemptLog) != 1 || d.AttemptLog[0].StatusCode == nil || *d.AttemptLog[0].StatusCode != 204 {
		t.Fatalf("get delivery: %+v, %v", d, err)
	}
	rd, err := adm.RetryDelivery(ctx, d.ID)
	if err != nil || rd.Status != "succeeded" || rd.Attempts != 2 || len(rd.AttemptLog) != 2 {
		t.Fatalf("retry: %+v, %v", rd, err)
	}
	sameID := 0
	for _, g := range rcv.deliveries() {
		if g.ID == d.ID {
			sameID++
		}
	}
	if sameID != 2 {
		t.Fatalf("the receiver got delivery %s %d times, want 2 with the same webhook-id", d.ID, sameID)
	}

	// Paused: an event is not delivered; resumed and replayed: it is.
	if p, err := adm.PauseWebhook(ctx, w.ID); err != nil || p.Active {
		t.Fatalf("pause: %+v, %v", p, err)
	}
	if _, err := pub.Publish(ctx, json.RawMessage(taskEvent("ev-paused", "While paused"))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if p, err := adm.ResumeWebhook(ctx, w.ID); err != nil || !p.Active {
		t.Fatalf("resume: %+v, %v", p, err)
	}
	sum, err := adm.Replay(ctx, w.ID, client.ReplayRequest{Since: start.Add(-time.Minute)}, nil)
	if err != nil || sum.Created != 1 {
		t.Fatalf("replay: %+v, %v (want the paused event created)", sum, err)
	}
	waitFor(t, 20*time.Second, "the paused event delivered after the replay", func() bool {
		p, err := adm.ListDeliveries(ctx, w.ID, client.DeliveryQuery{Status: "succeeded"})
		return err == nil && len(p.Deliveries) == 5
	})
	if _, err := adm.ReplayOnce(ctx, w.ID, client.ReplayRequest{Since: time.Now().Add(time.Hour)}); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("replay of a future window: %v, want ErrInvalid", err)
	}

	st, err := adm.Stats(ctx, 0)
	if err != nil || st.Totals["deliveries_succeeded"] < 5 || st.Window != "24h0m0s" {
		t.Fatalf("stats: %+v, %v", st, err)
	}
	if err := adm.DeleteWebhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.GetWebhook(ctx, w.ID); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}
