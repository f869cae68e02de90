package httpx

import (
	"encoding/json"
	"net/http"

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
}

// EventTypeList is the body of GET /v1/event-types.
type EventTypeList struct {
	EventTypes []EventType `json:"event_types"`
}

// EventTypes serves the catalog, GET /v1/event-types: every type with its family, description,
// JSON Schema and a valid example. The body is built once; the catalog is immutable.
func EventTypes(c *event.Catalog) echo.HandlerFunc {
	var list EventTypeList
	for _, t := range c.Types() {
		_, f, _ := c.Lookup(t.Type)
		list.EventTypes = append(list.EventTypes, EventType{Type: t.Type, Family: t.Family, Label: t.Label, Description: t.Description,
			SchemaFile: f.SchemaFile, Schema: f.Schema, Example: t.Example, Internal: f.Internal})
	}
	body, err := json.Marshal(list)
	return func(ctx echo.Context) error {
		if err != nil {
			return err
		}
		return ctx.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
	}
}
