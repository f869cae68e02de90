// Package generic is the provider for any HTTPS endpoint: the body is
// {"type": "task.created", "timestamp": "<RFC 3339>", "data": <the task event>}.
package generic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
)

// Provider renders the generic JSON envelope.
type Provider struct{}

// New returns the generic provider.
func New() *Provider { return &Provider{} }

// Name implements notify.Provider.
func (*Provider) Name() string { return "generic" }

// Form implements notify.Described.
func (*Provider) Form() notify.Form {
	return notify.Form{Label: "Any HTTPS endpoint (generic JSON)", URLLabel: "Endpoint URL", AuthTypes: credential.Types()}
}

// CheckOptions implements notify.Provider: generic webhooks have no options.
func (*Provider) CheckOptions(opts json.RawMessage) error {
	return notify.CheckNoOptions("generic", opts)
}

// Render implements notify.Provider. The event JSON is embedded as published (no re-encoding).
func (*Provider) Render(_ context.Context, t *notify.Target, m *notify.Message) (*notify.Request, error) {
	if m.Type == digest.Type {
		return renderDigest(t, m)
	}
	var b bytes.Buffer
	raw := m.Event.Raw()
	b.Grow(len(raw) + 96)
	b.WriteString(`{"type":`)
	typ, _ := json.Marshal(m.Type)
	b.Write(typ)
	b.WriteString(`,"timestamp":"`)
	b.WriteString(m.Timestamp.In(loc(t)).Format(time.RFC3339Nano))
	b.WriteString(`","data":`)
	b.Write(raw)
	if m.Alert != nil {
		if err := writeAlert(&b, t, m.Alert); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return &notify.Request{URL: t.URL, ContentType: "application/json", Body: b.Bytes()}, nil
}

// renderDigest sends a digest message as documented: {"type": "digest", "timestamp",
// "window": {"start", "end"}, "count", "events": [{"type", "timestamp", "data"}, …]} plus the
// window's total, counts by type and part numbers, times in the webhook's zone.
func renderDigest(t *notify.Target, m *notify.Message) (*notify.Request, error) {
	var d digest.Doc
	if err := json.Unmarshal(m.Event.Raw(), &d); err != nil {
		return nil, fmt.Errorf("decode digest: %w", err)
	}
	body, err := json.Marshal(d.InTimeZone(loc(t)))
	if err != nil {
		return nil, err
	}
	return &notify.Request{URL: t.URL, ContentType: "application/json", Body: body}, nil
}

func loc(t *notify.Target) *time.Location {
	if t.Location == nil {
		return time.UTC
	}
	return t.Location
}

// Classify implements notify.Provider with the shared rules.
func (*Provider) Classify(r *notify.Response) notify.Outcome { return notify.Classify(r) }

// writeAlert appends the alert's members to the envelope: "alert" {"id", "acknowledge_url",
// "acknowledge_by"}, and "escalation" {"alert_id", "step", "reason", "from_webhook_id"} or
// "fallback" {"from_webhook_id", "reason"}.
func writeAlert(b *bytes.Buffer, t *notify.Target, a *notify.Alert) error {
	type alertJSON struct {
		ID             string `json:"id"`
		AcknowledgeURL string `json:"acknowledge_url"`
		AcknowledgeBy  string `json:"acknowledge_by"`
	}
	type escalationJSON struct {
		AlertID       string `json:"alert_id"`
		Step          int    `json:"step"`
		Reason        string `json:"reason"`
		FromWebhookID string `json:"from_webhook_id"`
	}
	type fallbackJSON struct {
		FromWebhookID string `json:"from_webhook_id"`
		Reason        string `json:"reason"`
	}
	var out struct {
		Alert      *alertJSON      `json:"alert,omitempty"`
		Escalation *escalationJSON `json:"escalation,omitempty"`
		Fallback   *fallbackJSON   `json:"fallback,omitempty"`
	}
	if a.ID != "" && a.AcknowledgeURL != "" {
		out.Alert = &alertJSON{ID: a.ID, AcknowledgeURL: a.AcknowledgeURL, AcknowledgeBy: a.AcknowledgeBy.In(loc(t)).Format(time.RFC3339)}
	}
	if e := a.Escalation; e != nil {
		out.Escalation = &escalationJSON{AlertID: a.ID, Step: e.Step, Reason: e.Reason, FromWebhookID: e.FromWebhookID}
	}
	if f := a.Fallback; f != nil {
		out.Fallback = &fallbackJSON{FromWebhookID: f.FromWebhookID, Reason: f.Reason}
	}
	j, err := json.Marshal(out)
	if err != nil {
		return err
	}
	if len(j) > 2 { // not {}
		b.WriteByte(',')
		b.Write(j[1 : len(j)-1])
	}
	return nil
}
