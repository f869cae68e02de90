// Package chat is what the chat providers (Slack, Teams) share: an event turned into its
// family's summary (a title, a severity, facts, a link), in the webhook's time zone, with the
// patient shown by id only for channels that must not carry patient data.
package chat

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/pkg/event"
)

// Families are the event families a chat provider renders: every family with a summary.
func Families(cat *event.Catalog) []string {
	var out []string
	for _, f := range cat.Families() {
		if f.Summarize != nil {
			out = append(out, f.Name)
		}
	}
	return out
}

// Truncate shortens s to at most n runes, ending with "…" when it cut.
func Truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	return string(r[:n-1]) + "…"
}

// Render is a chat provider's Render: the event's summary, shaped by format into the
// provider's JSON body, posted to the webhook URL.
func Render(_ context.Context, cat *event.Catalog, t *notify.Target, m *notify.Message, format func(event.Summary) any) (*notify.Request, error) {
	s, err := summarize(cat, t, m)
	if err != nil {
		return nil, err
	}
	s.Title = m.Alert.HeaderPrefix() + s.Title // an escalation or a fallback says so first
	body, err := json.Marshal(format(s))
	if err != nil {
		return nil, err
	}
	return &notify.Request{URL: t.URL, ContentType: "application/json", Body: body}, nil
}

// summarize is the event's summary, or a digest's (counts by type, the first events).
func summarize(cat *event.Catalog, t *notify.Target, m *notify.Message) (event.Summary, error) {
	if m.Type != digest.Type {
		return cat.Summarize(m.Type, m.Event.Raw(), t.Location, t.Redact)
	}
	var d digest.Doc
	if err := json.Unmarshal(m.Event.Raw(), &d); err != nil {
		return event.Summary{}, fmt.Errorf("decode digest: %w", err)
	}
	return digest.Summarize(&d, cat, t.Location, t.Redact), nil
}

// DigestPolicy is the chat providers' notify.DigestPolicy: a channel shows the counts and the
// first digest.ChatItems events of a window, in one message.
func DigestPolicy() (preview int, refuse string) { return digest.ChatItems, "" }
