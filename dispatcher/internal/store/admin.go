package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Page is a keyset position in a list ordered newest first: (created_at, id) of the last row
// of the previous page.
type Page struct {
	After   bool
	AtTime  time.Time
	AtID    uuid.UUID
	AtSeq   int64 // for lists keyed by a sequence (audit)
	Limit   int
	Status  string    // filter, "" for all
	Since   time.Time // zero: no lower bound
	Webhook uuid.UUID // filter, uuid.Nil for all (audit)
}

// ListDeliveries returns a webhook's deliveries newest first, one page at a time (keyset
// pagination on (created_at, id): the cost of a page does not grow with its position).
func (db *DB) ListDeliveries(ctx context.Context, webhook uuid.UUID, p Page) ([]Delivery, error) {
	out := []Delivery{}
	args := []any{webhook, p.Limit}
	q := `SELECT ` + deliveryColumns + ` FROM deliveries WHERE webhook_id = $1`
	if p.Status != "" {
		args = append(args, p.Status)
		q += ` AND status = $3`
	}
	if !p.Since.IsZero() {
		args = append(args, p.Since)
		q += ` AND created_at >= $` + itoa(len(args))
	}
	if p.After {
		args = append(args, p.AtTime, p.AtID)
		// created_at <= the cursor's (implied) skips the newer days' partitions.
		q += ` AND created_at <= $` + itoa(len(args)-1) + ` AND (created_at, id) < ($` + itoa(len(args)-1) + `, $` + itoa(len(args)) + `)`
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT $2`
	err := db.SelectContext(ctx, &out, q, args...)
	return out, err
}

func itoa(n int) string { return strconv.Itoa(n) }

// Requeue makes deliveries due now (a manual retry, a replay). Only rows not leased by a
// replica at this moment are changed; it returns the ids it changed.
func Requeue(ctx context.Context, q sqlx.QueryerContext, ids []uuid.UUID) ([]uuid.UUID, error) {
	out := []uuid.UUID{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `UPDATE deliveries SET status = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END,
			next_attempt_at = now(), due_at = now(), lease_token = NULL, updated_at = now()
		WHERE id = ANY($1::uuid[]) AND (lease_token IS NULL OR due_at < now())
		RETURNING id`, pq.Array(uuidStrings(ids)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// FinalDeliveries lists a webhook's final deliveries created in [since, until) with status
// (succeeded or failed; "" for both), at most limit, oldest first.
func (db *DB) FinalDeliveries(ctx context.Context, webhook uuid.UUID, since, until time.Time, status string, limit int) ([]uuid.UUID, error) {
	out := []uuid.UUID{}
	statuses := []string{StatusSucceeded, StatusFailed}
	if status != "" {
		statuses = []string{status}
	}
	err := db.SelectContext(ctx, &out, `SELECT id FROM deliveries WHERE webhook_id = $1 AND created_at >= $2 AND created_at < $3
		AND status = ANY($4::text[]) ORDER BY created_at LIMIT $5`, webhook, since, until, pq.Array(statuses), limit)
	return out, err
}

// AuditEntry is one audit record.
type AuditEntry struct {
	ID        int64           `db:"id"`
	At        time.Time       `db:"at"`
	Actor     string          `db:"actor"`
	Action    string          `db:"action"`
	WebhookID uuid.NullUUID   `db:"webhook_id"`
	TargetID  string          `db:"target_id"`
	Details   json.RawMessage `db:"details"`
}

// Audit records an action.
func Audit(ctx context.Context, q sqlx.ExecerContext, actor, action string, webhook uuid.UUID, target string, details any) error {
	b, err := json.Marshal(details)
	if err != nil {
		return err
	}
	wh := uuid.NullUUID{UUID: webhook, Valid: webhook != uuid.Nil}
	_, err = q.ExecContext(ctx, `INSERT INTO audit_log (actor, action, webhook_id, target_id, details) VALUES ($1, $2, $3, $4, $5::jsonb)`,
		actor, action, wh, target, string(b))
	return err
}

// ListAudit returns audit records newest first (keyset on id), optionally for one webhook.
func (db *DB) ListAudit(ctx context.Context, p Page) ([]AuditEntry, error) {
	out := []AuditEntry{}
	args := []any{p.Limit}
	q := `SELECT id, at, actor, action, webhook_id, target_id, details FROM audit_log WHERE true`
	if p.Webhook != uuid.Nil {
		args = append(args, p.Webhook)
		q += ` AND webhook_id = $` + itoa(len(args))
	}
	if p.After {
		args = append(args, p.AtSeq)
		q += ` AND id < $` + itoa(len(args))
	}
	q += ` ORDER BY id DESC LIMIT $1`
	err := db.SelectContext(ctx, &out, q, args...)
	return out, err
}

// HasRetrying reports which of the webhooks have deliveries waiting for a retry.
func (db *DB) HasRetrying(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	out := map[uuid.UUID]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT w FROM unnest($1::uuid[]) AS w
		WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w AND d.status = 'retrying')`, pq.Array(uuidStrings(ids)))
	if err != nil {
		return nil, err
	}
	return out, collectIDs(rows, out)
}

// ProviderStats is one line of GET /v1/stats.
type ProviderStats struct {
	Provider             string `db:"provider" json:"provider"`
	DeliveriesSucceeded  int64  `db:"deliveries_succeeded" json:"deliveries_succeeded"`
	DeliveriesFailed     int64  `db:"deliveries_failed" json:"deliveries_failed"`
	AttemptsSucceeded    int64  `db:"attempts_succeeded" json:"attempts_succeeded"`
	AttemptsFailed       int64  `db:"attempts_failed" json:"attempts_failed"`
	DeliveriesSilenced   int64  `db:"deliveries_silenced" json:"deliveries_silenced"`
	DeliveriesSuppressed int64  `db:"deliveries_suppressed" json:"deliveries_suppressed"`
}

// Stats sums the hourly counters of the last window by provider.
func (db *DB) Stats(ctx context.Context, window time.Duration) ([]ProviderStats, error) {
	out := []ProviderStats{}
	err := db.SelectContext(ctx, &out, `SELECT w.provider, COALESCE(sum(s.deliveries_succeeded), 0) AS deliveries_succeeded,
			COALESCE(sum(s.deliveries_failed), 0) AS deliveries_failed, COALESCE(sum(s.attempts_succeeded), 0) AS attempts_succeeded,
			COALESCE(sum(s.attempts_failed), 0) AS attempts_failed,
			COALESCE(sum(s.deliveries_silenced), 0) AS deliveries_silenced, COALESCE(sum(s.deliveries_suppressed), 0) AS deliveries_suppressed
		FROM webhook_stats s JOIN webhooks w ON w.id = s.webhook_id
		WHERE s.hour > now() - make_interval(secs => $1) - interval '1 hour'
		GROUP BY w.provider ORDER BY w.provider`, window.Seconds())
	return out, err
}

// DisabledWebhooks lists the inactive webhooks (id, name, reason).
func (db *DB) DisabledWebhooks(ctx context.Context) ([]Webhook, error) {
	out := []Webhook{}
	err := db.SelectContext(ctx, &out, `SELECT `+webhookColumnsPlain+` FROM webhooks WHERE NOT active ORDER BY updated_at DESC`)
	return out, err
}

// DisableFailing deactivates webhooks failing without a success for longer than after and
// returns their ids (Svix's rule: an endpoint failing for days is disabled); webhook.disabled is
// recorded for each in the same transaction.
func (db *DB) DisableFailing(ctx context.Context, after time.Duration) ([]uuid.UUID, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var rows []struct {
		ID     uuid.UUID `db:"id"`
		Reason string    `db:"disabled_reason"`
	}
	if err := tx.SelectContext(ctx, &rows, `UPDATE webhooks w SET active = false, disabled_at = now(), updated_at = now(),
			disabled_reason = 'failing continuously since ' || to_char(h.failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
		FROM webhook_health h
		WHERE h.webhook_id = w.id AND w.active AND h.consecutive_failures > 0
			AND h.failing_since < now() - make_interval(secs => $1)
		RETURNING w.id, w.disabled_reason`, after.Seconds()); err != nil {
		return nil, err
	}
	out := make([]uuid.UUID, 0, len(rows))
	sigs := make([]Signal, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.ID)
		sigs = append(sigs, Signal{WebhookID: r.ID, Type: OpsDisabled, Count: 1, Reason: r.Reason, Health: "disabled"})
	}
	if err := recordDisabled(ctx, tx, sigs); err != nil {
		return nil, err
	}
	return out, tx.Commit()
}

// Prune deletes, in batches of batch rows, hourly stats older than before, tasks completed or
// closed before it, sent digest items older than it and repeat-limit rows whose period ended
// before it (deliveries, attempts and events leave a day at a time: DropPartitions). It returns
// the rows deleted.
func (db *DB) Prune(ctx context.Context, before time.Time, batch int) (int64, error) {
	var total int64
	stmts := []string{
		// Deliveries, attempts and events leave by day: DropPartitions.
		`DELETE FROM webhook_stats WHERE ctid = ANY(ARRAY(SELECT ctid FROM webhook_stats WHERE hour < $1 LIMIT $2))`,
		`DELETE FROM tasks WHERE task_id = ANY(ARRAY(SELECT task_id FROM tasks WHERE closed_at < $1 LIMIT $2))`,
		`DELETE FROM digest_items WHERE ctid = ANY(ARRAY(SELECT ctid FROM digest_items WHERE digest_id IS NOT NULL AND created_at < $1 LIMIT $2))`,
		// repeat-limit rows whose period ended before the cutoff (their next event starts afresh)
		`DELETE FROM repeat_limits WHERE ctid = ANY(ARRAY(SELECT ctid FROM repeat_limits WHERE sent_at + make_interval(secs => per_s) < $1 LIMIT $2))`,
		`DELETE FROM alert_marks WHERE delivery_id = ANY(ARRAY(SELECT delivery_id FROM alert_marks WHERE created_at < $1 LIMIT $2))`,
		// Alerts with nothing more to happen (acknowledged, or unacknowledged after their last step).
		`DELETE FROM alerts WHERE id = ANY(ARRAY(SELECT id FROM alerts WHERE opened_at < $1 AND next_step_at IS NULL LIMIT $2))`,
	}
	for _, q := range stmts {
		for {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			res, err := db.ExecContext(ctx, q, before, batch)
			if err != nil {
				return total, err
			}
			n, _ := res.RowsAffected()
			total += n
			if n < int64(batch) {
				break
			}
		}
	}
	return total, nil
}

// ErrLeased is returned when a delivery is being attempted by a replica right now.
var ErrLeased = errors.New("an attempt of this delivery is in flight")

// ClaimOne leases one delivery now, whatever its status, unless a replica holds a live lease
// on it (ErrLeased). The payload comes with it, as in Claim.
func (db *DB) ClaimOne(ctx context.Context, id uuid.UUID, lease time.Duration) (*Claimed, error) {
	var c Claimed
	err := db.GetContext(ctx, &c, `UPDATE deliveries d SET due_at = now() + make_interval(secs => $2),
			lease_token = gen_random_uuid(), updated_at = now()
		FROM deliveries cur LEFT JOIN LATERAL (`+eventOf("cur.event_id", "cur.created_at")+`) e ON true
		WHERE d.id = $1 AND cur.id = d.id AND cur.created_at = d.created_at AND (d.lease_token IS NULL OR d.due_at < now())
		RETURNING d.id, d.webhook_id, d.event_id, d.event_type, d.status, d.attempts, d.lease_token, d.due_at, d.created_at, e.payload, e.trace_parent,
			d.suppressed_since_last`,
		id, lease.Seconds())
	if errors.Is(err, sql.ErrNoRows) {
		var exists bool
		if err := db.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM deliveries WHERE id = $1)`, id); err != nil {
			return nil, err
		}
		if !exists {
			return nil, ErrNotFound
		}
		return nil, ErrLeased
	}
	return &c, err
}
