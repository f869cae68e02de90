// Package slack is the provider for Slack Incoming Webhooks: a Block Kit message (a header and a
// section with the event's facts and link, from its family's summary) plus the plain `text` fallback Slack shows in notifications,
// within Slack's limits, escaped for mrkdwn. Slack answers errors as short plain-text codes;
// Classify turns them into outcomes (an archived channel deactivates the webhook).
package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/chat"
	"github.com/taskhook/taskhook/pkg/event"
)

// Slack's limits (https://api.slack.com/reference/block-kit/blocks).
const (
	MaxHeader  = 150   // plain_text of a header block
	MaxSection = 3000  // text of a section block
	MaxText    = 40000 // the message's text
	MaxFact    = 2000  // one fact's value (as Slack's section fields)
)

// Provider renders Slack messages.
type Provider struct{ catalog *event.Catalog }

// New returns the Slack provider for the events of cat.
func New(cat *event.Catalog) *Provider { return &Provider{catalog: cat} }

// Name implements notify.Provider.
func (*Provider) Name() string { return "slack" }

// Form implements notify.Described: the incoming webhook URL is the credential.
func (*Provider) Form() notify.Form {
	return notify.Form{Label: "Slack", URLLabel: "Slack incoming webhook URL", AuthTypes: []string{credential.None}}
}

// URLIsSecret implements notify.SecretURL: an incoming webhook URL lets anyone post.
func (*Provider) URLIsSecret() bool { return true }

// DigestPolicy implements notify.DigestPolicy: counts and the first events, in one message.
func (*Provider) DigestPolicy() (preview int, refuse string) { return chat.DigestPolicy() }

// Families implements notify.FamilyRenderer: every family with a chat summary.
func (p *Provider) Families() []string { return chat.Families(p.catalog) }

// DefaultRateLimit implements notify.RateLimited: Slack accepts about one message per second
// per incoming webhook.
func (*Provider) DefaultRateLimit() float64 { return 1 }

// CheckOptions implements notify.Provider: Slack webhooks have no options.
func (*Provider) CheckOptions(opts json.RawMessage) error {
	return notify.CheckNoOptions("slack", opts)
}

// Message is the JSON body Slack's incoming webhook takes.
type Message struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks"`
}

// Block is a Block Kit block (header, section or actions).
type Block struct {
	Type     string    `json:"type"`
	Text     *Text     `json:"text,omitempty"`
	Elements []Element `json:"elements,omitempty"`
}

// Element is a Block Kit interactive element: a link button.
type Element struct {
	Type     string `json:"type"` // button
	Text     *Text  `json:"text"`
	URL      string `json:"url"`
	ActionID string `json:"action_id"`
	Style    string `json:"style,omitempty"`
}

// MaxButtonURL is the longest url a Block Kit button takes.
const MaxButtonURL = 3000

// WithAcknowledge adds an alert's Acknowledge button (and its link to the plain text Slack
// shows in notifications); a message outside an alert is returned as is.
func WithAcknowledge(msg Message, a *notify.Alert) Message {
	if a == nil || a.AcknowledgeURL == "" || len(a.AcknowledgeURL) > MaxButtonURL {
		return msg
	}
	msg.Text = chat.Truncate(msg.Text+"\nAcknowledge: "+Escape(a.AcknowledgeURL), MaxText)
	msg.Blocks = append(msg.Blocks, Block{Type: "actions", Elements: []Element{{Type: "button",
		Text: &Text{Type: "plain_text", Text: "Acknowledge"}, URL: a.AcknowledgeURL, ActionID: "acknowledge", Style: "primary"}}})
	return msg
}

// Text is a Block Kit text object.
type Text struct {
	Type  string `json:"type"` // plain_text or mrkdwn
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// Escape escapes text for Slack mrkdwn: &, < and > are control characters there.
func Escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Build renders an event's summary as a Slack message.
func Build(m event.Summary) Message {
	var fallback, section strings.Builder
	fallback.WriteString(Escape(m.Title))
	for i, f := range m.Facts {
		v := Escape(chat.Truncate(f.Value, MaxFact))
		fallback.WriteString("\n" + f.Label + ": " + v)
		line := "*" + f.Label + ":* " + v
		if i > 0 {
			line = "\n" + line
		}
		if section.Len()+len(line) > MaxSection {
			room := MaxSection - section.Len()
			if room > 1 {
				section.WriteString(chat.Truncate(line, room))
			}
			break
		}
		section.WriteString(line)
	}
	if l := m.Link; l != nil {
		fallback.WriteString("\n" + l.Label + ": " + Escape(l.URL))
		// In <url|text> a "|" of the URL would end it and choose the text: encode it.
		if line := "\n<" + Escape(strings.ReplaceAll(l.URL, "|", "%7C")) + "|" + Escape(l.Label) + ">"; section.Len()+len(line) <= MaxSection && len(l.URL) <= MaxFact {
			section.WriteString(line)
		}
	}
	msg := Message{
		Text: chat.Truncate(fallback.String(), MaxText),
		Blocks: []Block{
			{Type: "header", Text: &Text{Type: "plain_text", Text: chat.Truncate(m.Title, MaxHeader), Emoji: true}},
		},
	}
	if section.Len() > 0 {
		msg.Blocks = append(msg.Blocks, Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: section.String()}})
	}
	return msg
}

// Render implements notify.Provider.
func (p *Provider) Render(ctx context.Context, t *notify.Target, m *notify.Message) (*notify.Request, error) {
	return chat.Render(ctx, p.catalog, t, m, func(s event.Summary) any { return WithAcknowledge(Build(s), m.Alert) })
}

var token = regexp.MustCompile(`^[a-z_]{1,64}$`)

// Classify implements notify.Provider: the shared rules, refined with Slack's error code (the
// whole body of an error answer, e.g. "channel_not_found"), which becomes the reason.
func (*Provider) Classify(r *notify.Response) notify.Outcome {
	out := notify.Classify(r)
	if r.Err != nil || out.Result == notify.Success {
		return out
	}
	code := strings.TrimSpace(string(r.Body))
	if !token.MatchString(code) {
		code = ""
	}
	switch {
	case r.StatusCode == http.StatusTooManyRequests:
		out.Reason = "slack: rate_limited"
	case code == "channel_is_archived":
		out = notify.Outcome{Result: notify.Fail, Disable: true, Reason: "slack: channel_is_archived; webhook deactivated"}
	case code != "":
		out.Reason = "slack: " + code
	}
	return out
}
