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

// TestCustomGolden: a custom type becomes a valid Adaptive Card 1.4 coloured by its severity
// (warning: yellow), with its title, facts and an Action.OpenUrl to its link.
func TestCustomGolden(t *testing.T) {
	schema := cardSchema(t)
	p := New(notifytest.CustomCatalog(t))
	for _, c := range notifytest.CustomCases() {
		req, err := p.Render(context.Background(), &notify.Target{URL: "https://receiver.example.org/hook"}, notifytest.Message(c))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		var env Envelope
		if err := json.Unmarshal(req.Body, &env); err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(env.Attachments[0].Content)
		doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err := schema.Validate(doc); err != nil {
			t.Errorf("%s: not a valid Adaptive Card 1.4: %v", c.Name, err)
		}
		head, _ := env.Attachments[0].Content.Body[0].(map[string]any)
		if head["text"] != "Missed appointment" || head["color"] != "Warning" {
			t.Errorf("%s: header %v", c.Name, head)
		}
		notifytest.Golden(t, c.Name, req.Body)
	}
}
