package admin

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/replay"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/httpx"
)

type replayInput struct {
	Since  string `json:"since"`
	Until  string `json:"until"`
	Status string `json:"status"`
}

// replay re-queues a webhook's deliveries of a window (see package replay): by default the
// failed ones and the events that matched while the webhook was inactive; status "failed",
// "succeeded" or "missing" narrows it. It answers how many it re-queued and created.
func (a *API) replay(c echo.Context) error {
	id, err := parseID(c, "webhook")
	if err != nil {
		return err
	}
	var in replayInput
	if err := decode(c, &in); err != nil {
		return err
	}
	var ps []subscription.Problem
	since, until := time.Time{}, a.now()
	if in.Since == "" {
		ps = append(ps, subscription.Problem{Path: "/since", Message: "is required (an RFC 3339 time)"})
	} else if since, err = time.Parse(time.RFC3339Nano, in.Since); err != nil {
		ps = append(ps, subscription.Problem{Path: "/since", Message: "must be an RFC 3339 time such as 2024-01-15T10:00:00Z"})
	}
	if in.Until != "" {
		if until, err = time.Parse(time.RFC3339Nano, in.Until); err != nil {
			ps = append(ps, subscription.Problem{Path: "/until", Message: "must be an RFC 3339 time such as 2024-01-15T10:00:00Z"})
		}
	}
	if len(ps) == 0 && !since.Before(until) {
		ps = append(ps, subscription.Problem{Path: "/until", Message: "must be after since (and since must be in the past)"})
	}
	switch in.Status {
	case replay.Undone, replay.Failed, replay.Succeeded, replay.Missing:
	default:
		ps = append(ps, subscription.Problem{Path: "/status", Message: "must be failed, succeeded or missing (or absent: failed and missing)"})
	}
	if len(ps) > 0 {
		return &httpx.Error{Status: http.StatusUnprocessableEntity, Message: "the replay request is not valid; see details", Details: ps}
	}
	ctx := c.Request().Context()
	if err := a.Cache.Refresh(ctx); err != nil {
		return err
	}
	w := a.Cache.Get(id)
	if w == nil {
		return notFound("webhook", id)
	}
	if !w.Active {
		return httpx.Errorf(http.StatusConflict, "the webhook is inactive: activate it first (PATCH {\"active\": true}), then replay")
	}
	res, err := a.Replayer.Replay(ctx, replay.Request{Webhook: w, Since: since, Until: until, Status: in.Status,
		Limit: a.opts.ReplayLimit, MaxScan: a.opts.ReplayMaxScan})
	if err != nil {
		return err
	}
	a.Engine.Poke()
	if err := a.audit(ctx, a.DB, c, "webhook.replay", id, "", map[string]any{"since": since, "until": until,
		"status": in.Status, "requeued": res.Requeued, "created": res.Created, "capped": res.Capped}); err != nil {
		return err
	}
	a.Log.Info("webhook replayed", zap.String("webhook_id", id.String()), zap.Int("requeued", res.Requeued),
		zap.Int("created", res.Created), zap.String("who", httpx.PrincipalOf(c).Name))
	return c.JSON(http.StatusAccepted, res)
}

// StatsView is GET /v1/stats.
type StatsView struct {
	Window                  string            `json:"window"`
	Totals                  map[string]int64  `json:"totals"`
	ByProvider              any               `json:"by_provider"`
	RetryBacklog            int64             `json:"retry_backlog"`
	PendingDeliveries       int64             `json:"pending_deliveries"`
	OldestPendingAgeSeconds float64           `json:"oldest_pending_age_seconds"`
	DisabledWebhooks        []DisabledWebhook `json:"disabled_webhooks"`
	// SealedWithPreviousKeys counts the values still sealed with a key other than
	// TASKHOOK_ENCRYPTION_KEY after a rotation (null before the first count).
	SealedWithPreviousKeys *int64 `json:"sealed_with_previous_keys"`
}

// DisabledWebhook is an inactive webhook in the stats.
type DisabledWebhook struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Reason     string     `json:"reason"`
	DisabledAt *time.Time `json:"disabled_at"`
}

func (a *API) stats(c echo.Context) error {
	window := 24 * time.Hour
	if s := c.QueryParam("window"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Hour || d > 90*24*time.Hour {
			return httpx.Errorf(http.StatusBadRequest, "window must be a Go duration from 1h to 2160h, got %q", s)
		}
		window = d
	}
	ctx := c.Request().Context()
	by, err := a.DB.Stats(ctx, window)
	if err != nil {
		return err
	}
	out := StatsView{Window: window.String(), Totals: map[string]int64{}, ByProvider: by, DisabledWebhooks: []DisabledWebhook{}}
	for _, p := range by {
		out.Totals["deliveries_succeeded"] += p.DeliveriesSucceeded
		out.Totals["deliveries_failed"] += p.DeliveriesFailed
		out.Totals["attempts_succeeded"] += p.AttemptsSucceeded
		out.Totals["attempts_failed"] += p.AttemptsFailed
		out.Totals["deliveries_silenced"] += p.DeliveriesSilenced
		out.Totals["deliveries_suppressed"] += p.DeliveriesSuppressed
	}
	b, err := a.DB.RetryBacklog(ctx)
	if err != nil {
		return err
	}
	out.RetryBacklog, out.PendingDeliveries = b.Retrying, b.Pending
	if a.Sealed != nil {
		if n := a.Sealed(); n >= 0 {
			out.SealedWithPreviousKeys = &n
		}
	}
	if b.OldestPending.Valid {
		out.OldestPendingAgeSeconds = a.now().Sub(b.OldestPending.Time).Seconds()
	}
	ds, err := a.DB.DisabledWebhooks(ctx)
	if err != nil {
		return err
	}
	for _, d := range ds {
		dw := DisabledWebhook{ID: d.ID.String(), Name: d.Name, Reason: d.DisabledReason}
		if d.DisabledAt.Valid {
			t := d.DisabledAt.Time
			dw.DisabledAt = &t
		}
		out.DisabledWebhooks = append(out.DisabledWebhooks, dw)
	}
	return c.JSON(http.StatusOK, out)
}
