// Package pagerduty is the provider for PagerDuty's Events API v2 (POST /v2/enqueue): an event
// triggers an alert whose dedup_key is the event's subject (a task, a report, a device), so that
// every event of one task updates one alert, and a task completed or closed resolves it. The
// severity comes from the event's summary (critical for battery.critical and task.overdue), the
// facts become custom_details (the patient by id only when the webhook redacts), a report's
// link becomes a link of the alert. The routing key is the webhook's sealed credential
// (auth type routing_key). Classify follows PagerDuty's table: 202 accepted, 400 permanent,
// 429 and 5xx retried.
package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/chat"
	"github.com/taskhook/taskhook/pkg/event"
)

// PagerDuty's limits (Events API v2).
const (
	MaxSummary = 1024 // payload.summary
	MaxSource  = 255  // payload.source: we keep it short
	KeyLen     = 32   // an integration (routing) key
)

// DefaultSource is payload.source when the webhook's options name none.
const DefaultSource = "taskhook"

// Provider renders PagerDuty events.
type Provider struct{ catalog *event.Catalog }

// New returns the PagerDuty provider for the events of cat.
func New(cat *event.Catalog) *Provider { return &Provider{catalog: cat} }

// Name implements notify.Provider.
func (*Provider) Name() string { return "pagerduty" }

// Families implements notify.FamilyRenderer: every family with a summary.
func (p *Provider) Families() []string { return chat.Families(p.catalog) }

// DigestPolicy implements notify.DigestPolicy: an alert is about one subject, and a digest is
// about many.
func (*Provider) DigestPolicy() (preview int, refuse string) {
	return 0, "a PagerDuty alert is about one task, report or device (its dedup_key); page per event"
}

// Form implements notify.Described.
func (*Provider) Form() notify.Form {
	return notify.Form{Label: "PagerDuty (Events API v2)", URLLabel: "Events API v2 enqueue URL", AuthTypes: []string{credential.RoutingKey},
		Options: []notify.Option{{Name: "source", Label: "Source shown on the alert", Placeholder: DefaultSource}}}
}

// AuthTypes implements the subscription's own-credential check: the routing key is required.
func (*Provider) AuthTypes() []string { return []string{credential.RoutingKey} }

// Options are a PagerDuty webhook's options.
type Options struct {
	Source string `json:"source,omitempty"` // payload.source; default "taskhook"
}

// CheckOptions implements notify.Provider.
func (*Provider) CheckOptions(raw json.RawMessage) error {
	_, err := parseOptions(raw)
	return err
}

func parseOptions(raw json.RawMessage) (Options, error) {
	var o Options
	if s := strings.TrimSpace(string(raw)); s == "" || s == "null" {
		return o, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return o, errors.New(`pagerduty options are {"source": "<where the alert comes from>"}`)
	}
	if utf8.RuneCountInString(o.Source) > MaxSource {
		return o, fmt.Errorf("source must be at most %d characters", MaxSource)
	}
	return o, nil
}

// Event is the body of POST /v2/enqueue.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"` // trigger or resolve
	DedupKey    string   `json:"dedup_key"`
	Client      string   `json:"client,omitempty"`
	Payload     *Payload `json:"payload,omitempty"` // trigger only
	Links       []Link   `json:"links,omitempty"`
}

// Payload is what an alert shows.
type Payload struct {
	Summary       string            `json:"summary"`
	Source        string            `json:"source"`
	Severity      string            `json:"severity"` // critical, error, warning, info
	Timestamp     string            `json:"timestamp,omitempty"`
	Class         string            `json:"class,omitempty"` // the event type
	CustomDetails map[string]string `json:"custom_details,omitempty"`
}

// Link is a link of an alert.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Severity maps a summary's severity to PagerDuty's: attention is critical, warning is warning,
// anything calmer is info (error is left to receivers' own rules).
func Severity(s event.Severity) string {
	switch s {
	case event.Attention:
		return "critical"
	case event.Warning:
		return "warning"
	}
	return "info"
}

// DedupKey is the alert's key: the event's subject, else its event id (an alert of its own).
func DedupKey(subject, eventID string) string {
	if subject == "" {
		return "taskhook:event:" + eventID
	}
	return "taskhook:" + subject
}

// Build is the event for one summarised event. resolve sends event_action resolve (the alert of
// the same dedup_key closes; PagerDuty ignores a payload there, so none is sent).
func Build(s event.Summary, typ, subject, eventID, source, routingKey string, ts time.Time, resolve bool) Event {
	ev := Event{RoutingKey: routingKey, EventAction: "trigger", DedupKey: DedupKey(subject, eventID), Client: "Taskhook"}
	if resolve {
		ev.EventAction = "resolve"
		return ev
	}
	summary := s.Title
	for _, f := range s.Facts {
		if f.Label == "Title" || f.Label == "Report" || f.Label == "Device" { // what it is about, when the family names it
			summary += ": " + f.Value
			break
		}
	}
	details := make(map[string]string, len(s.Facts)+1)
	for _, f := range s.Facts {
		details[f.Label] = f.Value
	}
	details["Event"] = typ
	ev.Payload = &Payload{Summary: chat.Truncate(summary, MaxSummary), Source: source, Severity: Severity(s.Severity),
		Timestamp: ts.UTC().Format(time.RFC3339), Class: typ, CustomDetails: details}
	if s.Link != nil && s.Link.URL != "" {
		ev.Links = []Link{{Href: s.Link.URL, Text: s.Link.Label}}
	}
	return ev
}

// Render implements notify.Provider.
func (p *Provider) Render(_ context.Context, t *notify.Target, m *notify.Message) (*notify.Request, error) {
	opts, err := parseOptions(t.Options)
	if err != nil {
		return nil, err
	}
	if opts.Source == "" {
		opts.Source = DefaultSource
	}
	raw := m.Event.Raw()
	s, err := p.catalog.Summarize(m.Type, raw, t.Location, t.Redact)
	if err != nil {
		return nil, err
	}
	ev := Build(s, m.Type, p.catalog.SubjectOf(m.Type, raw), m.EventID, opts.Source, t.Secrets.RoutingKey, m.Timestamp, p.catalog.Closes(m.Type, raw))
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	return &notify.Request{URL: t.URL, ContentType: "application/json", Body: body}, nil
}

// Classify implements notify.Provider with PagerDuty's table: 202 success (any 2xx), 400
// permanent, 429 and 5xx retried,
// other 4xx permanent.
func (*Provider) Classify(r *notify.Response) notify.Outcome {
	out := notify.Classify(r)
	if r.Err != nil || out.Result == notify.Success {
		return out
	}
	if r.StatusCode == http.StatusBadRequest {
		return notify.Outcome{Result: notify.Fail, Reason: "pagerduty: HTTP 400: the event was refused as invalid (check the routing key; the response excerpt says which field)"}
	}
	if r.StatusCode == http.StatusTooManyRequests {
		out.Reason = "pagerduty: HTTP 429 (rate limited)"
	} else {
		out.Reason = "pagerduty: HTTP " + strconv.Itoa(r.StatusCode)
	}
	return out
}
