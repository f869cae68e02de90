package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// EventType is one event type: built in, or custom (registered at runtime, with a version and a
// chat summary).
type EventType struct {
	Type        string            `json:"type"`
	Family      string            `json:"family"`
	Label       string            `json:"label,omitempty"` // the type in words
	Description string            `json:"description"`
	SchemaFile  string            `json:"schema_file,omitempty"`
	Schema      json.RawMessage   `json:"schema"`
	Example     json.RawMessage   `json:"example"`
	Internal    bool              `json:"internal,omitempty"`
	Custom      bool              `json:"custom,omitempty"`
	Version     int               `json:"version,omitempty"`
	Summary     *EventTypeSummary `json:"summary,omitempty"`
	CreatedAt   *time.Time        `json:"created_at,omitempty"`
	UpdatedAt   *time.Time        `json:"updated_at,omitempty"`
}

// EventTypeSummary is what Slack and Teams show of a custom type: templates over the body.
type EventTypeSummary struct {
	Title    string `json:"title"`
	Severity string `json:"severity,omitempty"` // info, warning or critical
	Facts    []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"facts,omitempty"`
	Link string `json:"link,omitempty"`
}

// ListEventTypes lists every event type, built-in and custom.
func (a *Admin) ListEventTypes(ctx context.Context) ([]EventType, error) {
	var out struct {
		EventTypes []EventType `json:"event_types"`
	}
	err := a.b.call(ctx, http.MethodGet, "/v1/event-types", nil, &out)
	return out.EventTypes, err
}

// EventTypes is ListEventTypes.
func (a *Admin) EventTypes(ctx context.Context) ([]EventType, error) { return a.ListEventTypes(ctx) }

// GetEventType reads one event type.
func (a *Admin) GetEventType(ctx context.Context, typ string) (*EventType, error) {
	var t EventType
	if err := a.b.call(ctx, http.MethodGet, "/v1/event-types/"+url.PathEscape(typ), nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateEventType registers a custom event type from its definition (type, description,
// schema, example, summary) or its JSON.
func (a *Admin) CreateEventType(ctx context.Context, def any) (*EventType, error) {
	var t EventType
	if err := a.b.call(ctx, http.MethodPost, "/v1/event-types", def, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ReplaceEventType replaces a custom event type (its next version).
func (a *Admin) ReplaceEventType(ctx context.Context, typ string, def any) (*EventType, error) {
	var t EventType
	if err := a.b.call(ctx, http.MethodPut, "/v1/event-types/"+url.PathEscape(typ), def, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// DeleteEventType deletes a custom event type (ErrConflict while webhooks name it or its
// family).
func (a *Admin) DeleteEventType(ctx context.Context, typ string) error {
	return a.b.call(ctx, http.MethodDelete, "/v1/event-types/"+url.PathEscape(typ), nil, nil)
}
