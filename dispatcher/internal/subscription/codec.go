package subscription

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/taskhook/taskhook/dispatcher/internal/alert"
	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
)

// Codec converts webhooks to and from rows, sealing the URL and the credential.
type Codec struct {
	Box       *secretbox.Box
	Providers notify.Registry // masks URLs that are credentials in url_hint
}

// URLAAD and AuthAAD bind a webhook's sealed URL and credential to its row.
func URLAAD(w string) []byte  { return []byte("webhook-url:" + w) }
func AuthAAD(w string) []byte { return []byte("webhook-auth:" + w) }

// ToRow seals w into a row.
func (c Codec) ToRow(w *Webhook) (*store.Webhook, error) {
	auth, err := json.Marshal(w.Auth)
	if err != nil {
		return nil, err
	}
	id := w.ID.String()
	r := &store.Webhook{
		ID: w.ID, Name: w.Name, Description: w.Description,
		URLSealed: c.Box.Seal([]byte(w.URL), URLAAD(id)), URLHint: c.Providers.SafeURL(w.Provider, w.URL),
		Provider: w.Provider, Events: w.Events, Filter: w.Filter, Active: w.Active,
		AuthType: w.Auth.Type, AuthSealed: c.Box.Seal(auth, AuthAAD(id)), AuthHint: credential.Hint(w.Auth),
		Template: w.Template, TemplateType: w.TemplateType, Timezone: w.Timezone, Redact: w.Redact, Options: w.Options,
		DisabledReason: w.DisabledReason, SendTraceparent: w.SendTraceparent,
	}
	if w.Digest != nil {
		if r.Digest, err = json.Marshal(w.Digest); err != nil {
			return nil, err
		}
	}
	if w.Escalation != nil {
		if r.Escalation, err = json.Marshal(w.Escalation); err != nil {
			return nil, err
		}
	}
	if w.Fallback != uuid.Nil {
		r.FallbackID = uuid.NullUUID{UUID: w.Fallback, Valid: true}
	}
	if w.RateLimitPerSecond > 0 {
		r.RateLimitPerSecond = sql.NullFloat64{Float64: w.RateLimitPerSecond, Valid: true}
	}
	if w.MaxAttempts > 0 {
		r.MaxAttempts = sql.NullInt32{Int32: int32(w.MaxAttempts), Valid: true}
	}
	if !w.DisabledAt.IsZero() {
		r.DisabledAt = sql.NullTime{Time: w.DisabledAt, Valid: true}
	}
	return r, nil
}

// FromRow opens a row.
func (c Codec) FromRow(r *store.Webhook) (*Webhook, error) {
	id := r.ID.String()
	u, err := c.Box.Open(r.URLSealed, URLAAD(id))
	if err != nil {
		return nil, fmt.Errorf("webhook %s url: %w", id, err)
	}
	w := &Webhook{
		ID: r.ID, Name: r.Name, Description: r.Description, URL: string(u), Provider: r.Provider,
		Events: r.Events, Filter: r.Filter, Active: r.Active, Template: r.Template, TemplateType: r.TemplateType, Timezone: r.Timezone,
		Redact: r.Redact, DisabledReason: r.DisabledReason, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		RateLimitPerSecond: r.RateLimitPerSecond.Float64, MaxAttempts: int(r.MaxAttempts.Int32),
		SendTraceparent: r.SendTraceparent,
	}
	if s := string(r.Options); s != "" && s != "{}" {
		w.Options = json.RawMessage(r.Options)
	}
	if r.DisabledAt.Valid {
		w.DisabledAt = r.DisabledAt.Time
	}
	if len(r.Digest) > 0 && string(r.Digest) != "null" {
		w.Digest = &digest.Spec{}
		if err := json.Unmarshal(r.Digest, w.Digest); err != nil {
			return nil, fmt.Errorf("webhook %s digest: %w", id, err)
		}
	}
	if len(r.Escalation) > 0 && string(r.Escalation) != "null" {
		w.Escalation = &alert.Policy{}
		if err := json.Unmarshal(r.Escalation, w.Escalation); err != nil {
			return nil, fmt.Errorf("webhook %s escalation: %w", id, err)
		}
	}
	if r.FallbackID.Valid {
		w.Fallback = r.FallbackID.UUID
	}
	if len(r.AuthSealed) > 0 {
		a, err := c.Box.Open(r.AuthSealed, AuthAAD(id))
		if err != nil {
			return nil, fmt.Errorf("webhook %s auth: %w", id, err)
		}
		if err := json.Unmarshal(a, &w.Auth); err != nil {
			return nil, fmt.Errorf("webhook %s auth: %w", id, err)
		}
	}
	if w.Auth.Type == "" {
		w.Auth.Type = credential.None
	}
	return w, nil
}
