package slack

import (
	"context"
	"testing"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
)

// TestGolden renders every event type and task shape and compares with testdata/golden
// (go test -update rewrites them after a deliberate change; review the diff).
func TestGolden(t *testing.T) {
	for _, c := range notifytest.Cases() {
		req, err := New(notifytest.Catalog(t)).Render(context.Background(), &notify.Target{URL: "https://receiver.example.org/hook"}, notifytest.Message(c))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		notifytest.Golden(t, c.Name, req.Body)
	}
}
