package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Webhook is a webhooks row. URL and credentials are sealed by the caller.
type Webhook struct {
	ID                 uuid.UUID       `db:"id"`
	Name               string          `db:"name"`
	Description        string          `db:"description"`
	URLSealed          []byte          `db:"url_sealed"`
	URLHint            string          `db:"url_hint"`
	Provider           string          `db:"provider"`
	Events             pq.StringArray  `db:"events"`
	Filter             string          `db:"filter"`
	Active             bool            `db:"active"`
	AuthType           string          `db:"auth_type"`
	AuthSealed         []byte          `db:"auth_sealed"`
	AuthHint           string          `db:"auth_hint"`
	Template           string          `db:"template"`
	TemplateType       string          `db:"template_content_type"`
	RateLimitPerSecond sql.NullFloat64 `db:"rate_limit_per_second"`
	MaxAttempts        sql.NullInt32   `db:"max_attempts"`
	Timezone           string          `db:"timezone"`
	Redact             bool            `db:"redact"`
	Options            []byte          `db:"options"`
	Digest             []byte          `db:"digest"` // JSON; nil: none
	SendTraceparent    bool            `db:"send_traceparent"`
	Escalation         []byte          `db:"escalation"`  // JSON; nil: no alert policy
	FallbackID         uuid.NullUUID   `db:"fallback_id"` // where undeliverable events go
	DisabledReason     string          `db:"disabled_reason"`
	DisabledAt         sql.NullTime    `db:"disabled_at"`
	CreatedAt          time.Time       `db:"created_at"`
	UpdatedAt          time.Time       `db:"updated_at"`
}

// Health is the maintained health counters of a webhook plus its last-24-hours attempt counts.
type Health struct {
	ConsecutiveFailures int          `db:"consecutive_failures"`
	LastDeliveryAt      sql.NullTime `db:"last_delivery_at"`
	LastSuccessAt       sql.NullTime `db:"last_success_at"`
	FailingSince        sql.NullTime `db:"failing_since"`
	Succeeded24h        int64        `db:"succeeded_24h"`
	Failed24h           int64        `db:"failed_24h"`
}

// WebhookWithHealth is a webhook row with its health.
type WebhookWithHealth struct {
	Webhook
	Health
}

const webhookColumns = `w.id, w.name, w.description, w.url_sealed, w.url_hint, w.provider, w.events, w.filter,
	w.active, w.auth_type, w.auth_sealed, w.auth_hint, w.template, w.template_content_type, w.rate_limit_per_second, w.max_attempts,
	w.timezone, w.redact, w.options, w.digest, w.send_traceparent, w.escalation, w.fallback_id, w.disabled_reason, w.disabled_at, w.created_at, w.updated_at`

const healthColumns = `COALESCE(h.consecutive_failures, 0) AS consecutive_failures, h.last_delivery_at,
	h.last_success_at, h.failing_since,
	COALESCE((SELECT sum(s.attempts_succeeded) FROM webhook_stats s WHERE s.webhook_id = w.id AND s.hour > now() - interval '24 hours'), 0) AS succeeded_24h,
	COALESCE((SELECT sum(s.attempts_failed) FROM webhook_stats s WHERE s.webhook_id = w.id AND s.hour > now() - interval '24 hours'), 0) AS failed_24h`

// InsertWebhook stores a new webhook.
func InsertWebhook(ctx context.Context, q sqlx.ExtContext, w *Webhook) error {
	opts := string(w.Options)
	if opts == "" {
		opts = "{}"
	}
	return sqlx.GetContext(ctx, q, w, `INSERT INTO webhooks (id, name, description, url_sealed, url_hint, provider, events,
		filter, active, auth_type, auth_sealed, auth_hint, template, rate_limit_per_second, max_attempts, timezone,
		redact, options, template_content_type, digest, send_traceparent, escalation, fallback_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18::jsonb, $19, $20::jsonb, $21, $22::jsonb, $23)
		RETURNING `+webhookColumnsPlain,
		w.ID, w.Name, w.Description, w.URLSealed, w.URLHint, w.Provider, w.Events, w.Filter, w.Active,
		w.AuthType, w.AuthSealed, w.AuthHint, w.Template, w.RateLimitPerSecond, w.MaxAttempts, w.Timezone,
		w.Redact, opts, w.TemplateType, digestParam(w.Digest), w.SendTraceparent, digestParam(w.Escalation), w.FallbackID)
}

// digestParam is the digest column's value: NULL without a digest.
func digestParam(d []byte) any {
	if len(d) == 0 {
		return nil
	}
	return string(d)
}

const webhookColumnsPlain = `id, name, description, url_sealed, url_hint, provider, events, filter,
	active, auth_type, auth_sealed, auth_hint, template, template_content_type, rate_limit_per_second, max_attempts,
	timezone, redact, options, digest, send_traceparent, escalation, fallback_id, disabled_reason, disabled_at, created_at, updated_at`

// UpdateWebhook replaces every configurable column of w.ID and returns the stored row.
func UpdateWebhook(ctx context.Context, q sqlx.ExtContext, w *Webhook) error {
	opts := string(w.Options)
	if opts == "" {
		opts = "{}"
	}
	err := sqlx.GetContext(ctx, q, w, `UPDATE webhooks SET name = $2, description = $3, url_sealed = $4, url_hint = $5,
		provider = $6, events = $7, filter = $8, active = $9, auth_type = $10, auth_sealed = $11, auth_hint = $12,
		template = $13, rate_limit_per_second = $14, max_attempts = $15, timezone = $16, redact = $17,
		options = $18::jsonb, disabled_reason = $19, disabled_at = $20, template_content_type = $21, digest = $22::jsonb, send_traceparent = $23,
		escalation = $24::jsonb, fallback_id = $25, updated_at = now()
		WHERE id = $1 RETURNING `+webhookColumnsPlain,
		w.ID, w.Name, w.Description, w.URLSealed, w.URLHint, w.Provider, w.Events, w.Filter, w.Active,
		w.AuthType, w.AuthSealed, w.AuthHint, w.Template, w.RateLimitPerSecond, w.MaxAttempts, w.Timezone,
		w.Redact, opts, w.DisabledReason, w.DisabledAt, w.TemplateType, digestParam(w.Digest), w.SendTraceparent,
		digestParam(w.Escalation), w.FallbackID)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// GetWebhook returns one webhook with its health.
func GetWebhook(ctx context.Context, q sqlx.QueryerContext, id uuid.UUID) (*WebhookWithHealth, error) {
	var w WebhookWithHealth
	err := sqlx.GetContext(ctx, q, &w, `SELECT `+webhookColumns+`, `+healthColumns+`
		FROM webhooks w LEFT JOIN webhook_health h ON h.webhook_id = w.id WHERE w.id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &w, err
}

// ListWebhooks returns every webhook with its health, newest first.
func ListWebhooks(ctx context.Context, q sqlx.QueryerContext) ([]WebhookWithHealth, error) {
	out := []WebhookWithHealth{}
	err := sqlx.SelectContext(ctx, q, &out, `SELECT `+webhookColumns+`, `+healthColumns+`
		FROM webhooks w LEFT JOIN webhook_health h ON h.webhook_id = w.id ORDER BY w.created_at DESC, w.id DESC`)
	return out, err
}

// LoadWebhooks returns every webhook (for the matching cache) and the generation it reflects,
// read in one snapshot.
func (db *DB) LoadWebhooks(ctx context.Context) ([]Webhook, int64, error) {
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	var gen int64
	if err := tx.GetContext(ctx, &gen, `SELECT generation FROM webhook_generation`); err != nil {
		return nil, 0, err
	}
	out := []Webhook{}
	if err := tx.SelectContext(ctx, &out, `SELECT `+webhookColumnsPlain+` FROM webhooks`); err != nil {
		return nil, 0, err
	}
	return out, gen, tx.Commit()
}

// DeleteWebhook removes a webhook with its deliveries and attempts (and, by cascade, its
// health and stats) in one transaction.
func (db *DB) DeleteWebhook(ctx context.Context, id uuid.UUID) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM attempts a USING deliveries d WHERE d.webhook_id = $1 AND a.delivery_id = d.id`, id); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM deliveries WHERE webhook_id = $1`, id); err != nil {
		return err
	}
	for _, q := range []string{`DELETE FROM webhook_rate WHERE webhook_id = $1`, `DELETE FROM digest_windows WHERE webhook_id = $1`,
		`DELETE FROM digest_items WHERE webhook_id = $1`} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return err
		}
	}
	return tx.Commit()
}
