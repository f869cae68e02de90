package ui

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/webhooks"
)

// Webhooks is the webhook service the dashboard changes webhooks through: the same one, with
// the same rules and audit, as the admin API (*webhooks.Service).
type Webhooks interface {
	List(ctx context.Context) ([]*webhooks.View, error)
	Get(ctx context.Context, id uuid.UUID) (*webhooks.View, error)
	Create(ctx context.Context, who string, in *webhooks.Input) (*webhooks.View, error)
	Update(ctx context.Context, who string, id uuid.UUID, in *webhooks.Input) (*webhooks.View, error)
	Delete(ctx context.Context, who string, id uuid.UUID) error
	TestUnsaved(ctx context.Context, who string, in *webhooks.Input, event string) (*webhooks.TestResult, error)
	TestSaved(ctx context.Context, who string, id uuid.UUID, event string) (*webhooks.TestResult, error)
}

// who is the signed-in principal's name (the actor of audit entries).
func who(c echo.Context) string {
	if v := viewerOf(c); v != nil {
		return v.who.Name
	}
	return ""
}

// input reads a form's body as the service's input, as strictly as the admin API reads a
// request body (a number field typed as text is refused at its field).
func input(body map[string]any) (*webhooks.Input, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	var in webhooks.Input
	if err := webhooks.Decode(b, &in); err != nil {
		return nil, asAPIError(err)
	}
	return &in, nil
}

// asAPIError is a refusal of the webhook service as the admin API would have answered it
// (status, message, field problems); other errors are left as they are.
func asAPIError(err error) error {
	var e *webhooks.Error
	if !errors.As(err, &e) {
		return err
	}
	status := http.StatusBadRequest
	switch {
	case errors.Is(e, webhooks.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(e, webhooks.ErrInvalid), errors.Is(e, webhooks.ErrUnprocessable):
		status = http.StatusUnprocessableEntity
	}
	return &apiError{Status: status, Message: e.Message, Details: e.Problems}
}

// webhookID reads the :id path parameter as the admin API would (400 when it is not a UUID).
func webhookID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, asAPIError(webhooks.BadRequest("webhook id must be a UUID, got %q", c.Param("id")))
	}
	return id, nil
}

// create1 creates a webhook from a form's body.
func (u *UI) create1(c echo.Context, body map[string]any) (*webhooks.View, error) {
	in, err := input(body)
	if err != nil {
		return nil, err
	}
	v, err := u.opts.Webhooks.Create(c.Request().Context(), who(c), in)
	return v, asAPIError(err)
}

// update1 changes webhook id by a form's body.
func (u *UI) update1(c echo.Context, id uuid.UUID, body map[string]any) (*webhooks.View, error) {
	in, err := input(body)
	if err != nil {
		return nil, err
	}
	v, err := u.opts.Webhooks.Update(c.Request().Context(), who(c), id, in)
	return v, asAPIError(err)
}

// testUnsaved test-sends a form's body, not saved.
func (u *UI) testUnsaved(c echo.Context, body map[string]any, event string) (*webhooks.TestResult, error) {
	in, err := input(body)
	if err != nil {
		return nil, err
	}
	r, err := u.opts.Webhooks.TestUnsaved(c.Request().Context(), who(c), in, event)
	return r, asAPIError(err)
}
