package generic

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
)

// TestDigestBody: the documented body, every event in it, times in the webhook's zone.
func TestDigestBody(t *testing.T) {
	raw := []byte(`{"event_id":"e1","task_id":"t1","event":"created","title":"Call back"}`)
	ny, _ := time.LoadLocation("America/New_York")
	req, err := New().Render(context.Background(), &notify.Target{URL: "https://example.org/hook", Location: ny},
		notifytest.Digest(t, "task.created", raw, 3, 0))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Type      string
		Timestamp string
		Window    struct{ Start, End string }
		Count     int
		Events    []struct {
			Type      string
			Timestamp string
			Data      json.RawMessage
		}
	}
	if err := json.Unmarshal(req.Body, &d); err != nil {
		t.Fatal(err)
	}
	if d.Type != "digest" || d.Count != 3 || len(d.Events) != 3 || string(d.Events[0].Data) != string(raw) {
		t.Fatalf("body %s", req.Body)
	}
	for _, ts := range []string{d.Timestamp, d.Window.Start, d.Window.End, d.Events[2].Timestamp} {
		if !strings.HasSuffix(ts, "-05:00") {
			t.Fatalf("time %q not in the webhook's zone: %s", ts, req.Body)
		}
	}
}
