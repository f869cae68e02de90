// Package admin serves the dispatcher's admin JSON API under bearer tokens with admin (read and
// write) and viewer (read) roles: webhooks (create, list, get, update, delete, test before
// save), the delivery log (with every attempt), repair (retry a delivery, replay a window),
// stats and the audit trail.
package admin

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

	"github.com/taskhook/taskhook/dispatcher/internal/alert"
	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/credential/smart"
	"github.com/taskhook/taskhook/dispatcher/internal/deliver"
	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/due"
	"github.com/taskhook/taskhook/dispatcher/internal/replay"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/httpx"
	"github.com/taskhook/taskhook/pkg/jsonx"
)

// MaxBodyBytes bounds an admin request body.
const MaxBodyBytes = 256 << 10

// Options tunes the API.
type Options struct {
	RedAfter           int           // consecutive failures that make a webhook red
	DefaultMaxAttempts int           // max_attempts shown when a webhook sets none
	RotationGrace      time.Duration // how long a rotated hmac secret keeps signing
	ReplayLimit        int           // most deliveries one replay re-queues or creates
	ReplayMaxScan      int           // most stream messages one replay reads
	Lease              time.Duration // lease of a manual retry
	Due                *due.Rules    // reminder rules; nil when TASKHOOK_DUE_EVENTS is off
	PublicURL          string        // TASKHOOK_PUBLIC_URL: escalation needs it for its links
}

// Deps are the parts of the dispatcher the API drives.
type Deps struct {
	DB       *store.DB
	Codec    subscription.Codec
	Compiler *subscription.Compiler
	Cache    *subscription.Cache
	Engine   *deliver.Engine
	Replayer *replay.Replayer
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
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return httpx.Errorf(http.StatusBadRequest, "malformed JSON: more than one value in the body")
	}
	if e := jsonx.Check(body); e != nil { // a key twice, invalid UTF-8, a lone surrogate, NUL
		return unprocessable([]subscription.Problem{{Path: e.Path, Message: e.Message}})
	}
	return nil
}

func decodeError(err error) error {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		path := "/" + strings.ReplaceAll(ute.Field, ".", "/")
		return unprocessable([]subscription.Problem{{Path: path, Message: fmt.Sprintf("must be %s, got %s", jsonType(ute.Type.String()), article(ute.Value))}})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return unprocessable([]subscription.Problem{{Path: "/" + field, Message: "unknown field (check the spelling)"}})
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return httpx.Errorf(http.StatusBadRequest, "malformed JSON: %v", err)
	}
	return httpx.Errorf(http.StatusBadRequest, "malformed JSON: %v", err)
}

// jsonType names the JSON a Go type takes: "an array of strings" for []string.
func jsonType(goType string) string {
	goType = strings.TrimPrefix(goType, "*")
	if elem, ok := strings.CutPrefix(goType, "[]"); ok {
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(jsonType(elem), "a "), "an ") + "s"
	}
	switch {
	case strings.Contains(goType, "string"):
		return "a string"
	case strings.Contains(goType, "bool"):
		return "true or false"
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	}
	return "an object"
}

// article names the JSON kind json.UnmarshalTypeError reports ("string", "number", "array").
func article(kind string) string {
	switch kind {
	case "array", "object":
		return "an " + kind
	case "bool":
		return "true or false"
	case "string", "number":
		return "a " + kind
	}
	return kind
}

func unprocessable(ps []subscription.Problem) error {
	return &httpx.Error{Status: http.StatusUnprocessableEntity, Message: "the webhook is not valid; see details", Details: ps}
}

// completeSMART generates a smart_backend key pair when none is given (or rotate_key asks for a
// new one) and derives a stable key_id from the key when none is given.
func completeSMART(c *credential.Config) error {
	if c.Type != credential.SMARTBackend {
		return nil
	}
	if c.PrivateKeyPEM == "" || c.RotateKey {
		k, err := smart.Generate()
		if err != nil {
			return err
		}
		c.PrivateKeyPEM = k
		if c.RotateKey {
			c.KeyID = "" // a new key gets its own id
		}
	}
	c.RotateKey = false
	if c.KeyID == "" {
		id, err := smart.KeyID(c.PrivateKeyPEM)
		if err != nil {
			return unprocessable([]subscription.Problem{{Path: "/auth/private_key_pem", Message: err.Error()}})
		}
		c.KeyID = id
	}
	return nil
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

// webhookInput is the body of POST (and, with pointers left nil, of PATCH).
type webhookInput struct {
	Name               *string            `json:"name"`
	Description        *string            `json:"description"`
	URL                *string            `json:"url"`
	Provider           *string            `json:"provider"`
	Events             *[]string          `json:"events"`
	Filter             *string            `json:"filter"`
	Active             *bool              `json:"active"`
	Auth               *credential.Config `json:"auth"`
	Template           *string            `json:"template"`
	TemplateType       *string            `json:"template_content_type"`
	RateLimitPerSecond *float64           `json:"rate_limit_per_second"`
	MaxAttempts        *int               `json:"max_attempts"`
	Timezone           *string            `json:"timezone"`
	Redact             *bool              `json:"redact"`
	Options            json.RawMessage    `json:"options"`
	Digest             json.RawMessage    `json:"digest"` // absent: unchanged; null: off
	SendTraceparent    *bool              `json:"send_traceparent"`
	Escalation         json.RawMessage    `json:"escalation"` // absent: unchanged; null: off
	Fallback           json.RawMessage    `json:"fallback"`   // absent: unchanged; null: none
}

// apply copies the fields present in in onto w.
func (in *webhookInput) apply(w *subscription.Webhook) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&w.Name, in.Name)
	set(&w.Description, in.Description)
	set(&w.URL, in.URL)
	set(&w.Provider, in.Provider)
	set(&w.Filter, in.Filter)
	set(&w.Template, in.Template)
	set(&w.TemplateType, in.TemplateType)
	set(&w.Timezone, in.Timezone)
	if in.Events != nil {
		w.Events = *in.Events
		if w.Events == nil {
			w.Events = []string{}
		}
	}
	if in.Active != nil {
		w.Active = *in.Active
	}
	if in.Auth != nil {
		w.Auth = *in.Auth
	}
	if in.RateLimitPerSecond != nil {
		w.RateLimitPerSecond = *in.RateLimitPerSecond
	}
	if in.MaxAttempts != nil {
		w.MaxAttempts = *in.MaxAttempts
		if w.MaxAttempts == 0 {
			w.MaxAttempts = -1 // explicit 0 is invalid (1 to 50); absent means the default
		}
	}
	if in.Redact != nil {
		w.Redact = *in.Redact
	}
	if in.SendTraceparent != nil {
		w.SendTraceparent = *in.SendTraceparent
	}
	if in.Options != nil {
		w.Options = in.Options
	}
}

// AuthView is the auth object of a response: never a secret (except a secret Taskhook
// generated, returned once in the response that created it).
type AuthView struct {
	Type            string `json:"type"`
	Hint            string `json:"hint,omitempty"`
	ClientID        string `json:"client_id,omitempty"`
	TokenURL        string `json:"token_url,omitempty"`
	KeyID           string `json:"key_id,omitempty"`
	Scope           string `json:"scope,omitempty"`
	GeneratedSecret string `json:"secret,omitempty"`
}

// WebhookView is a webhook as the API shows it.
type WebhookView struct {
	ID                 uuid.UUID           `json:"id"`
	Name               string              `json:"name"`
	Description        string              `json:"description"`
	URL                string              `json:"url"`
	Provider           string              `json:"provider"`
	Events             []string            `json:"events"`
	Filter             string              `json:"filter"`
	Active             bool                `json:"active"`
	Auth               AuthView            `json:"auth"`
	Template           string              `json:"template"`
	TemplateType       string              `json:"template_content_type,omitempty"`
	RateLimitPerSecond *float64            `json:"rate_limit_per_second"`
	MaxAttempts        int                 `json:"max_attempts"`
	Timezone           string              `json:"timezone"`
	Redact             bool                `json:"redact"`
	Options            json.RawMessage     `json:"options,omitempty"`
	Digest             *digest.Spec        `json:"digest"`
	SendTraceparent    bool                `json:"send_traceparent"`
	Escalation         *alert.Policy       `json:"escalation"`
	Fallback           *uuid.UUID          `json:"fallback"`
	Health             subscription.Health `json:"health"`
	DisabledReason     string              `json:"disabled_reason,omitempty"`
	DisabledAt         *time.Time          `json:"disabled_at,omitempty"`
	CreatedAt          time.Time           `json:"created_at"`
	UpdatedAt          time.Time           `json:"updated_at"`
}

func (a *API) view(row *store.WebhookWithHealth, retrying bool) (*WebhookView, error) {
	w, err := a.Codec.FromRow(&row.Webhook)
	if err != nil {
		return nil, err
	}
	v := &WebhookView{ID: w.ID, Name: w.Name, Description: w.Description, URL: a.Compiler.URLHint(w),
		Provider: w.Provider, Events: w.Events, Filter: w.Filter, Active: w.Active,
		Auth:     AuthView{Type: w.Auth.Type, Hint: row.AuthHint},
		Template: w.Template, TemplateType: w.TemplateType, MaxAttempts: w.MaxAttempts, Timezone: w.Timezone, Redact: w.Redact, Options: w.Options,
		Digest: w.Digest, SendTraceparent: w.SendTraceparent, Escalation: w.Escalation,
		Health:         subscription.HealthOf(w.Active, row.Health, retrying, a.opts.RedAfter),
		DisabledReason: w.DisabledReason, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
	if w.Auth.Type == credential.SMARTBackend {
		v.Auth.ClientID, v.Auth.TokenURL, v.Auth.KeyID, v.Auth.Scope = w.Auth.ClientID, w.Auth.TokenURL, w.Auth.KeyID, w.Auth.Scope
	}
	if w.Fallback != uuid.Nil {
		f := w.Fallback
		v.Fallback = &f
	}
	if w.RateLimitPerSecond > 0 {
		r := w.RateLimitPerSecond
		v.RateLimitPerSecond = &r
	}
	if v.MaxAttempts == 0 {
		v.MaxAttempts = a.opts.DefaultMaxAttempts
	}
	if !w.DisabledAt.IsZero() {
		t := w.DisabledAt
		v.DisabledAt = &t
	}
	return v, nil
}

func (a *API) createWebhook(c echo.Context) error {
	var in webhookInput
	if err := decode(c, &in); err != nil {
		return err
	}
	w := &subscription.Webhook{ID: uuid.Must(uuid.NewV7()), Active: true}
	in.apply(w)
	if ps := parseDigest(in.Digest, w); len(ps) > 0 {
		return unprocessable(ps)
	}
	subscription.Normalize(w)
	generated := ""
	if w.Auth.Type == credential.HMAC && w.Auth.Secret == "" {
		w.Auth.Secret = credential.GenerateSecret()
		generated = w.Auth.Secret
	}
	if err := completeSMART(&w.Auth); err != nil {
		return err
	}
	ps := a.Compiler.Check(c.Request().Context(), w)
	more, err := alerting(c.Request().Context(), a.DB, in.Escalation, in.Fallback, w, a.opts.PublicURL)
	if err != nil {
		return err
	}
	if ps = append(ps, more...); len(ps) > 0 {
		return unprocessable(ps)
	}
	row, err := a.Codec.ToRow(w)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	tx, err := a.DB.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if err := store.InsertWebhook(ctx, tx, row); err != nil {
		return err
	}
	if err := settleDigest(ctx, tx, w.ID, nil, w.Digest, location(w.Timezone), a.now()); err != nil {
		return err
	}
	if err := a.audit(ctx, tx, c, "webhook.create", w.ID, "", a.summary(w)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	v, err := a.load(ctx, w.ID)
	if err != nil {
		return err
	}
	v.Auth.GeneratedSecret = generated
	a.Log.Info("webhook created", zap.String("webhook_id", w.ID.String()), zap.String("provider", w.Provider), zap.String("who", httpx.PrincipalOf(c).Name))
	c.Response().Header().Set(echo.HeaderLocation, "/v1/webhooks/"+w.ID.String())
	return c.JSON(http.StatusCreated, v)
}

func (a *API) listWebhooks(c echo.Context) error {
	ctx := c.Request().Context()
	rows, err := store.ListWebhooks(ctx, a.DB)
	if err != nil {
		return err
	}
	ids := make([]uuid.UUID, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	retrying, err := a.DB.HasRetrying(ctx, ids)
	if err != nil {
		return err
	}
	out := make([]*WebhookView, 0, len(rows))
	for i := range rows {
		v, err := a.view(&rows[i], retrying[rows[i].ID])
		if err != nil {
			a.Log.Error("webhook cannot be shown", zap.String("webhook_id", rows[i].ID.String()), zap.Error(err))
			continue
		}
		out = append(out, v)
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

// load reads one webhook's view.
func (a *API) load(ctx context.Context, id uuid.UUID) (*WebhookView, error) {
	row, err := a.webhook(ctx, id)
	if err != nil {
		return nil, err
	}
	retrying, err := a.DB.HasRetrying(ctx, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	return a.view(row, retrying[id])
}

func (a *API) getWebhook(c echo.Context) error {
	id, err := parseID(c, "webhook")
	if err != nil {
		return err
	}
	v, err := a.load(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (a *API) deleteWebhook(c echo.Context) error {
	id, err := parseID(c, "webhook")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	row, err := a.webhook(ctx, id)
	if err != nil {
		return err
	}
	if err := a.DB.DeleteWebhook(ctx, id); errors.Is(err, store.ErrNotFound) {
		return notFound("webhook", id)
	} else if err != nil {
		return err
	}
	if err := a.audit(ctx, a.DB, c, "webhook.delete", id, "", map[string]any{"name": row.Name, "provider": row.Provider}); err != nil {
		return err
	}
	a.Log.Info("webhook deleted", zap.String("webhook_id", id.String()), zap.String("who", httpx.PrincipalOf(c).Name))
	return c.NoContent(http.StatusNoContent)
}
