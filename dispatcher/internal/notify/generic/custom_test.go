package generic

import (
	"context"
	"testing"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
)

// TestCustomGolden: a custom type's event goes out in the usual envelope.
func TestCustomGolden(t *testing.T) {
	for _, c := range notifytest.CustomCases() {
		req, err := New().Render(context.Background(), &notify.Target{URL: "https://receiver.example.org/hook"}, notifytest.Message(c))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		notifytest.Golden(t, c.Name, req.Body)
	}
}
