package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/taskhook/taskhook/client"
)

// A receiver verifies each delivery with the webhook's secret before it trusts the body, and
// drops a webhook-id it has already handled (retries and replays send the same id again).
func ExampleVerify() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // from the response that created the webhook
	var mu sync.Mutex
	seen := map[string]bool{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := client.Verify(secret, r.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		dup := seen[r.Header.Get("webhook-id")]
		seen[r.Header.Get("webhook-id")] = true
		mu.Unlock()
		if !dup {
			var msg struct {
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			}
			_ = json.Unmarshal(body, &msg)
			fmt.Println("handled", msg.Type)
		}
		w.WriteHeader(http.StatusNoContent)
	})

	// What Taskhook sends, signed here for the example.
	body := []byte(`{"type":"task.created","timestamp":"2024-01-10T09:00:00Z","data":{"task_id":"12345"}}`)
	now := time.Now()
	sig, _ := client.Sign(secret, "0198a7c0-delivery", now, body)
	for range 2 { // the same delivery twice: handled once
		req := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
		req.Header.Set("webhook-id", "0198a7c0-delivery")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		req.Header.Set("webhook-signature", sig)
		handler.ServeHTTP(httptest.NewRecorder(), req)
	}
	// Output: handled task.created
}

// A signature that does not match is an error (errors.Is tells which).
func ExampleVerify_mismatch() {
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	h.Set("webhook-signature", "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	err := client.Verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h, []byte(`{}`))
	fmt.Println(errors.Is(err, client.ErrNoMatchSignature))
	// Output: true
}

// Publish one event; the 202 comes once the event is durable. A 503 is retried with the same
// id; a 422 carries one detail per problem.
func ExamplePublisher_Publish() {
	ctx := context.Background()
	pub, err := client.NewPublisher("http://127.0.0.1:8080", os.Getenv("TASKHOOK_INGEST_TOKEN"))
	if err != nil {
		panic(err)
	}
	ack, err := pub.Publish(ctx, map[string]any{"task_id": "12345", "event": "created", "title": "Follow up"},
		client.IdempotencyKey("canvas-task-12345-created"))
	var apiErr *client.Error
	switch {
	case errors.As(err, &apiErr) && errors.Is(err, client.ErrInvalid):
		for _, d := range apiErr.Details {
			fmt.Println(d.Path, d.Message) // e.g. /title is required
		}
	case err != nil:
		fmt.Println("not stored:", err)
	default:
		fmt.Println(ack.ID, ack.Subject, ack.Duplicate)
	}
}

// Publish up to 1000 events in one request; each gets its own result.
func ExamplePublisher_PublishBatch() {
	ctx := context.Background()
	pub, _ := client.NewPublisher("http://127.0.0.1:8080", os.Getenv("TASKHOOK_INGEST_TOKEN"))
	results, err := pub.PublishBatch(ctx, []json.RawMessage{
		json.RawMessage(`{"task_id":"1","event":"due","title":"Call back"}`),
		json.RawMessage(`{"task_id":"2","event":"overdue"}`),
	}, client.IdempotencyKey("canvas-sync-2024-01-15"))
	if err != nil {
		panic(err)
	}
	for _, r := range results {
		if !r.OK() {
			fmt.Println(r.Index, r.Status, r.Error, r.Details)
		}
	}
}

// Find a failing webhook, see why, fix it and replay the window.
func ExampleAdmin() {
	ctx := context.Background()
	adm, _ := client.NewAdmin("http://127.0.0.1:8081", os.Getenv("TASKHOOK_TOKEN"))
	hooks, err := adm.ListWebhooks(ctx)
	if err != nil {
		panic(err)
	}
	for _, w := range hooks {
		if w.Health.State != "red" {
			continue
		}
		page, _ := adm.ListDeliveries(ctx, w.ID, client.DeliveryQuery{Status: "failed", Limit: 1})
		for _, d := range page.Deliveries {
			fmt.Println(w.Name, d.LastStatusCode, d.LastError)
		}
		_, _ = adm.UpdateWebhook(ctx, w.ID, client.WebhookInput{URL: client.Ptr("https://hooks.example.org/fixed")})
		sum, _ := adm.Replay(ctx, w.ID, client.ReplayRequest{Since: time.Now().Add(-6 * time.Hour)}, nil)
		fmt.Println("requeued", sum.Requeued)
	}
}
