package webhooks

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/taskhook/taskhook/dispatcher/internal/alert"
	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

// AuthView is the auth object of a webhook as shown: never a secret (except a secret Taskhook
// generated, returned once in the answer that created it).
type AuthView struct {
	Type            string `json:"type"`
	Hint            string `json:"hint,omitempty"`
	ClientID        string `json:"client_id,omitempty"`
	TokenURL        string `json:"token_url,omitempty"`
	KeyID           string `json:"key_id,omitempty"`
	Scope           string `json:"scope,omitempty"`
	GeneratedSecret string `json:"secret,omitempty"`
}

// View is a webhook as the admin API and the dashboard show it.
type View struct {
	ID                 uuid.UUID                 `json:"id"`
	Name               string                    `json:"name"`
	Description        string                    `json:"description"`
	URL                string                    `json:"url"`
	Provider           string                    `json:"provider"`
	Events             []string                  `json:"events"`
	Filter             string                    `json:"filter"`
	Active             bool                      `json:"active"`
	Auth               AuthView                  `json:"auth"`
	Template           string                    `json:"template"`
	TemplateType       string                    `json:"template_content_type,omitempty"`
	RateLimitPerSecond *float64                  `json:"rate_limit_per_second"`
	MaxAttempts        int                       `json:"max_attempts"`
	Timezone           string                    `json:"timezone"`
	Redact             bool                      `json:"redact"`
	Options            json.RawMessage           `json:"options,omitempty"`
	Digest             *digest.Spec              `json:"digest"`
	SendTraceparent    bool                      `json:"send_traceparent"`
	TLS                *TLSView                  `json:"tls,omitempty"`
	Ordering           string                    `json:"ordering"`
	Escalation         *alert.Policy             `json:"escalation"`
	Fallback           *uuid.UUID                `json:"fallback"`
	RepeatLimit        *subscription.RepeatLimit `json:"repeat_limit"`
	Health             subscription.Health       `json:"health"`
	DisabledReason     string                    `json:"disabled_reason,omitempty"`
	DisabledAt         *time.Time                `json:"disabled_at,omitempty"`
	CreatedAt          time.Time                 `json:"created_at"`
	UpdatedAt          time.Time                 `json:"updated_at"`
}

// TestResult is what a test send answered.
type TestResult struct {
	OK              bool   `json:"ok"`
	StatusCode      *int   `json:"status_code"`
	DurationMS      int64  `json:"duration_ms"`
	ResponseExcerpt string `json:"response_excerpt"`
	Error           string `json:"error"`
	WebhookID       string `json:"webhook_id_header"` // the webhook-id the test request carried
	EventType       string `json:"event_type"`
}

func (s *Service) view(row *store.WebhookWithHealth, retrying bool) (*View, error) {
	w, err := s.Codec.FromRow(&row.Webhook)
	if err != nil {
		return nil, err
	}
	v := &View{ID: w.ID, Name: w.Name, Description: w.Description, URL: s.Compiler.URLHint(w),
		Provider: w.Provider, Events: w.Events, Filter: w.Filter, Active: w.Active,
		Auth:     AuthView{Type: w.Auth.Type, Hint: row.AuthHint},
		Template: w.Template, TemplateType: w.TemplateType, MaxAttempts: w.MaxAttempts, Timezone: w.Timezone, Redact: w.Redact, Options: w.Options,
		Digest: w.Digest, SendTraceparent: w.SendTraceparent, Escalation: w.Escalation, RepeatLimit: w.RepeatLimit,
		Health:         subscription.HealthOf(w.Active, row.Health, retrying, s.Options.RedAfter),
		DisabledReason: w.DisabledReason, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
	v.TLS = tlsView(w, row.TLSHint)
	if p, ok := s.Compiler.Providers.Get(w.Provider); ok {
		v.Ordering = subscription.OrderingOf(w, p)
	}
	if w.Auth.Type == credential.SMARTBackend {
		v.Auth.ClientID, v.Auth.TokenURL, v.Auth.KeyID, v.Auth.Scope = w.Auth.ClientID, w.Auth.TokenURL, w.Auth.KeyID, w.Auth.Scope
	}
	if w.Fallback != uuid.Nil {
		f := w.Fallback
		v.Fallback = &f
	}
	if w.RateLimitPerSecond > 0 {
		r := w.RateLimitPerSecond
		v.RateLimitPerSecond = &r
	}
	if v.MaxAttempts == 0 {
		v.MaxAttempts = s.Options.DefaultMaxAttempts
	}
	if !w.DisabledAt.IsZero() {
		t := w.DisabledAt
		v.DisabledAt = &t
	}
	v.Health.Hint = s.Options.FilterErrors.Hint(w.ID, s.now())
	return v, nil
}
