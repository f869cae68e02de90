package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/deliver"
	"github.com/taskhook/taskhook/dispatcher/internal/quiet"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/httpx"
)

// Silence preview bounds: the deliveries of the last PreviewWindow, at most PreviewMax of them
// (newest first), are matched; the answer says when it stopped short.
const (
	PreviewWindow = 24 * time.Hour
	PreviewMax    = 5000
)

// registerSilences mounts the silence routes on g.
func (a *API) registerSilences(g *echo.Group) {
	w := httpx.RequireWrite
	g.POST("/silences", a.createSilence, w)
	g.GET("/silences", a.listSilences)
	g.POST("/silences/preview", a.previewSilence)
	g.GET("/silences/similar", a.similarSilence)
	g.GET("/silences/:id", a.getSilence)
	g.DELETE("/silences/:id", a.endSilence, w)
}

// SilenceView is a silence in a response.
type SilenceView struct {
	ID         uuid.UUID   `json:"id"`
	Matcher    string      `json:"matcher"`
	WebhookIDs []uuid.UUID `json:"webhook_ids"` // empty: every webhook
	StartsAt   time.Time   `json:"starts_at"`
	EndsAt     time.Time   `json:"ends_at"`
	Reason     string      `json:"reason"`
	CreatedBy  string      `json:"created_by"`
	CreatedAt  time.Time   `json:"created_at"`
	EndedBy    string      `json:"ended_by,omitempty"`
	EndedAt    *time.Time  `json:"ended_at,omitempty"`
	State      string      `json:"state"` // pending, active or expired
}

func silenceView(s *store.Silence, now time.Time) SilenceView {
	v := SilenceView{ID: s.ID, Matcher: s.Matcher, WebhookIDs: []uuid.UUID{}, StartsAt: s.StartsAt, EndsAt: s.EndsAt, Reason: s.Reason,
		CreatedBy: s.CreatedBy, CreatedAt: s.CreatedAt, EndedBy: s.EndedBy.String, State: quiet.State(s.StartsAt, s.EndsAt, now)}
	for _, raw := range s.WebhookIDs {
		if id, err := uuid.Parse(raw); err == nil {
			v.WebhookIDs = append(v.WebhookIDs, id)
		}
	}
	if s.EndedAt.Valid {
		t := s.EndedAt.Time
		v.EndedAt = &t
	}
	return v
}

func (a *API) silenceRules() quiet.Rules { return a.Silences }

func silenceInvalid(ps []subscription.Problem) error {
	return &httpx.Error{Status: http.StatusUnprocessableEntity, Message: "the silence is not valid; see details", Details: ps}
}

// webhookProblems are the problems of webhook ids that are not webhooks.
func (a *API) webhookProblems(ctx context.Context, in quiet.Input) ([]subscription.Problem, error) {
	var ids []uuid.UUID
	for _, raw := range in.WebhookIDs {
		if id, err := uuid.Parse(raw); err == nil {
			ids = append(ids, id)
		}
	}
	exists, err := a.DB.WebhooksExist(ctx, ids)
	if err != nil {
		return nil, err
	}
	return quiet.UnknownWebhooks(in, exists), nil
}

func (a *API) createSilence(c echo.Context) error {
	var in quiet.Input
	if err := decode(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	now := a.now()
	s, ps := a.silenceRules().Check(in, now)
	more, err := a.webhookProblems(ctx, in)
	if err != nil {
		return err
	}
	if ps = append(ps, more...); len(ps) > 0 {
		return silenceInvalid(ps)
	}
	row := &store.Silence{ID: uuid.Must(uuid.NewV7()), Matcher: s.Matcher, WebhookIDs: []string{}, StartsAt: s.StartsAt, EndsAt: s.EndsAt,
		Reason: s.Reason, CreatedBy: httpx.PrincipalOf(c).Name}
	for _, id := range s.WebhookIDs {
		row.WebhookIDs = append(row.WebhookIDs, id.String())
	}
	tx, err := a.DB.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if err := store.InsertSilence(ctx, tx, row); err != nil {
		return err
	}
	if err := a.audit(ctx, tx, c, "silence.create", uuid.Nil, row.ID.String(), map[string]any{"matcher": row.Matcher,
		"webhook_ids": row.WebhookIDs, "starts_at": row.StartsAt, "ends_at": row.EndsAt, "reason": row.Reason}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	a.Log.Info("silence created", zap.String("silence_id", row.ID.String()), zap.Time("ends_at", row.EndsAt), zap.String("who", row.CreatedBy))
	c.Response().Header().Set(echo.HeaderLocation, "/v1/silences/"+row.ID.String())
	return c.JSON(http.StatusCreated, silenceView(row, now))
}

func (a *API) listSilences(c echo.Context) error {
	state := c.QueryParam("state")
	if state != "" && !quiet.ValidState(state) {
		return httpx.Errorf(http.StatusBadRequest, "state must be pending, active or expired, got %q", state)
	}
	limit := DefaultLimit
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return httpx.Errorf(http.StatusBadRequest, "limit must be an integer from 1 to %d, got %q", MaxLimit, s)
		}
		limit = n
	}
	now := a.now()
	rows, err := a.DB.ListSilences(c.Request().Context(), state, now, limit)
	if err != nil {
		return err
	}
	out := make([]SilenceView, len(rows))
	for i := range rows {
		out[i] = silenceView(&rows[i], now)
	}
	return c.JSON(http.StatusOK, map[string]any{"silences": out})
}

func (a *API) getSilence(c echo.Context) error {
	id, err := parseID(c, "silence")
	if err != nil {
		return err
	}
	s, err := a.DB.GetSilence(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("silence", id)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, silenceView(s, a.now()))
}

// endInput is the optional body of DELETE /v1/silences/{id}.
type endInput struct {
	Reason *string `json:"reason"`
}

func (a *API) endSilence(c echo.Context) error {
	id, err := parseID(c, "silence")
	if err != nil {
		return err
	}
	var in endInput
	if c.Request().ContentLength != 0 { // a body is optional (-1: chunked)
		if err := decode(c, &in); err != nil {
			return err
		}
	}
	why := ""
	if in.Reason != nil {
		why = strings.TrimSpace(*in.Reason)
		if n := utf8.RuneCountInString(why); n < quiet.MinReason || n > quiet.MaxReason {
			return silenceInvalid([]subscription.Problem{{Path: "/reason", Message: "must be from 3 to 500 characters (or left out)"}})
		}
	}
	ctx := c.Request().Context()
	now := a.now()
	tx, err := a.DB.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	who := httpx.PrincipalOf(c).Name
	s, err := store.EndSilence(ctx, tx, id, who, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("silence", id)
	case errors.Is(err, store.ErrExpired):
		return httpx.Errorf(http.StatusConflict, "silence %s has already ended; nothing to end", id)
	case err != nil:
		return err
	}
	details := map[string]any{"matcher": s.Matcher, "reason": s.Reason, "ended_at": now}
	if why != "" {
		details["end_reason"] = why
	}
	if err := a.audit(ctx, tx, c, "silence.end", uuid.Nil, id.String(), details); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	a.Log.Info("silence ended", zap.String("silence_id", id.String()), zap.String("who", who))
	return c.JSON(http.StatusOK, silenceView(s, now))
}

// previewInput is the body of POST /v1/silences/preview.
type previewInput struct {
	Matcher    *string  `json:"matcher"`
	WebhookIDs []string `json:"webhook_ids"`
}

// PreviewView is how many recent deliveries a matcher would have silenced.
type PreviewView struct {
	Window    string `json:"window"`
	Matched   int    `json:"matched"`   // deliveries the silence would have silenced
	Scanned   int    `json:"scanned"`   // deliveries looked at
	Truncated bool   `json:"truncated"` // more than PreviewMax deliveries in the window: only the newest were looked at
}

// previewSilence counts the deliveries of the last 24 hours a silence with this matcher (at
// these webhooks) would have silenced. Nothing is stored.
func (a *API) previewSilence(c echo.Context) error {
	var in previewInput
	if err := decode(c, &in); err != nil {
		return err
	}
	now := a.now()
	end := now.Add(time.Hour).Format(time.RFC3339)
	reason := "preview"
	qin := quiet.Input{Matcher: in.Matcher, WebhookIDs: in.WebhookIDs, EndsAt: &end, Reason: &reason}
	s, ps := a.silenceRules().Check(qin, now)
	ctx := c.Request().Context()
	more, err := a.webhookProblems(ctx, qin)
	if err != nil {
		return err
	}
	if ps = append(ps, more...); len(ps) > 0 {
		return silenceInvalid(ps)
	}
	flt, err := a.Silences.Filters.Compile(s.Matcher)
	if err != nil {
		return err
	}
	rows, err := a.DB.RecentDeliveries(ctx, now.Add(-PreviewWindow), s.WebhookIDs, PreviewMax+1)
	if err != nil {
		return err
	}
	out := PreviewView{Window: PreviewWindow.String()}
	if len(rows) > PreviewMax {
		rows, out.Truncated = rows[:PreviewMax], true
	}
	decoded := map[string]map[string]any{}
	for _, r := range rows {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		out.Scanned++
		ev, seen := decoded[r.EventID]
		if !seen {
			if r.Payload != nil {
				if raw, err := a.Codec.Box.Open(r.Payload, deliver.EventAAD(r.EventID)); err == nil {
					_ = json.Unmarshal(raw, &ev)
				}
			}
			decoded[r.EventID] = ev
		}
		if ev != nil && flt.Match(r.EventType, ev) {
			out.Matched++
		}
	}
	return c.JSON(http.StatusOK, out)
}

// SimilarView is the silence "silence similar" proposes for a delivery: its type and subject,
// at its webhook.
type SimilarView struct {
	Matcher    string      `json:"matcher"`
	WebhookIDs []uuid.UUID `json:"webhook_ids"`
	Subject    string      `json:"subject,omitempty"` // "device D-991"; empty when the event names none
}

// similarSilence proposes a silence for the events like a delivery's (same type and subject).
func (a *API) similarSilence(c echo.Context) error {
	raw := c.QueryParam("delivery_id")
	id, err := uuid.Parse(raw)
	if err != nil {
		return httpx.Errorf(http.StatusBadRequest, "delivery_id must be a delivery id (a UUID), got %q", raw)
	}
	d, err := a.DB.DeliveryEvent(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("delivery", id)
	}
	if err != nil {
		return err
	}
	var ev map[string]any
	if d.Payload != nil {
		if b, err := a.Codec.Box.Open(d.Payload, deliver.EventAAD(d.EventID)); err == nil {
			_ = json.Unmarshal(b, &ev)
		}
	}
	m, subject := quiet.Similar(d.EventType, ev)
	return c.JSON(http.StatusOK, SimilarView{Matcher: m, WebhookIDs: []uuid.UUID{d.WebhookID}, Subject: subject})
}
