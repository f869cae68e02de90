package httpx

import (
	"encoding/json"
	"net/http"
	"sync/atomic"

	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/pkg/event"
)

// EventType is one entry of GET /v1/event-types.
type EventType struct {
	Type        string          `json:"type"`
	Family      string          `json:"family"`
	Label       string          `json:"label,omitempty"`
	Description string          `json:"description"`
	SchemaFile  string          `json:"schema_file"`
	Schema      json.RawMessage `json:"schema"`
	Example     json.RawMessage `json:"example"`
	// Internal: an operational event Taskhook publishes itself (ingest refuses it; a webhook
	// receives it only when it names it or its family).
	Internal bool `json:"internal,omitempty"`
	// Custom: registered at runtime (POST /v1/event-types on the dispatcher), with its version
	// and chat summary.
	Custom  bool                 `json:"custom,omitempty"`
	Version int                  `json:"version,omitempty"`
	Summary *event.CustomSummary `json:"summary,omitempty"`
}

// EventTypeList is the body of GET /v1/event-types.
type EventTypeList struct {
	EventTypes []EventType `json:"event_types"`
}

// EventTypes serves the catalog, GET /v1/event-types: every type with its family, description,
// JSON Schema and a valid example, custom types (registered at runtime) included. The body is
// rebuilt when the catalog's custom types change.
func EventTypes(c *event.Catalog) echo.HandlerFunc {
	type built struct {
		gen  int64
		body []byte
	}
	var cache atomic.Pointer[built]
	return func(ctx echo.Context) error {
		gen := c.Generation()
		if b := cache.Load(); b != nil && b.gen == gen {
			return ctx.Blob(http.StatusOK, echo.MIMEApplicationJSON, b.body)
		}
		body, err := json.Marshal(ListEventTypes(c))
		if err != nil {
			return err
		}
		cache.Store(&built{gen: gen, body: body})
		return ctx.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
	}
}

// ListEventTypes is the body of GET /v1/event-types for the catalog as it is now.
func ListEventTypes(c *event.Catalog) EventTypeList {
	var list EventTypeList
	for _, t := range c.Types() {
		_, f, _ := c.Lookup(t.Type)
		et := EventType{Type: t.Type, Family: t.Family, Label: t.Label, Description: t.Description,
			SchemaFile: f.SchemaFile, Schema: f.Schema, Example: t.Example, Internal: f.Internal}
		if t.Custom {
			et.Schema, et.Custom, et.Version = t.Schema, true, t.Version
			if d, ok := c.CustomType(t.Type); ok {
				et.Summary = &d.Summary
			}
		}
		list.EventTypes = append(list.EventTypes, et)
	}
	return list
}
