package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// RepeatLimit is a webhook's repeat limit: at most one delivery per event type and Key value
// per Per (a Go duration such as "24h"); the others are recorded as suppressed.
type RepeatLimit struct {
	Key string `json:"key"`
	Per string `json:"per"`
}

// Silence is a silence as the API shows it: deliveries whose event matches Matcher at the
// webhooks named (every webhook when none) are recorded as silenced, never attempted, from
// StartsAt until EndsAt.
type Silence struct {
	ID         string     `json:"id"`
	Matcher    string     `json:"matcher"`
	WebhookIDs []string   `json:"webhook_ids"`
	StartsAt   time.Time  `json:"starts_at"`
	EndsAt     time.Time  `json:"ends_at"`
	Reason     string     `json:"reason"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	EndedBy    string     `json:"ended_by,omitempty"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	State      string     `json:"state"` // pending, active or expired
}

// SilenceInput is the body of CreateSilence. StartsAt defaults to now; EndsAt and Reason (3 to
// 500 characters) are required.
type SilenceInput struct {
	Matcher    string     `json:"matcher"`
	WebhookIDs []string   `json:"webhook_ids,omitempty"`
	StartsAt   *time.Time `json:"starts_at,omitempty"`
	EndsAt     time.Time  `json:"ends_at"`
	Reason     string     `json:"reason"`
}

// ListSilences lists silences in state (pending, active, expired; "" for all), the latest
// ending first.
func (a *Admin) ListSilences(ctx context.Context, state string, limit int) ([]Silence, error) {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	p := "/v1/silences"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out struct {
		Silences []Silence `json:"silences"`
	}
	err := a.b.call(ctx, http.MethodGet, p, nil, &out)
	return out.Silences, err
}

// GetSilence reads one silence.
func (a *Admin) GetSilence(ctx context.Context, id string) (*Silence, error) {
	var s Silence
	if err := a.b.call(ctx, http.MethodGet, "/v1/silences/"+url.PathEscape(id), nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// CreateSilence creates a silence from a *SilenceInput (or its JSON).
func (a *Admin) CreateSilence(ctx context.Context, in any) (*Silence, error) {
	var s Silence
	if err := a.b.call(ctx, http.MethodPost, "/v1/silences", in, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// EndSilence ends a silence now (it is kept, expired); reason, when not empty, is kept in the
// audit trail. Ending one that has ended already is an error with status 409.
func (a *Admin) EndSilence(ctx context.Context, id, reason string) (*Silence, error) {
	var body any
	if reason != "" {
		body = map[string]string{"reason": reason}
	}
	var s Silence
	if err := a.b.call(ctx, http.MethodDelete, "/v1/silences/"+url.PathEscape(id), body, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
