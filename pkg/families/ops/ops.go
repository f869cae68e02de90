// Package ops declares the operational events Taskhook publishes about its own webhooks, as two
// internal families (a type's family prefixes it): webhook (webhook.disabled,
// webhook.health_changed) and delivery (delivery.exhausted, delivery.recovered), both validated
// by schemas/ops-event.v1.json. Ingest refuses them; a webhook receives them only when it names
// them (or webhook.* / delivery.*), never about itself.
package ops

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/schemas"
)

// Families and types.
const (
	WebhookFamily  = "webhook"
	DeliveryFamily = "delivery"

	Disabled      = "webhook.disabled"
	HealthChanged = "webhook.health_changed"
	Exhausted     = "delivery.exhausted"
	Recovered     = "delivery.recovered"
)

// Types lists the operational event types.
func Types() []string { return []string{Disabled, HealthChanged, Exhausted, Recovered} }

// Window is the coalescing window an event stands for.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Event is an operational event: ids and Taskhook's own reasons only.
type Event struct {
	Type           string    `json:"type"`
	EventID        string    `json:"event_id"`
	OccurredAt     time.Time `json:"occurred_at"`
	WebhookID      string    `json:"webhook_id"`
	WebhookName    string    `json:"webhook_name"`
	Reason         string    `json:"reason,omitempty"`
	Health         string    `json:"health,omitempty"`
	PreviousHealth string    `json:"previous_health,omitempty"`
	LastStatusCode int       `json:"last_status_code,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	Count          int       `json:"count"`
	DeliveryID     string    `json:"delivery_id,omitempty"`
	Attempts       *int      `json:"attempts,omitempty"`
	Window         Window    `json:"window"`
}

// EventID is the id of the event of a webhook, type and window: the same when a crash makes a
// replica publish it again (JetStream's Nats-Msg-Id and the delivery ids de-duplicate it).
func EventID(webhookID, typ string, windowStart time.Time) string {
	return "ops:" + typ + ":" + webhookID + ":" + strconv.FormatInt(windowStart.UnixMicro(), 10)
}

// Parse decodes an operational event.
func Parse(raw []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("decode operational event: %w", err)
	}
	if e.WebhookID == "" || !IsType(e.Type) {
		return nil, fmt.Errorf("decode operational event: type and webhook_id are required")
	}
	return &e, nil
}

// IsType reports whether typ is an operational event type.
func IsType(typ string) bool {
	switch typ {
	case Disabled, HealthChanged, Exhausted, Recovered:
		return true
	}
	return false
}

// About is the webhook an operational event is about ("" when raw is not one): the consumer
// does not deliver it to that webhook.
func About(raw []byte) string {
	var head struct {
		WebhookID string `json:"webhook_id"`
	}
	if json.Unmarshal(raw, &head) != nil {
		return ""
	}
	return head.WebhookID
}

// Examples of each type, valid against the schema (the catalog lists them).
const (
	ExampleDisabled = `{"type":"webhook.disabled","event_id":"ops:webhook.disabled:0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f:1705312800000000",` +
		`"occurred_at":"2024-01-15T10:00:02Z","webhook_id":"0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f","webhook_name":"EMR inbox",` +
		`"reason":"HTTP 410 Gone: the receiver says this endpoint is gone; webhook deactivated","last_status_code":410,` +
		`"count":1,"window":{"start":"2024-01-15T10:00:00Z","end":"2024-01-15T10:05:00Z"}}`
	ExampleHealthChanged = `{"type":"webhook.health_changed","event_id":"ops:webhook.health_changed:0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f:1705312800000000",` +
		`"occurred_at":"2024-01-15T10:03:00Z","webhook_id":"0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f","webhook_name":"EMR inbox",` +
		`"reason":"5 consecutive failures","health":"red","previous_health":"green",` +
		`"count":2,"window":{"start":"2024-01-15T10:00:00Z","end":"2024-01-15T10:05:00Z"}}`
	ExampleExhausted = `{"type":"delivery.exhausted","event_id":"ops:delivery.exhausted:0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f:1705312800000000",` +
		`"occurred_at":"2024-01-15T10:04:30Z","webhook_id":"0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f","webhook_name":"EMR inbox",` +
		`"last_status_code":503,"last_error":"HTTP 503","count":50,"delivery_id":"6f1c2d3e-4a5b-5c6d-8e7f-901a2b3c4d5e","attempts":8,` +
		`"window":{"start":"2024-01-15T10:00:00Z","end":"2024-01-15T10:05:00Z"}}`
	ExampleRecovered = `{"type":"delivery.recovered","event_id":"ops:delivery.recovered:0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f:1705312800000000",` +
		`"occurred_at":"2024-01-15T10:00:00Z","webhook_id":"0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f","webhook_name":"EMR inbox",` +
		`"reason":"succeeded after 12 consecutive failures","health":"yellow",` +
		`"count":1,"window":{"start":"2024-01-15T10:00:00Z","end":"2024-01-15T10:05:00Z"}}`
)

// Families are the two internal families of operational events.
func Families() []event.Family {
	common := func(name, desc string, types []event.Type) event.Family {
		return event.Family{Name: name, Description: desc, SchemaFile: "schemas/ops-event.v1.json",
			SchemaID: schemas.OpsEventV1ID, Schema: schemas.OpsEventV1, Types: types,
			Subjects: []string{name + ".*"}, Internal: true, Summarize: Summarize}
	}
	return []event.Family{
		common(WebhookFamily, "Operational events about webhooks, published by Taskhook itself.", []event.Type{
			{Type: Disabled, Label: "Taskhook turned a webhook off", Description: "Taskhook deactivated a webhook: its receiver answered 410 Gone, its Slack channel was archived, or it failed for longer than TASKHOOK_DISABLE_AFTER (not an admin's pause).", Example: []byte(ExampleDisabled)},
			{Type: HealthChanged, Label: "A webhook's health changed", Description: "A webhook's health (green, yellow, red, disabled, as GET /v1/webhooks shows it) changed; previous_health is the state before the window's first change.", Example: []byte(ExampleHealthChanged)},
		}),
		common(DeliveryFamily, "Operational events about deliveries, published by Taskhook itself.", []event.Type{
			{Type: Exhausted, Label: "Deliveries gave up", Description: "Deliveries of a webhook gave up (attempts used up, or a permanent failure); count is how many in the window, delivery_id the last.", Example: []byte(ExampleExhausted)},
			{Type: Recovered, Label: "A webhook recovered", Description: "A webhook succeeded again after consecutive failures.", Example: []byte(ExampleRecovered)},
		}),
	}
}

// Title is the heading of an operational event's chat message.
func Title(typ, name string) string {
	switch typ {
	case Disabled:
		return "Webhook disabled: " + name
	case HealthChanged:
		return "Webhook health changed: " + name
	case Exhausted:
		return "Deliveries gave up: " + name
	}
	return "Webhook recovered: " + name
}

// HealthSeverity is how a health state looks in a chat channel.
func HealthSeverity(h string) event.Severity {
	switch h {
	case "green":
		return event.Good
	case "yellow":
		return event.Warning
	case "red", "disabled":
		return event.Attention
	}
	return event.Neutral
}

// Summarize implements event.Family.Summarize (redaction has nothing to hide: no patient data).
func Summarize(typ string, raw []byte, _ *time.Location, _ bool) (event.Summary, error) {
	e, err := Parse(raw)
	if err != nil {
		return event.Summary{}, err
	}
	name, webhook := strings.TrimSpace(e.WebhookName), e.WebhookID
	if name == "" {
		name = e.WebhookID
	} else {
		webhook = name + " (" + e.WebhookID + ")"
	}
	s := event.Summary{Title: Title(typ, name)}
	switch typ {
	case Disabled, Exhausted:
		s.Severity = event.Attention
	case HealthChanged:
		s.Severity = HealthSeverity(e.Health)
	case Recovered:
		s.Severity = event.Good
	}
	s.Add("Webhook", webhook)
	s.Add("Reason", e.Reason)
	if e.PreviousHealth != "" || e.Health != "" {
		s.Add("Health", HealthChange(e.PreviousHealth, e.Health))
	}
	if e.LastStatusCode != 0 {
		s.Add("Last status", "HTTP "+strconv.Itoa(e.LastStatusCode))
	}
	s.Add("Last error", e.LastError)
	s.Add("Count", CountText(typ, e.Count, e.Window.End.Sub(e.Window.Start)))
	s.Add("Delivery", e.DeliveryID)
	if e.Attempts != nil {
		s.Add("Attempts", strconv.Itoa(*e.Attempts))
	}
	return s, nil
}

// HealthChange is "green → red", "yellow → … → yellow" when it changed and came back within the
// window, or the one state known.
func HealthChange(from, to string) string {
	switch {
	case from == "" || to == "":
		return from + to
	case from == to:
		return from + " → … → " + to
	}
	return from + " → " + to
}

// CountText is how often, in words: "50 deliveries in the last 5m", "3 times in the last 5m",
// "once in the last 5m".
func CountText(typ string, n int, window time.Duration) string {
	in := " in the last " + ShortDuration(window)
	switch {
	case typ == Exhausted && n == 1:
		return "1 delivery" + in
	case typ == Exhausted:
		return strconv.Itoa(n) + " deliveries" + in
	case n <= 1:
		return "once" + in
	}
	return strconv.Itoa(n) + " times" + in
}

// ShortDuration is d without zero units: 5m, 1h30m, 2.5s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
