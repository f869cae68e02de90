package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/httpx"
)

// audit records an action by the request's principal (a token fingerprint, never a token).
func (a *API) audit(ctx context.Context, q sqlx.ExecerContext, c echo.Context, action string, webhook uuid.UUID, target string, details any) error {
	return store.Audit(ctx, q, httpx.PrincipalOf(c).Name, action, webhook, target, details)
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
