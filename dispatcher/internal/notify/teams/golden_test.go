package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
)

// TestGolden renders every event type and task shape and compares with testdata/golden
// (go test -update rewrites them after a deliberate change; review the diff).
func TestGolden(t *testing.T) {
	schema := cardSchema(t)
	for _, c := range notifytest.Cases() {
		req, err := New(notifytest.Catalog(t)).Render(context.Background(), &notify.Target{URL: "https://receiver.example.org/hook"}, notifytest.Message(c))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		var env struct {
			Attachments []struct {
				Content json.RawMessage `json:"content"`
			} `json:"attachments"`
		}
		_ = json.Unmarshal(req.Body, &env)
		doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(env.Attachments[0].Content))
		if err := schema.Validate(doc); err != nil {
			t.Errorf("%s: not a valid Adaptive Card 1.4: %v", c.Name, err)
		}
		notifytest.Golden(t, c.Name, req.Body)
	}
}
