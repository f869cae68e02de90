// Package admin serves the dispatcher's admin JSON API under bearer tokens with admin (read and
// write) and viewer (read) roles: webhooks (create, list, get, update, delete, test before
// save), the delivery log (with every attempt), repair (retry a delivery, replay a window),
// stats and the audit trail.
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
	"github.com/taskhook/taskhook/dispatcher/internal/due"
	"github.com/taskhook/taskhook/dispatcher/internal/replay"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/dispatcher/internal/webhooks"
	"github.com/taskhook/taskhook/pkg/httpx"
)

// MaxBodyBytes bounds an admin request body.
const MaxBodyBytes = 256 << 10

// Options tunes the API.
type Options struct {
	ReplayLimit   int           // most deliveries one replay re-queues or creates
	ReplayMaxScan int           // most stream messages one replay reads
	Lease         time.Duration // lease of a manual retry
	Due           *due.Rules    // reminder rules; nil when TASKHOOK_DUE_EVENTS is off
}

// Deps are the parts of the dispatcher the API drives.
type Deps struct {
	DB       *store.DB
	Codec    subscription.Codec
	Cache    *subscription.Cache
	Engine   *deliver.Engine
	Replayer *replay.Replayer
	Webhooks *webhooks.Service // creates, changes, deletes and tests webhooks
	Log      *zap.Logger
	// Sealed is how many values are still sealed with previous keys (-1: not counted yet).
	Sealed func() int64
}

// API is the admin API.
type API struct {
	Deps
	opts Options
	now  func() time.Time
}

// New returns the admin API.
func New(deps Deps, opts Options) *API {
	return &API{Deps: deps, opts: opts, now: time.Now}
}

// Register mounts the routes on g (authenticated); writes, and anything that sends, require
// an admin token.
func (a *API) Register(g *echo.Group) {
	w := httpx.RequireWrite
	g.POST("/webhooks", a.createWebhook, w)
	g.GET("/webhooks", a.listWebhooks)
	g.POST("/webhooks/test", a.testUnsaved, w)
	g.GET("/webhooks/:id", a.getWebhook)
	g.PATCH("/webhooks/:id", a.patchWebhook, w)
	g.DELETE("/webhooks/:id", a.deleteWebhook, w)
	g.POST("/webhooks/:id/test", a.testSaved, w)
	g.GET("/webhooks/:id/deliveries", a.listDeliveries)
	g.POST("/webhooks/:id/replay", a.replay, w)
	g.GET("/deliveries/:id", a.getDelivery)
	g.GET("/deliveries/:id/attempts", a.listAttempts)
	g.POST("/deliveries/:id/retry", a.retryDelivery, w)
	g.GET("/stats", a.stats)
	g.GET("/audit", a.listAudit)
	g.GET("/tasks/:task_id", a.getTask)
}

// decode reads a JSON body strictly: 415 for another content type, 400 for malformed JSON,
// 422 for unknown fields or wrong types (with the field's JSON pointer).
func decode(c echo.Context, v any) error {
	body, err := httpx.ReadJSON(c, MaxBodyBytes)
	if err != nil {
		return err
	}
	return httpError(webhooks.Decode(body, v))
}

// httpError is the answer to a refusal of the webhook service: 404, 422 (with the fields'
// JSON pointers) or 400, each with the service's message; other errors are left as they are.
func httpError(err error) error {
	var e *webhooks.Error
	if !errors.As(err, &e) {
		return err
	}
	switch {
	case errors.Is(e, webhooks.ErrNotFound):
		return &httpx.Error{Status: http.StatusNotFound, Message: e.Message}
	case errors.Is(e, webhooks.ErrInvalid):
		return &httpx.Error{Status: http.StatusUnprocessableEntity, Message: e.Message, Details: e.Problems}
	case errors.Is(e, webhooks.ErrUnprocessable):
		return &httpx.Error{Status: http.StatusUnprocessableEntity, Message: e.Message}
	}
	return &httpx.Error{Status: http.StatusBadRequest, Message: e.Message}
}

// parseID reads the :id path parameter (400 when it is not a UUID).
func parseID(c echo.Context, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, httpx.Errorf(http.StatusBadRequest, "%s id must be a UUID, got %q", what, c.Param("id"))
	}
	return id, nil
}

func notFound(what string, id uuid.UUID) error {
	return httpx.Errorf(http.StatusNotFound, "no %s with id %s", what, id)
}

// The webhook views and the test result are the service's (aliases keep the API's names).
type (
	AuthView    = webhooks.AuthView
	WebhookView = webhooks.View
	TestResult  = webhooks.TestResult
)

// who is the request's principal: the actor of the audit entries (a token's fingerprint name).
func who(c echo.Context) string { return httpx.PrincipalOf(c).Name }

func (a *API) createWebhook(c echo.Context) error {
	var in webhooks.Input
	if err := decode(c, &in); err != nil {
		return err
	}
	v, err := a.Webhooks.Create(c.Request().Context(), who(c), &in)
	if err != nil {
		return httpError(err)
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/webhooks/"+v.ID.String())
	return c.JSON(http.StatusCreated, v)
}

func (a *API) listWebhooks(c echo.Context) error {
	out, err := a.Webhooks.List(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"webhooks": out})
}

// webhook reads one webhook's row; an unknown id is a 404.
func (a *API) webhook(ctx context.Context, id uuid.UUID) (*store.WebhookWithHealth, error) {
	row, err := store.GetWebhook(ctx, a.DB, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("webhook", id)
	}
	return row, err
}

func (a *API) getWebhook(c echo.Context) error {
	id, err := parseID(c, "webhook")
	if err != nil {
		return err
	}
	v, err := a.Webhooks.Get(c.Request().Context(), id)
	if err != nil {
		return httpError(err)
	}
	return c.JSON(http.StatusOK, v)
}

// patchWebhook changes the fields present in the body (webhooks.Service.Update says how).
func (a *API) patchWebhook(c echo.Context) error {
	id, err := parseID(c, "webhook")
	if err != nil {
		return err
	}
	var in webhooks.Input
	if err := decode(c, &in); err != nil {
		return err
	}
	v, err := a.Webhooks.Update(c.Request().Context(), who(c), id, &in)
	if err != nil {
		return httpError(err)
	}
	return c.JSON(http.StatusOK, v)
}

func (a *API) deleteWebhook(c echo.Context) error {
	id, err := parseID(c, "webhook")
	if err != nil {
		return err
	}
	if err := a.Webhooks.Delete(c.Request().Context(), who(c), id); err != nil {
		return httpError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// testUnsaved tests a webhook body before it is saved.
func (a *API) testUnsaved(c echo.Context) error {
	var in webhooks.Input
	if err := decode(c, &in); err != nil {
		return err
	}
	r, err := a.Webhooks.TestUnsaved(c.Request().Context(), who(c), &in, c.QueryParam("event"))
	if err != nil {
		return httpError(err)
	}
	return c.JSON(http.StatusOK, r)
}

// testSaved tests a stored webhook (active or not).
func (a *API) testSaved(c echo.Context) error {
	id, err := parseID(c, "webhook")
	if err != nil {
		return err
	}
	r, err := a.Webhooks.TestSaved(c.Request().Context(), who(c), id, c.QueryParam("event"))
	if err != nil {
		return httpError(err)
	}
	return c.JSON(http.StatusOK, r)
}
