package eventtypes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/httpx"
	"github.com/taskhook/taskhook/pkg/jsonx"
)

// MaxBodyBytes bounds a definition (a 64 KiB schema, a 64 KiB example and the summary).
const MaxBodyBytes = 256 << 10

// API serves the registry: POST /v1/event-types, GET, PUT and DELETE /v1/event-types/{type}
// (GET /v1/event-types, the whole catalog, is httpx.EventTypes).
type API struct {
	DB        *store.DB
	Catalog   *event.Catalog
	Publisher *Publisher
	// Changed is told after a change is stored and installed (the webhook cache refreshes).
	Changed func(context.Context)
	Log     *zap.Logger
}

// Register mounts the routes on g (authenticated); writes need an admin token.
func (a *API) Register(g *echo.Group) {
	w := httpx.RequireWrite
	g.POST("/event-types", a.create, w)
	g.GET("/event-types/:type", a.get)
	g.PUT("/event-types/:type", a.replace, w)
	g.DELETE("/event-types/:type", a.delete, w)
}

// View is one event type in a response: GET /v1/event-types's entry, with the times of a custom
// type.
type View struct {
	httpx.EventType
	CreatedAt *time.Time `json:"created_at,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// FromRow is a stored row as a definition.
func FromRow(r store.EventType) (event.Custom, error) {
	d := event.Custom{Type: r.Type, Description: r.Description, Schema: json.RawMessage(r.Schema), Example: json.RawMessage(r.Example),
		Version: r.Version, UpdatedAt: r.UpdatedAt.UTC()}
	if err := json.Unmarshal([]byte(r.Summary), &d.Summary); err != nil {
		return d, fmt.Errorf("summary: %w", err)
	}
	return d, nil
}

func viewOf(r store.EventType) (View, error) {
	d, err := FromRow(r)
	if err != nil {
		return View{}, err
	}
	c, u := r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return View{EventType: httpx.EventType{Type: d.Type, Family: d.Family(), Description: d.Description, Schema: d.Schema,
		Example: d.Example, Custom: true, Version: d.Version, Summary: &d.Summary}, CreatedAt: &c, UpdatedAt: &u}, nil
}

func unprocessable(ps []Problem) error {
	return &httpx.Error{Status: http.StatusUnprocessableEntity, Message: "the event type is not valid; see details", Details: ps}
}

// decode reads a definition strictly: unknown fields and wrong types are 422 with a pointer.
func decode(c echo.Context) (Definition, error) {
	var d Definition
	body, err := httpx.ReadJSON(c, MaxBodyBytes)
	if err != nil {
		return d, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		var ute *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &ute):
			return d, unprocessable([]Problem{{Path: "/" + strings.ReplaceAll(ute.Field, ".", "/"), Message: "must be " + jsonKind(ute.Type.Kind().String()) + ", got " + ute.Value}})
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return d, unprocessable([]Problem{{Path: "/" + field, Message: "unknown field (check the spelling; the fields are type, description, schema, example, summary)"}})
		case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return d, httpx.Errorf(http.StatusBadRequest, "malformed JSON: %v", err)
		}
		return d, httpx.Errorf(http.StatusBadRequest, "malformed JSON: %v", err)
	}
	if dec.More() {
		return d, httpx.Errorf(http.StatusBadRequest, "malformed JSON: more than one value in the body")
	}
	if e := jsonx.Check(body); e != nil {
		return d, unprocessable([]Problem{{Path: e.Path, Message: e.Message}})
	}
	return d, nil
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "a " + k
}

func (a *API) create(c echo.Context) error {
	d, err := decode(c)
	if err != nil {
		return err
	}
	return a.save(c, d, true)
}

func (a *API) replace(c echo.Context) error {
	typ := c.Param("type")
	d, err := decode(c)
	if err != nil {
		return err
	}
	if d.Type == "" {
		d.Type = typ
	} else if d.Type != typ {
		return unprocessable([]Problem{{Path: "/type", Message: fmt.Sprintf("%q differs from the type in the URL (%q): leave it out or make them equal", d.Type, typ)}})
	}
	return a.save(c, d, false)
}

func (a *API) save(c echo.Context, d Definition, create bool) error {
	ctx := c.Request().Context()
	def, ps := Check(ctx, d, a.Catalog.BuiltinFamilies())
	if len(ps) > 0 {
		return unprocessable(ps)
	}
	summary, _ := json.Marshal(def.Summary)
	tx, err := a.DB.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	actor := httpx.PrincipalOf(c).Name
	row, err := store.SaveEventType(ctx, tx, store.EventType{Type: def.Type, Description: def.Description, Schema: string(def.Schema),
		Example: string(def.Example), Summary: string(summary)}, create, actor)
	switch {
	case errors.Is(err, store.ErrTypeExists):
		return httpx.Errorf(http.StatusConflict, "event type %s exists; replace it with PUT /v1/event-types/%s", def.Type, def.Type)
	case errors.Is(err, store.ErrNotFound):
		return httpx.Errorf(http.StatusNotFound, "no custom event type %s; create it with POST /v1/event-types", def.Type)
	case err != nil:
		return err
	}
	action := "event_type.replace"
	if create {
		action = "event_type.create"
	}
	if err := store.Audit(ctx, tx, actor, action, uuid.Nil, def.Type, map[string]any{"version": row.Version,
		"schema_bytes": len(def.Schema), "severity": def.Summary.Severity, "facts": len(def.Summary.Facts)}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	a.changed(ctx)
	v, err := viewOf(row)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if create {
		status = http.StatusCreated
		c.Response().Header().Set(echo.HeaderLocation, "/v1/event-types/"+def.Type)
	}
	return c.JSON(status, v)
}

// changed installs the stored types here at once and hands them to ingest (in the background
// when NATS does not take them now).
func (a *API) changed(ctx context.Context) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.Publisher.Publish(pctx); err != nil {
		a.Log.Warn("custom event types stored; handing them to ingest is retried in the background", zap.Error(err))
		if _, lerr := a.Publisher.Load(pctx); lerr != nil {
			a.Log.Warn("custom event types not reloaded", zap.Error(lerr))
		}
		a.Publisher.Poke()
	}
	if a.Changed != nil {
		a.Changed(pctx)
	}
}

func (a *API) get(c echo.Context) error {
	typ := c.Param("type")
	row, err := a.DB.GetEventType(c.Request().Context(), typ)
	if err == nil {
		v, err := viewOf(row)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, v)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	for _, t := range httpx.ListEventTypes(a.Catalog).EventTypes {
		if t.Type == typ && !t.Custom {
			return c.JSON(http.StatusOK, View{EventType: t})
		}
	}
	return httpx.Errorf(http.StatusNotFound, "no event type %s; GET /v1/event-types lists them", typ)
}

func (a *API) delete(c echo.Context) error {
	ctx := c.Request().Context()
	typ := c.Param("type")
	if t, _, ok := a.Catalog.Lookup(typ); ok && !t.Custom {
		return httpx.Errorf(http.StatusConflict, "%s is a built-in event type; only custom types can be deleted", typ)
	}
	tx, err := a.DB.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	fam, _, _ := strings.Cut(typ, ".")
	users, err := store.WebhooksNaming(ctx, tx, []string{typ, fam + ".*"})
	if err != nil {
		return err
	}
	if len(users) > 0 {
		names := make([]string, len(users))
		for i, u := range users {
			names[i] = fmt.Sprintf("%q (%s)", u.Name, u.ID)
		}
		return &httpx.Error{Status: http.StatusConflict,
			Message: fmt.Sprintf("event type %s is in use: webhooks %s name it or %s.*; change their events first", typ, strings.Join(names, ", "), fam),
			Extra:   map[string]any{"webhooks": users}}
	}
	if err := store.DeleteEventType(ctx, tx, typ); errors.Is(err, store.ErrNotFound) {
		return httpx.Errorf(http.StatusNotFound, "no custom event type %s", typ)
	} else if err != nil {
		return err
	}
	if err := store.Audit(ctx, tx, httpx.PrincipalOf(c).Name, "event_type.delete", uuid.Nil, typ, map[string]any{}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	a.changed(ctx)
	return c.NoContent(http.StatusNoContent)
}
