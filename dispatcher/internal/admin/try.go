package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/httpx"
)

// TestResult is the answer of the test endpoints.
type TestResult struct {
	OK              bool   `json:"ok"`
	StatusCode      *int   `json:"status_code"`
	DurationMS      int64  `json:"duration_ms"`
	ResponseExcerpt string `json:"response_excerpt"`
	Error           string `json:"error"`
	WebhookID       string `json:"webhook_id_header"` // the webhook-id the test request carried
	EventType       string `json:"event_type"`
}

// sampleEvent is the catalog's example of typ (the Canvas seed for tasks; no real patient)
// with a fresh event_id and occurred_at now.
func (a *API) sampleEvent(typ string, now time.Time) ([]byte, error) {
	t, _, ok := a.Compiler.Catalog.Lookup(typ)
	if !ok {
		return nil, fmt.Errorf("no example for %q", typ)
	}
	var doc map[string]any
	if err := json.Unmarshal(t.Example, &doc); err != nil {
		return nil, err
	}
	doc["event_id"] = "test-" + uuid.NewString()
	doc["occurred_at"] = now.UTC().Format(time.RFC3339)
	return json.Marshal(doc)
}

// testSubject is the event type to send: ?event=battery.critical, else the webhook's first.
func (a *API) testSubject(c echo.Context, w *subscription.Compiled) (string, error) {
	cat := a.Compiler.Catalog
	if s := c.QueryParam("event"); s != "" {
		if !cat.IsType(s) {
			return "", httpx.Errorf(http.StatusBadRequest, "event must be one of %s, got %q", strings.Join(cat.TypeNames(), ", "), s)
		}
		if _, f, _ := cat.Lookup(s); !notify.Renders(w.Provider, f.Name) {
			return "", httpx.Errorf(http.StatusUnprocessableEntity, "provider %s does not render %s events (it renders: %s); choose another ?event=",
				w.Provider.Name(), f.Name, strings.Join(w.Provider.(notify.FamilyRenderer).Families(), ", "))
		}
		return s, nil
	}
	for _, s := range cat.TypeNames() {
		if w.Wants(s) {
			return s, nil
		}
	}
	return cat.TypeNames()[0], nil
}

// try renders a sample event through the webhook's real provider, signs it and sends it now
// through the SSRF-safe client. Nothing is recorded as a delivery; nothing is retried.
func (a *API) try(c echo.Context, w *subscription.Compiled) (*TestResult, error) {
	subject, err := a.testSubject(c, w)
	if err != nil {
		return nil, err
	}
	now := a.now()
	raw, err := a.sampleEvent(subject, now)
	if err != nil {
		return nil, err
	}
	msg := &notify.Message{DeliveryID: "test_" + uuid.NewString(), EventID: "test", Type: subject, Timestamp: now, Event: event.NewLazy(raw)}
	resp, out, took := a.Engine.Try(c.Request().Context(), w, msg)
	r := &TestResult{OK: out.Result == notify.Success, DurationMS: took.Milliseconds(), ResponseExcerpt: string(resp.Body),
		WebhookID: msg.DeliveryID, EventType: subject}
	if resp.StatusCode != 0 {
		code := resp.StatusCode
		r.StatusCode = &code
	}
	if !r.OK {
		r.Error = out.Reason
	}
	return r, nil
}

// testUnsaved tests a webhook body before it is saved.
func (a *API) testUnsaved(c echo.Context) error {
	var in webhookInput
	if err := decode(c, &in); err != nil {
		return err
	}
	w := &subscription.Webhook{ID: uuid.New(), Active: true}
	in.apply(w)
	subscription.Normalize(w)
	if w.Auth.Type == credential.HMAC && w.Auth.Secret == "" {
		w.Auth.Secret = credential.GenerateSecret() // signs the test; the caller has no use for it
	}
	if err := completeSMART(&w.Auth); err != nil {
		return err
	}
	if ps := a.Compiler.Check(c.Request().Context(), w); len(ps) > 0 {
		return unprocessable(ps)
	}
	cw, err := a.Compiler.Compile(w)
	if err != nil {
		return err
	}
	r, err := a.try(c, cw)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := a.audit(ctx, a.DB, c, "webhook.test", uuid.Nil, "", map[string]any{"url": a.Compiler.SafeURL(w),
		"provider": w.Provider, "ok": r.OK, "status_code": r.StatusCode}); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// testSaved tests a stored webhook (active or not).
func (a *API) testSaved(c echo.Context) error {
	id, err := parseID(c, "webhook")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := a.Cache.Refresh(ctx); err != nil {
		return err
	}
	w := a.Cache.Get(id)
	if w == nil {
		return notFound("webhook", id)
	}
	r, err := a.try(c, w)
	if err != nil {
		return err
	}
	if err := a.audit(ctx, a.DB, c, "webhook.test", id, "", map[string]any{"ok": r.OK, "status_code": r.StatusCode}); err != nil {
		return err
	}
	a.Log.Info("webhook tested", zap.String("webhook_id", id.String()), zap.Bool("ok", r.OK), zap.String("who", httpx.PrincipalOf(c).Name))
	return c.JSON(http.StatusOK, r)
}
