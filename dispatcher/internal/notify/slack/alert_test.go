package slack

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
)

// An alert's message ends with an actions block holding an Acknowledge link button (Block Kit:
// a button with a url), and a fallback says "Backup for <name>:" first.
func TestAcknowledgeButton(t *testing.T) {
	const link = "https://taskhook.example.org/ack/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, c := range notifytest.Cases() {
		m := notifytest.Message(c)
		m.Alert = &notify.Alert{ID: "a1", AcknowledgeURL: link, Fallback: &notify.Fallback{FromName: "Ward 3 <Teams>", Reason: "gave_up"}}
		req, err := New(notifytest.Catalog(t)).Render(context.Background(), &notify.Target{URL: "https://hooks.slack.com/x"}, m)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		var msg Message
		if err := json.Unmarshal(req.Body, &msg); err != nil {
			t.Fatal(err)
		}
		last := msg.Blocks[len(msg.Blocks)-1]
		if last.Type != "actions" || len(last.Elements) != 1 {
			t.Fatalf("%s: last block %+v", c.Name, last)
		}
		b := last.Elements[0]
		if b.Type != "button" || b.Text == nil || b.Text.Type != "plain_text" || b.Text.Text != "Acknowledge" || b.URL != link || b.ActionID == "" {
			t.Errorf("%s: button %+v", c.Name, b)
		}
		if h := msg.Blocks[0].Text.Text; !strings.HasPrefix(h, "Backup for Ward 3 <Teams>: ") || len([]rune(h)) > MaxHeader {
			t.Errorf("%s: header %q", c.Name, h)
		}
		if !strings.HasPrefix(msg.Text, "Backup for Ward 3 &lt;Teams&gt;: ") || !strings.Contains(msg.Text, "Acknowledge: "+link) {
			t.Errorf("%s: text %q", c.Name, msg.Text)
		}
	}
}
