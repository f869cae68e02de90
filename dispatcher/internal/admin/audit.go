package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/httpx"
)

// audit records an action by the request's principal (a token fingerprint, never a token).
func (a *API) audit(ctx context.Context, q sqlx.ExecerContext, c echo.Context, action string, webhook uuid.UUID, target string, details any) error {
	return store.Audit(ctx, q, httpx.PrincipalOf(c).Name, action, webhook, target, details)
}

// summary is what the audit trail keeps of a created webhook: no secret, no chat URL.
func (a *API) summary(w *subscription.Webhook) map[string]any {
	return map[string]any{"name": w.Name, "provider": w.Provider, "url": a.Compiler.SafeURL(w),
		"events": w.Events, "active": w.Active, "auth": w.Auth.Type}
}

// diff lists the fields an update changed, secrets masked: a changed credential is reported as
// changed (and which kind), never with its value.
func (a *API) diff(old, cur *subscription.Webhook) map[string]any {
	ch := map[string]any{}
	field := func(name string, from, to any) {
		if !reflect.DeepEqual(from, to) {
			ch[name] = map[string]any{"from": from, "to": to}
		}
	}
	field("name", old.Name, cur.Name)
	field("description", old.Description, cur.Description)
	field("url", a.Compiler.SafeURL(old), a.Compiler.SafeURL(cur))
	if old.URL != cur.URL && a.Compiler.SafeURL(old) == a.Compiler.SafeURL(cur) {
		ch["url"] = map[string]any{"changed": true}
	}
	field("provider", old.Provider, cur.Provider)
	field("events", old.Events, cur.Events)
	field("filter", old.Filter, cur.Filter)
	field("active", old.Active, cur.Active)
	field("rate_limit_per_second", old.RateLimitPerSecond, cur.RateLimitPerSecond)
	field("max_attempts", old.MaxAttempts, cur.MaxAttempts)
	field("timezone", old.Timezone, cur.Timezone)
	field("redact", old.Redact, cur.Redact)
	field("send_traceparent", old.SendTraceparent, cur.SendTraceparent)
	field("template_content_type", old.TemplateType, cur.TemplateType)
	if old.Template != cur.Template {
		ch["template"] = map[string]any{"changed": true}
	}
	if string(old.Options) != string(cur.Options) {
		ch["options"] = map[string]any{"from": json.RawMessage(orEmpty(old.Options)), "to": json.RawMessage(orEmpty(cur.Options))}
	}
	if !reflect.DeepEqual(old.Escalation, cur.Escalation) {
		ch["escalation"] = map[string]any{"from": old.Escalation, "to": cur.Escalation}
	}
	field("fallback", old.Fallback, cur.Fallback)
	if digestChanged(old.Digest, cur.Digest) {
		ch["digest"] = map[string]any{"from": old.Digest, "to": cur.Digest}
	}
	oa, ca := old.Auth, cur.Auth
	switch {
	case oa.Type != ca.Type:
		ch["auth"] = map[string]any{"from": oa.Type, "to": ca.Type}
	case oa.Secret != ca.Secret:
		ch["auth"] = map[string]any{"type": ca.Type, "secret": "rotated", "previous_valid_until": ca.PreviousUntil}
	case oa.Token != ca.Token:
		ch["auth"] = map[string]any{"type": ca.Type, "token": "changed"}
	case oa.PrivateKeyPEM != ca.PrivateKeyPEM || oa.ClientID != ca.ClientID || oa.TokenURL != ca.TokenURL || oa.KeyID != ca.KeyID || oa.Scope != ca.Scope:
		ch["auth"] = map[string]any{"type": ca.Type, "client_id": ca.ClientID, "key_id": ca.KeyID, "private_key": keyChange(oa, ca)}
	}
	return ch
}

func keyChange(a, b credential.Config) string {
	if a.PrivateKeyPEM != b.PrivateKeyPEM {
		return "changed"
	}
	return "unchanged"
}

func orEmpty(b json.RawMessage) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

// AuditView is one audit record in a response.
type AuditView struct {
	ID        int64           `json:"id"`
	At        time.Time       `json:"at"`
	Actor     string          `json:"actor"`
	Action    string          `json:"action"`
	WebhookID *uuid.UUID      `json:"webhook_id"`
	TargetID  string          `json:"target_id,omitempty"`
	Details   json.RawMessage `json:"details"`
}

func (a *API) listAudit(c echo.Context) error {
	p, err := pageParams(c, false)
	if err != nil {
		return err
	}
	if s := c.QueryParam("webhook_id"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			return httpx.Errorf(http.StatusBadRequest, "webhook_id must be a UUID, got %q", s)
		}
		p.Webhook = id
	}
	if cur := c.QueryParam("cursor"); cur != "" {
		if p.AtSeq, err = decodeSeqCursor(cur); err != nil {
			return err
		}
		p.After = true
	}
	entries, err := a.DB.ListAudit(c.Request().Context(), p)
	if err != nil {
		return err
	}
	out := make([]AuditView, len(entries))
	for i, e := range entries {
		out[i] = AuditView{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, TargetID: e.TargetID, Details: e.Details}
		if e.WebhookID.Valid {
			id := e.WebhookID.UUID
			out[i].WebhookID = &id
		}
	}
	var next *string
	if len(entries) == p.Limit {
		s := encodeSeqCursor(entries[len(entries)-1].ID)
		next = &s
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": out, "next_cursor": next})
}
