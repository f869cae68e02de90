// Package teams is the provider for Microsoft Teams Workflows webhooks (the Office 365
// connectors are retired): a message whose one attachment is an Adaptive Card 1.4 with the
// event's title, coloured by its severity (task.overdue and battery.critical attention, task.due
// and battery.low warning, task.created and report.completed good, others default), a FactSet
// of its facts and, for a report, an Action.OpenUrl to it. The body stays under Teams' ~28 KB limit. Teams
// answers 202 Accepted, a success under the shared rules.
package teams

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/chat"
	"github.com/taskhook/taskhook/pkg/event"
)

// MaxBody is the largest body rendered (Teams refuses messages over about 28 KB).
const MaxBody = 27 << 10

// Provider renders Teams messages.
type Provider struct{ catalog *event.Catalog }

// New returns the Teams provider for the events of cat.
func New(cat *event.Catalog) *Provider { return &Provider{catalog: cat} }

// Name implements notify.Provider.
func (*Provider) Name() string { return "teams" }

// Form implements notify.Described: the Workflows URL is the credential.
func (*Provider) Form() notify.Form {
	return notify.Form{Label: "Microsoft Teams", URLLabel: "Teams workflow webhook URL", AuthTypes: []string{credential.None}}
}

// URLIsSecret implements notify.SecretURL: a Workflows URL carries its signature.
func (*Provider) URLIsSecret() bool { return true }

// DigestPolicy implements notify.DigestPolicy: counts and the first events, in one message.
func (*Provider) DigestPolicy() (preview int, refuse string) { return chat.DigestPolicy() }

// Families implements notify.FamilyRenderer: every family with a chat summary.
func (p *Provider) Families() []string { return chat.Families(p.catalog) }

// CheckOptions implements notify.Provider: Teams webhooks have no options.
func (*Provider) CheckOptions(opts json.RawMessage) error {
	return notify.CheckNoOptions("teams", opts)
}

// Classify implements notify.Provider with the shared rules (202 Accepted is success).
func (*Provider) Classify(r *notify.Response) notify.Outcome { return notify.Classify(r) }

// Envelope is the body a Workflows webhook takes.
type Envelope struct {
	Type        string       `json:"type"`
	Attachments []Attachment `json:"attachments"`
}

// Attachment carries the card.
type Attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"`
	Content     Card    `json:"content"`
}

// Card is an Adaptive Card 1.4.
type Card struct {
	Schema       string `json:"$schema"`
	Type         string `json:"type"`
	Version      string `json:"version"`
	FallbackText string `json:"fallbackText,omitempty"`
	Body         []any  `json:"body"`
	Actions      []any  `json:"actions,omitempty"`
}

// TextBlock is an Adaptive Card text element.
type TextBlock struct {
	Type   string `json:"type"`
	Text   string `json:"text"`
	Weight string `json:"weight,omitempty"`
	Size   string `json:"size,omitempty"`
	Color  string `json:"color,omitempty"`
	Wrap   bool   `json:"wrap"`
}

// FactSet is an Adaptive Card list of facts.
type FactSet struct {
	Type  string `json:"type"`
	Facts []Fact `json:"facts"`
}

// Fact is one title/value pair.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Color is the Adaptive Card colour of a severity: attention, warning, good, default.
func Color(s event.Severity) string {
	switch s {
	case event.Attention:
		return "Attention"
	case event.Warning:
		return "Warning"
	case event.Good:
		return "Good"
	}
	return "Default"
}

// OpenURL is an Adaptive Card Action.OpenUrl (the link to a report).
type OpenURL struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Build renders an event's summary as a Teams message; values are cut (with "…") until the
// body fits MaxBody.
func Build(m event.Summary) Envelope {
	for _, limit := range []int{2000, 1000, 400, 100, 40} {
		env := build(m, limit)
		if b, err := json.Marshal(env); err == nil && len(b) <= MaxBody {
			return env
		}
	}
	m.Link = nil // a link too long to fit even with every value cut
	return build(m, 40)
}

func build(m event.Summary, limit int) Envelope {
	facts := make([]Fact, len(m.Facts))
	for i, f := range m.Facts {
		facts[i] = Fact{Title: f.Label, Value: chat.Truncate(f.Value, limit)}
	}
	lines := []string{chat.Truncate(m.Title, limit)}
	for _, f := range facts {
		lines = append(lines, f.Title+": "+f.Value)
	}
	card := Card{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: "1.4",
		Body: []any{
			TextBlock{Type: "TextBlock", Text: chat.Truncate(m.Title, limit), Weight: "Bolder", Size: "Medium", Color: Color(m.Severity), Wrap: true},
			FactSet{Type: "FactSet", Facts: facts},
		},
	}
	if l := m.Link; l != nil {
		lines = append(lines, l.Label+": "+l.URL)
		card.Actions = []any{OpenURL{Type: "Action.OpenUrl", Title: l.Label, URL: l.URL}}
	}
	card.FallbackText = strings.Join(lines, "\n")
	return Envelope{Type: "message", Attachments: []Attachment{{ContentType: "application/vnd.microsoft.card.adaptive", Content: card}}}
}

// Render implements notify.Provider.
func (p *Provider) Render(ctx context.Context, t *notify.Target, m *notify.Message) (*notify.Request, error) {
	return chat.Render(ctx, p.catalog, t, m, func(s event.Summary) any { return WithAcknowledge(Build(s), m.Alert) })
}

// WithAcknowledge adds an alert's Action.OpenUrl titled Acknowledge (and its link to the
// card's fallback text); a message outside an alert is returned as is.
func WithAcknowledge(env Envelope, a *notify.Alert) Envelope {
	if a == nil || a.AcknowledgeURL == "" || len(env.Attachments) == 0 {
		return env
	}
	card := &env.Attachments[0].Content
	card.Actions = append([]any{OpenURL{Type: "Action.OpenUrl", Title: "Acknowledge", URL: a.AcknowledgeURL}}, card.Actions...)
	card.FallbackText += "\nAcknowledge: " + a.AcknowledgeURL
	return env
}
