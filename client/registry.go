package client

import (
	"context"
	"net/http"
)

// Provider is what a provider is and needs, as GET /v1/providers describes it.
type Provider struct {
	Name             string           `json:"name"`
	Label            string           `json:"label"`
	URLLabel         string           `json:"url_label"`
	URLIsSecret      bool             `json:"url_is_secret"`
	AuthTypes        []string         `json:"auth_types"`
	Options          []ProviderOption `json:"options"`
	DefaultRateLimit float64          `json:"default_rate_limit,omitempty"`
	Digest           bool             `json:"digest"`
	DigestPreview    int              `json:"digest_preview,omitempty"`
	Families         []string         `json:"families,omitempty"` // empty: every family
}

// ProviderOption is one of a provider's options.
type ProviderOption struct {
	Name        string `json:"name"`
	Label       string `json:"label"`
	Placeholder string `json:"placeholder,omitempty"`
}

// AuthType is one type of outbound authentication.
type AuthType struct {
	Type  string `json:"type"`
	Label string `json:"label"`
}

// Providers lists the providers and the auth types (GET /v1/providers).
func (a *Admin) Providers(ctx context.Context) ([]Provider, []AuthType, error) {
	var out struct {
		Providers []Provider `json:"providers"`
		AuthTypes []AuthType `json:"auth_types"`
	}
	err := a.b.call(ctx, http.MethodGet, "/v1/providers", nil, &out)
	return out.Providers, out.AuthTypes, err
}

// EventType is one type of the event catalog (GET /v1/event-types), without its schema.
type EventType struct {
	Type        string `json:"type"`
	Family      string `json:"family"`
	Label       string `json:"label"`
	Description string `json:"description"`
	Internal    bool   `json:"internal,omitempty"` // an operational event Taskhook publishes itself
}

// EventTypes lists the event catalog (GET /v1/event-types).
func (a *Admin) EventTypes(ctx context.Context) ([]EventType, error) {
	var out struct {
		EventTypes []EventType `json:"event_types"`
	}
	err := a.b.call(ctx, http.MethodGet, "/v1/event-types", nil, &out)
	return out.EventTypes, err
}
