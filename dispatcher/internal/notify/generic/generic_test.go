package generic

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/pkg/event"
)

func TestRenderEnvelope(t *testing.T) {
	raw, err := os.ReadFile("../../../../examples/seed-task-created.json")
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	ts := time.Date(2024, 1, 10, 9, 0, 0, 0, time.UTC)
	req, err := New().Render(context.Background(), &notify.Target{URL: "https://example.com/hook", Location: ny},
		&notify.Message{Type: "task.created", Timestamp: ts, Event: event.NewLazy(raw)})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(req.Body, &body); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, req.Body)
	}
	if body.Type != "task.created" || !body.Timestamp.Equal(ts) || compact(body.Data) != compact(raw) {
		t.Fatalf("%s", req.Body)
	}
	if req.ContentType != "application/json" || req.URL != "https://example.com/hook" {
		t.Fatalf("%+v", req)
	}
	if err := New().CheckOptions(json.RawMessage(`{"x":1}`)); err == nil {
		t.Fatal("options accepted")
	}
}

func compact(b []byte) string {
	var out bytes.Buffer
	_ = json.Compact(&out, b)
	return out.String()
}
