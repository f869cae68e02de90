package alert

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/httpx"
)

// APIStore is what the alert API reads (*store.DB).
type APIStore interface {
	GetAlert(ctx context.Context, id uuid.UUID) (*store.Alert, error)
	ListAlerts(ctx context.Context, f store.AlertFilter) ([]store.Alert, error)
	AlertSteps(ctx context.Context, ids []uuid.UUID) ([]store.AlertStep, error)
}

// API serves /v1/alerts: list and detail (viewer), acknowledge (admin).
type API struct {
	Store APIStore
	Ack   *Acknowledger
}

// Register mounts the routes on the authenticated group g.
func (a *API) Register(g *echo.Group) {
	g.GET("/alerts", a.list)
	g.GET("/alerts/:id", a.get)
	g.POST("/alerts/:id/acknowledge", a.acknowledge, httpx.RequireWrite)
}

// StepView is one escalation step of the timeline.
type StepView struct {
	Step       int       `json:"step"`
	At         time.Time `json:"at"`
	Reason     string    `json:"reason"`
	WebhookIDs []string  `json:"webhook_ids"`
}

// View is an alert as the API shows it.
type View struct {
	ID              uuid.UUID  `json:"id"`
	WebhookID       uuid.UUID  `json:"webhook_id"`
	WebhookName     string     `json:"webhook_name"`
	EventID         string     `json:"event_id"`
	EventType       string     `json:"event_type"`
	State           string     `json:"state"`
	Step            int        `json:"step"`
	OpenedAt        time.Time  `json:"opened_at"`
	AcknowledgeBy   time.Time  `json:"acknowledge_by"`
	AcknowledgedAt  *time.Time `json:"acknowledged_at"`
	AcknowledgedBy  *string    `json:"acknowledged_by"`
	AcknowledgedVia *string    `json:"acknowledged_via"`
	Escalations     []StepView `json:"escalations"`
}

// ViewOf is the API's view of a with its steps.
func ViewOf(a *store.Alert, steps []store.AlertStep) View {
	v := View{ID: a.ID, WebhookID: a.WebhookID, WebhookName: a.WebhookName, EventID: a.EventID, EventType: a.EventType, State: a.State,
		Step: a.Step, OpenedAt: a.OpenedAt, AcknowledgeBy: a.AcknowledgeBy, Escalations: []StepView{}}
	if a.AcknowledgedAt.Valid {
		t, by, via := a.AcknowledgedAt.Time, a.AcknowledgedBy.String, a.AcknowledgedVia.String
		v.AcknowledgedAt, v.AcknowledgedBy, v.AcknowledgedVia = &t, &by, &via
	}
	for _, s := range steps {
		if s.AlertID == a.ID {
			v.Escalations = append(v.Escalations, StepView{Step: s.Step, At: s.At, Reason: s.Reason, WebhookIDs: s.WebhookIDs})
		}
	}
	return v
}

// States the list filters by.
var listStates = map[string][]string{
	StateOpen:           {StateOpen},
	StateEscalated:      {StateEscalated},
	StateAcknowledged:   {StateAcknowledged},
	StateUnacknowledged: {StateUnacknowledged},
}

const maxLimit = 500

func (a *API) list(c echo.Context) error {
	f := store.AlertFilter{Limit: 50}
	if s := c.QueryParam("state"); s != "" {
		for _, part := range strings.Split(s, ",") {
			states, ok := listStates[part]
			if !ok {
				return httpx.Errorf(http.StatusBadRequest, "state must be open, escalated, acknowledged or unacknowledged (comma-separated), got %q", part)
			}
			f.States = append(f.States, states...)
		}
	}
	if s := c.QueryParam("webhook_id"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			return httpx.Errorf(http.StatusBadRequest, "webhook_id must be a UUID, got %q", s)
		}
		f.WebhookID = id
	}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return httpx.Errorf(http.StatusBadRequest, "limit must be an integer from 1 to %d, got %q", maxLimit, s)
		}
		f.Limit = n
	}
	if s := c.QueryParam("cursor"); s != "" {
		t, id, err := decodeCursor(s)
		if err != nil {
			return err
		}
		f.AfterT, f.AfterID = t, id
	}
	ctx := c.Request().Context()
	rows, err := a.Store.ListAlerts(ctx, f)
	if err != nil {
		return err
	}
	ids := make([]uuid.UUID, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	steps, err := a.Store.AlertSteps(ctx, ids)
	if err != nil {
		return err
	}
	out := make([]View, len(rows))
	for i := range rows {
		out[i] = ViewOf(&rows[i], steps)
	}
	var next *string
	if len(rows) == f.Limit {
		s := encodeCursor(rows[len(rows)-1].OpenedAt, rows[len(rows)-1].ID)
		next = &s
	}
	return c.JSON(http.StatusOK, map[string]any{"alerts": out, "next_cursor": next})
}

func (a *API) load(c echo.Context) (*store.Alert, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return nil, httpx.Errorf(http.StatusBadRequest, "alert id must be a UUID, got %q", c.Param("id"))
	}
	al, err := a.Store.GetAlert(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, httpx.Errorf(http.StatusNotFound, "no alert with id %s", id)
	}
	return al, err
}

func (a *API) get(c echo.Context) error {
	al, err := a.load(c)
	if err != nil {
		return err
	}
	return a.respond(c, http.StatusOK, al)
}

func (a *API) respond(c echo.Context, status int, al *store.Alert) error {
	steps, err := a.Store.AlertSteps(c.Request().Context(), []uuid.UUID{al.ID})
	if err != nil {
		return err
	}
	return c.JSON(status, ViewOf(al, steps))
}

func (a *API) acknowledge(c echo.Context) error {
	al, err := a.load(c)
	if err != nil {
		return err
	}
	var in struct {
		Name *string `json:"name"`
	}
	body, err := httpx.ReadJSON(c, 4<<10)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return &httpx.Error{Status: http.StatusUnprocessableEntity, Message: "the body is not valid; see details",
			Details: []map[string]string{{"path": "", "message": `must be an object such as {"name": "Dr. Rivera"}`}}}
	}
	name := ""
	if in.Name != nil {
		name = strings.TrimSpace(*in.Name)
	}
	if utf8.RuneCountInString(name) > MaxNameLength || strings.ContainsFunc(name, isControl) {
		return &httpx.Error{Status: http.StatusUnprocessableEntity, Message: "the body is not valid; see details",
			Details: []map[string]string{{"path": "/name", "message": "must be at most 100 characters of text"}}}
	}
	via := "api"
	if c.Request().Header.Get("X-Taskhook-Via") == "dashboard" {
		via = "dashboard"
	}
	who := httpx.PrincipalOf(c).Name
	if name == "" {
		name = who
	}
	got, err := a.Ack.Acknowledge(c.Request().Context(), al.ID, name, via, who)
	if errors.Is(err, store.ErrAlreadyAcknowledged) {
		return &httpx.Error{Status: http.StatusConflict, Message: "the alert was acknowledged already by " + quote(got.AcknowledgedBy.String) +
			" at " + got.AcknowledgedAt.Time.UTC().Format(time.RFC3339) + "; nothing changed"}
	}
	if err != nil {
		return err
	}
	return a.respond(c, http.StatusOK, got)
}

func quote(s string) string {
	if s == "" {
		return "someone"
	}
	return strconv.Quote(s)
}

type cursor struct {
	T  time.Time `json:"t"`
	ID uuid.UUID `json:"id"`
}

func encodeCursor(t time.Time, id uuid.UUID) string {
	b, _ := json.Marshal(cursor{T: t, ID: id})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (time.Time, uuid.UUID, error) {
	bad := httpx.Errorf(http.StatusBadRequest, "cursor is not one this API returned; pass next_cursor from the previous page unchanged")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, uuid.Nil, bad
	}
	var c cursor
	if json.Unmarshal(b, &c) != nil || c.T.IsZero() || c.ID == uuid.Nil {
		return time.Time{}, uuid.Nil, bad
	}
	return c.T, c.ID, nil
}
