package generic

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/pkg/event"
)

// TestSuppressedSinceLast: the envelope carries suppressed_since_last only when some were.
func TestSuppressedSinceLast(t *testing.T) {
	raw := []byte(`{"type":"battery.low","device":{"id":"D-1"}}`)
	for _, n := range []int{0, 1, 41} {
		req, err := New().Render(context.Background(), &notify.Target{URL: "https://x.example/h"},
			&notify.Message{Type: "battery.low", Timestamp: time.Unix(0, 0), Event: event.NewLazy(raw), SuppressedSinceLast: n})
		if err != nil {
			t.Fatal(err)
		}
		var env map[string]json.RawMessage
		if err := json.Unmarshal(req.Body, &env); err != nil {
			t.Fatalf("not JSON: %s", req.Body)
		}
		got, ok := env["suppressed_since_last"]
		if (n == 0) == ok || (n > 0 && string(got) != json.Number(itoa(n)).String()) {
			t.Fatalf("n=%d: %s", n, req.Body)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
