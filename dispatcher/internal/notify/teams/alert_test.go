package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
)

// An alert's card carries an Action.OpenUrl titled Acknowledge with the link, and stays a
// valid Adaptive Card 1.4 (the vendored schema) for every event type and shape; an escalation
// says so first in its title.
func TestAcknowledgeAction(t *testing.T) {
	schema := cardSchema(t)
	const link = "https://taskhook.example.org/ack/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, c := range notifytest.Cases() {
		m := notifytest.Message(c)
		m.Alert = &notify.Alert{ID: "a1", AcknowledgeURL: link, AcknowledgeBy: time.Date(2024, 1, 10, 9, 15, 0, 0, time.UTC),
			Escalation: &notify.Escalation{Step: 1, Reason: "not_acknowledged", After: time.Minute, FromName: "Ward 3"}}
		req, err := New(notifytest.Catalog(t)).Render(context.Background(), &notify.Target{URL: "https://receiver.example.org/hook"}, m)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		var env Envelope
		var raw struct {
			Attachments []struct {
				Content json.RawMessage `json:"content"`
			} `json:"attachments"`
		}
		_ = json.Unmarshal(req.Body, &env)
		_ = json.Unmarshal(req.Body, &raw)
		doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw.Attachments[0].Content))
		if err := schema.Validate(doc); err != nil {
			t.Errorf("%s: not a valid Adaptive Card 1.4: %v", c.Name, err)
		}
		card := env.Attachments[0].Content
		first, _ := card.Actions[0].(map[string]any)
		if first["type"] != "Action.OpenUrl" || first["title"] != "Acknowledge" || first["url"] != link {
			t.Errorf("%s: first action %v", c.Name, card.Actions[0])
		}
		title, _ := card.Body[0].(map[string]any)
		if s, _ := title["text"].(string); !strings.HasPrefix(s, "Not acknowledged after 1 min: ") {
			t.Errorf("%s: title %q", c.Name, s)
		}
		if !strings.Contains(card.FallbackText, "Acknowledge: "+link) {
			t.Errorf("%s: fallback text without the link", c.Name)
		}
	}
	// Outside an alert: no Acknowledge action.
	req, _ := New(notifytest.Catalog(t)).Render(context.Background(), &notify.Target{URL: "https://r"}, notifytest.Message(notifytest.Cases()[0]))
	if bytes.Contains(req.Body, []byte("Acknowledge")) {
		t.Error("a message outside an alert has an Acknowledge action")
	}
}
