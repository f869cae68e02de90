package event

import (
	"encoding/json"
	"time"
)

// Family declares one family of events (task, report, battery): its schema, its types, the
// stream subjects it needs and what chat providers show of it. Each family is declared once, in
// its own package under pkg/families, and registered in families.Catalog.
type Family struct {
	Name        string // "battery": every type is <Name>.<event>
	Description string
	SchemaFile  string // "schemas/battery-event.v1.json", named in 422 answers
	SchemaID    string // the schema's $id
	Schema      []byte // the JSON Schema (2020-12)
	Types       []Type
	// Subjects the stream carries for this family; empty means one subject per type.
	Subjects []string
	// EventField, when set, names the body field whose value v makes the type <Name>.<v> (the
	// task family's "event", from the Canvas payload, which has no "type").
	EventField string
	// Internal families are published by Taskhook itself (operational events): ingest refuses
	// them, "*" does not reach them (a webhook names them, or their "<family>.*"), and
	// ValidateInternal is how their publisher checks them.
	Internal bool
	// Summarize turns a validated body into what chat providers (Slack, Teams) show: a title,
	// a severity and facts, times in loc; with redact, the patient by id only.
	Summarize func(typ string, raw []byte, loc *time.Location, redact bool) (Summary, error)
}

// Type is one event type of a family.
type Type struct {
	Type string `json:"type"` // "battery.critical"
	// Label is the type as a person reads it ("Battery critical"): the dashboard's event picker
	// shows it instead of the type's name or a description that names fields and settings.
	Label       string          `json:"label,omitempty"`
	Family      string          `json:"family"`
	Description string          `json:"description"`
	Example     json.RawMessage `json:"example"` // a valid body of this type
}

// Severity is how urgent a message looks in a chat channel (Teams colours it).
type Severity string

// Severities, from calm to urgent.
const (
	Neutral   Severity = "default"
	Good      Severity = "good"
	Warning   Severity = "warning"
	Attention Severity = "attention"
)

// Fact is one labelled line of a chat message.
type Fact struct {
	Label string
	Value string
}

// Link is a link a chat message offers (a report in goReporter).
type Link struct {
	Label string
	URL   string
}

// Summary is an event as chat providers show it.
type Summary struct {
	Title    string // "📋 New Task Created", "Battery Critical"
	Severity Severity
	Facts    []Fact
	Link     *Link
}

// Add appends a fact when value is not blank.
func (s *Summary) Add(label, value string) {
	if value = trimSpace(value); value != "" {
		s.Facts = append(s.Facts, Fact{Label: label, Value: value})
	}
}

// Lines is the plain-text form: the title, then "Label: value" per fact, then the link.
func (s Summary) Lines() []string {
	out := []string{s.Title}
	for _, f := range s.Facts {
		out = append(out, f.Label+": "+f.Value)
	}
	if s.Link != nil {
		out = append(out, s.Link.Label+": "+s.Link.URL)
	}
	return out
}
