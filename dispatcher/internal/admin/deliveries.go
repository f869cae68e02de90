package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/deliver"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/httpx"
)

// DeliveryView is a delivery in a response.
type DeliveryView struct {
	ID        uuid.UUID `json:"id"`
	WebhookID uuid.UUID `json:"webhook_id"`
	EventID   string    `json:"event_id"`
	EventType string    `json:"event_type"`
	// EventTypeVersion: for a custom type, the version of its definition that validated the
	// event (GET /v1/deliveries/{id} only).
	EventTypeVersion *int       `json:"event_type_version,omitempty"`
	Status           string     `json:"status"`
	Attempts         int        `json:"attempts"`
	NextAttemptAt    *time.Time `json:"next_attempt_at"`
	LastStatusCode   *int       `json:"last_status_code"`
	LastError        string     `json:"last_error"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
	// SilenceID: with status silenced, the silence that matched.
	SilenceID *uuid.UUID `json:"silence_id,omitempty"`
	// SuppressedSinceLast: under a repeat limit, how many of its type and key were suppressed
	// since the previous one sent (its message says so).
	SuppressedSinceLast int `json:"suppressed_since_last,omitempty"`
}

// AttemptView is one attempt in a response.
type AttemptView struct {
	N               int       `json:"n"`
	StartedAt       time.Time `json:"started_at"`
	DurationMS      int       `json:"duration_ms"`
	StatusCode      *int      `json:"status_code"`
	Error           string    `json:"error"`
	ResponseExcerpt string    `json:"response_excerpt"`
	TraceID         string    `json:"trace_id,omitempty"` // with tracing on: the attempt's OpenTelemetry trace
}

// DeliveryDetail is a delivery with every attempt (GET /v1/deliveries/{id}).
type DeliveryDetail struct {
	DeliveryView
	AttemptLog []AttemptView `json:"attempt_log"`
}

func deliveryView(d *store.Delivery) DeliveryView {
	v := DeliveryView{ID: d.ID, WebhookID: d.WebhookID, EventID: d.EventID, EventType: d.EventType, Status: d.Status,
		Attempts: d.Attempts, LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if d.NextAttemptAt.Valid && !store.Final(d.Status) {
		t := d.NextAttemptAt.Time
		v.NextAttemptAt = &t
	}
	if d.LastStatusCode.Valid {
		c := int(d.LastStatusCode.Int32)
		v.LastStatusCode = &c
	}
	if d.EventTypeVersion.Valid {
		n := int(d.EventTypeVersion.Int32)
		v.EventTypeVersion = &n
	}
	if d.SilenceID.Valid {
		id := d.SilenceID.UUID
		v.SilenceID = &id
	}
	v.SuppressedSinceLast = d.SuppressedSinceLast
	return v
}

func (a *API) attemptViews(d *store.Delivery, as []store.AttemptRow) []AttemptView {
	out := make([]AttemptView, len(as))
	for i, at := range as {
		out[i] = AttemptView{N: at.N, StartedAt: at.StartedAt, DurationMS: at.DurationMS, Error: at.Error, TraceID: at.TraceID.String}
		if at.StatusCode.Valid {
			c := int(at.StatusCode.Int32)
			out[i].StatusCode = &c
		}
		if len(at.Excerpt) > 0 {
			if b, err := a.Codec.Box.Open(at.Excerpt, deliver.ExcerptAAD(d.ID)); err == nil {
				out[i].ResponseExcerpt = string(b)
			}
		}
	}
	return out
}

var statuses = map[string]bool{store.StatusPending: true, store.StatusRetrying: true, store.StatusSucceeded: true, store.StatusFailed: true,
	store.StatusSilenced: true, store.StatusSuppressed: true}

func (a *API) listDeliveries(c echo.Context) error {
	id, err := parseID(c, "webhook")
	if err != nil {
		return err
	}
	p, err := pageParams(c, true)
	if err != nil {
		return err
	}
	if s := c.QueryParam("status"); s != "" {
		if !statuses[s] {
			return httpx.Errorf(http.StatusBadRequest, "status must be pending, retrying, succeeded, failed, silenced or suppressed, got %q", s)
		}
		p.Status = s
	}
	if cur := c.QueryParam("cursor"); cur != "" {
		if p.AtTime, p.AtID, err = decodeCursor(cur); err != nil {
			return err
		}
		p.After = true
	}
	ctx := c.Request().Context()
	if _, err := a.webhook(ctx, id); err != nil {
		return err
	}
	ds, err := a.DB.ListDeliveries(ctx, id, p)
	if err != nil {
		return err
	}
	out := make([]DeliveryView, len(ds))
	for i := range ds {
		out[i] = deliveryView(&ds[i])
	}
	var next *string
	if len(ds) == p.Limit {
		last := ds[len(ds)-1]
		s := encodeCursor(last.CreatedAt, last.ID)
		next = &s
	}
	return c.JSON(http.StatusOK, map[string]any{"deliveries": out, "next_cursor": next})
}

func (a *API) detail(ctx context.Context, id uuid.UUID) (*DeliveryDetail, error) {
	d, as, err := a.DB.GetDelivery(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("delivery", id)
	}
	if err != nil {
		return nil, err
	}
	return &DeliveryDetail{DeliveryView: deliveryView(d), AttemptLog: a.attemptViews(d, as)}, nil
}

func (a *API) getDelivery(c echo.Context) error {
	id, err := parseID(c, "delivery")
	if err != nil {
		return err
	}
	d, err := a.detail(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

func (a *API) listAttempts(c echo.Context) error {
	id, err := parseID(c, "delivery")
	if err != nil {
		return err
	}
	d, err := a.detail(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"attempts": d.AttemptLog})
}

// retryDelivery attempts a delivery now, whatever its status, with the same webhook-id, and
// answers with the delivery and the new attempt.
func (a *API) retryDelivery(c echo.Context) error {
	id, err := parseID(c, "delivery")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := a.Cache.Refresh(ctx); err != nil {
		return err
	}
	claimed, err := a.DB.ClaimOne(ctx, id, a.opts.Lease)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("delivery", id)
	case errors.Is(err, store.ErrLeased):
		return httpx.Errorf(http.StatusConflict, "an attempt of this delivery is in flight; try again in a few seconds")
	case err != nil:
		return err
	}
	r, err := a.Engine.AttemptNow(ctx, claimed)
	if err != nil {
		return err
	}
	if err := a.audit(ctx, a.DB, c, "delivery.retry", claimed.WebhookID, id.String(),
		map[string]any{"attempt": r.Attempt.N, "result": r.Outcome.Result.String(), "status_code": r.Attempt.StatusCode}); err != nil {
		return err
	}
	a.Log.Info("delivery retried by hand", zap.String("delivery_id", id.String()), zap.Int("attempt", r.Attempt.N), zap.String("who", httpx.PrincipalOf(c).Name))
	d, err := a.detail(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}
