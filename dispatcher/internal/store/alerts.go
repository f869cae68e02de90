package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Querier runs read queries, in a transaction or not.
type Querier = sqlx.QueryerContext

// WebhookPeer is what validating an escalation or a fallback needs of a webhook.
type WebhookPeer struct {
	ID         uuid.UUID     `db:"id"`
	Name       string        `db:"name"`
	Provider   string        `db:"provider"`
	FallbackID uuid.NullUUID `db:"fallback_id"`
}

// WebhookPeers lists every webhook's id, name, provider and fallback.
func WebhookPeers(ctx context.Context, q sqlx.QueryerContext) ([]WebhookPeer, error) {
	var out []WebhookPeer
	err := sqlx.SelectContext(ctx, q, &out, `SELECT id, name, provider, fallback_id FROM webhooks`)
	return out, err
}

// NewAlert is an alert to open (ignored when its id exists: a redelivered event).
type NewAlert struct {
	ID, WebhookID, DeliveryID uuid.UUID
	EventID, EventType        string
	TokenHash, TokenSealed    []byte
	TokenExpiresAt            time.Time
	Policy                    []byte // JSON
	OpenedAt, AcknowledgeBy   time.Time
}

// Mark says how the engine renders a delivery that belongs to an alert or is a fallback.
type Mark struct {
	DeliveryID    uuid.UUID
	Kind          string // alert, escalation, fallback
	AlertID       uuid.UUID
	Step          int
	Reason        string
	FromWebhookID uuid.UUID
}

// Mark kinds.
const (
	MarkAlert      = "alert"
	MarkEscalation = "escalation"
	MarkFallback   = "fallback"
)

// GaveUp is a delivery that ended failed in a batch, with the reason its webhook's fallback
// would receive it for and the id that fallback delivery gets.
type GaveUp struct {
	DeliveryID, WebhookID uuid.UUID
	EventID, EventType    string
	Reason                string
	FallbackID            uuid.UUID
}

// insertAlerts opens a batch's alerts and writes its marks (both idempotent).
func insertAlerts(ctx context.Context, tx *sqlx.Tx, as []NewAlert, ms []Mark) error {
	if len(as) > 0 {
		as = slices.Clone(as)
		slices.SortFunc(as, func(a, b NewAlert) int { return strings.Compare(a.ID.String(), b.ID.String()) })
		n := len(as)
		ids, hooks, dels, evs, types, policies := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		hashes, sealed := make([][]byte, n), make([][]byte, n)
		exp, opened, by := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
		for i, a := range as {
			ids[i], hooks[i], dels[i], evs[i], types[i], policies[i] = a.ID.String(), a.WebhookID.String(), a.DeliveryID.String(), a.EventID, a.EventType, string(a.Policy)
			hashes[i], sealed[i], exp[i], opened[i], by[i] = a.TokenHash, a.TokenSealed, a.TokenExpiresAt, a.OpenedAt, a.AcknowledgeBy
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO alerts (id, webhook_id, delivery_id, event_id, event_type, token_hash, token_sealed,
				token_expires_at, policy, state, opened_at, acknowledge_by, next_step_at)
			SELECT u.id, u.webhook_id, u.delivery_id, u.event_id, u.event_type, u.hash, u.sealed, u.exp, u.policy::jsonb, 'open', u.opened, u.by, u.by
			FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::bytea[], $7::bytea[], $8::timestamptz[], $9::text[], $10::timestamptz[], $11::timestamptz[])
				AS u(id, webhook_id, delivery_id, event_id, event_type, hash, sealed, exp, policy, opened, by)
			WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.id = u.webhook_id)
			ON CONFLICT (id) DO NOTHING`,
			pq.Array(ids), pq.Array(hooks), pq.Array(dels), pq.Array(evs), pq.Array(types), pq.ByteaArray(hashes), pq.ByteaArray(sealed),
			pq.Array(exp), pq.Array(policies), pq.Array(opened), pq.Array(by)); err != nil {
			return fmt.Errorf("open alerts: %w", err)
		}
	}
	return insertMarks(ctx, tx, ms)
}

func insertMarks(ctx context.Context, q sqlx.ExecerContext, ms []Mark) error {
	if len(ms) == 0 {
		return nil
	}
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b Mark) int { return strings.Compare(a.DeliveryID.String(), b.DeliveryID.String()) })
	n := len(ms)
	ids, kinds, reasons := make([]string, n), make([]string, n), make([]string, n)
	alerts, froms := make([]sql.NullString, n), make([]sql.NullString, n)
	steps := make([]int64, n)
	for i, m := range ms {
		ids[i], kinds[i], reasons[i], steps[i] = m.DeliveryID.String(), m.Kind, m.Reason, int64(m.Step)
		alerts[i], froms[i] = nullUUID(m.AlertID), nullUUID(m.FromWebhookID)
	}
	_, err := q.ExecContext(ctx, `INSERT INTO alert_marks (delivery_id, kind, alert_id, step, reason, from_webhook_id)
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int[], $5::text[], $6::uuid[])
		ON CONFLICT (delivery_id) DO NOTHING`,
		pq.Array(ids), pq.Array(kinds), pq.Array(alerts), pq.Array(steps), pq.Array(reasons), pq.Array(froms))
	if err != nil {
		return fmt.Errorf("mark alert deliveries: %w", err)
	}
	return nil
}

// recordGaveUp hands the batch's deliveries that ended failed (and were written) on: each
// goes once to its webhook's fallback (a pending delivery with a derived id, marked), and an
// alert whose own delivery failed is due for escalation at once. Nothing to do, and no
// statement, on a batch without such deliveries or when no webhook has a fallback or policy.
func recordGaveUp(ctx context.Context, tx *sqlx.Tx, b *Batch, w *Written) error {
	var gs []GaveUp
	for _, g := range b.GaveUp {
		if w.Inserted[g.DeliveryID] || w.Updated[g.DeliveryID] {
			gs = append(gs, g)
		}
	}
	if len(gs) == 0 {
		return nil
	}
	slices.SortFunc(gs, func(a, b GaveUp) int { return strings.Compare(a.FallbackID.String(), b.FallbackID.String()) })
	n := len(gs)
	ids, hooks, evs, types, reasons, fbs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, g := range gs {
		ids[i], hooks[i], evs[i], types[i], reasons[i], fbs[i] = g.DeliveryID.String(), g.WebhookID.String(), g.EventID, g.EventType, g.Reason, g.FallbackID.String()
	}
	rows, err := tx.QueryContext(ctx, `WITH g AS (
			SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::uuid[]) AS g(id, webhook_id, event_id, event_type, reason, fb_id)
		), fb AS (
			INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, due_at)
			SELECT g.fb_id, f.id, g.event_id, g.event_type, 'pending', now()
			FROM g JOIN webhooks w ON w.id = g.webhook_id JOIN webhooks f ON f.id = w.fallback_id
			WHERE NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.id = g.fb_id) -- deliveries are keyed (id, day): any day
			ORDER BY g.fb_id
			ON CONFLICT DO NOTHING
			RETURNING id
		), marked AS (
			INSERT INTO alert_marks (delivery_id, kind, alert_id, reason, from_webhook_id)
			SELECT g.fb_id, 'fallback', a.id, g.reason, g.webhook_id
			FROM g JOIN fb ON fb.id = g.fb_id LEFT JOIN alerts a ON a.delivery_id = g.id AND a.acknowledged_at IS NULL
			ON CONFLICT (delivery_id) DO NOTHING
			RETURNING reason
		), failed AS (
			UPDATE alerts a SET primary_failed = true, next_step_at = now()
			FROM g WHERE a.delivery_id = g.id AND a.state = 'open'
			RETURNING a.id
		)
		SELECT reason FROM marked`,
		pq.Array(ids), pq.Array(hooks), pq.Array(evs), pq.Array(types), pq.Array(reasons), pq.Array(fbs))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return err
		}
		w.Fallbacks = append(w.Fallbacks, r)
	}
	return rows.Err()
}

// AlertMark is a delivery's mark with what rendering it needs of its alert.
type AlertMark struct {
	DeliveryID     uuid.UUID      `db:"delivery_id"`
	Kind           string         `db:"kind"`
	Step           int            `db:"step"`
	Reason         string         `db:"reason"`
	FromWebhookID  uuid.NullUUID  `db:"from_webhook_id"`
	FromName       sql.NullString `db:"from_name"`
	AlertID        uuid.NullUUID  `db:"alert_id"`
	TokenSealed    []byte         `db:"token_sealed"`
	TokenExpiresAt sql.NullTime   `db:"token_expires_at"`
	AcknowledgeBy  sql.NullTime   `db:"acknowledge_by"`
	Policy         []byte         `db:"policy"`
}

// AlertMarks returns the marks of the deliveries among ids that have one.
func (db *DB) AlertMarks(ctx context.Context, ids []uuid.UUID) ([]AlertMark, error) {
	var out []AlertMark
	if len(ids) == 0 {
		return out, nil
	}
	err := db.SelectContext(ctx, &out, `SELECT m.delivery_id, m.kind, m.step, m.reason, m.from_webhook_id, fw.name AS from_name,
			a.id AS alert_id, a.token_sealed, a.token_expires_at, a.acknowledge_by, a.policy
		FROM alert_marks m LEFT JOIN alerts a ON a.id = m.alert_id LEFT JOIN webhooks fw ON fw.id = m.from_webhook_id
		WHERE m.delivery_id = ANY($1::uuid[])`, pq.Array(uuidStrings(ids)))
	return out, err
}

// Alert is an alerts row.
type Alert struct {
	ID              uuid.UUID      `db:"id"`
	WebhookID       uuid.UUID      `db:"webhook_id"`
	WebhookName     string         `db:"webhook_name"`
	DeliveryID      uuid.UUID      `db:"delivery_id"`
	EventID         string         `db:"event_id"`
	EventType       string         `db:"event_type"`
	TokenSealed     []byte         `db:"token_sealed"`
	TokenExpiresAt  time.Time      `db:"token_expires_at"`
	Policy          []byte         `db:"policy"`
	State           string         `db:"state"`
	OpenedAt        time.Time      `db:"opened_at"`
	AcknowledgeBy   time.Time      `db:"acknowledge_by"`
	Step            int            `db:"step"`
	NextStepAt      sql.NullTime   `db:"next_step_at"`
	PrimaryFailed   bool           `db:"primary_failed"`
	AcknowledgedAt  sql.NullTime   `db:"acknowledged_at"`
	AcknowledgedBy  sql.NullString `db:"acknowledged_by"`
	AcknowledgedVia sql.NullString `db:"acknowledged_via"`
	LastStepAt      sql.NullTime   `db:"last_step_at"`
}

const alertColumns = `a.id, a.webhook_id, COALESCE(w.name, '') AS webhook_name, a.delivery_id, a.event_id, a.event_type, a.token_sealed,
	a.token_expires_at, a.policy, a.state, a.opened_at, a.acknowledge_by, a.step, a.next_step_at, a.primary_failed,
	a.acknowledged_at, a.acknowledged_by, a.acknowledged_via,
	(SELECT max(s.at) FROM alert_steps s WHERE s.alert_id = a.id) AS last_step_at`

// AlertStep is one escalation step taken.
type AlertStep struct {
	AlertID    uuid.UUID      `db:"alert_id"`
	Step       int            `db:"step"`
	At         time.Time      `db:"at"`
	Reason     string         `db:"reason"`
	WebhookIDs pq.StringArray `db:"webhook_ids"`
}

// GetAlert returns an alert (ErrNotFound when there is none).
func (db *DB) GetAlert(ctx context.Context, id uuid.UUID) (*Alert, error) {
	return getAlert(ctx, db, `a.id = $1`, id)
}

// AlertByToken returns the alert whose acknowledge token hashes to hash.
func (db *DB) AlertByToken(ctx context.Context, hash []byte) (*Alert, error) {
	return getAlert(ctx, db, `a.token_hash = $1`, hash)
}

func getAlert(ctx context.Context, q sqlx.QueryerContext, where string, arg any) (*Alert, error) {
	var a Alert
	err := sqlx.GetContext(ctx, q, &a, `SELECT `+alertColumns+` FROM alerts a LEFT JOIN webhooks w ON w.id = a.webhook_id WHERE `+where, arg)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &a, err
}

// AlertSteps returns the steps of the alerts ids, in step order.
func (db *DB) AlertSteps(ctx context.Context, ids []uuid.UUID) ([]AlertStep, error) {
	var out []AlertStep
	err := db.SelectContext(ctx, &out, `SELECT alert_id, step, at, reason, webhook_ids::text[] AS webhook_ids FROM alert_steps
		WHERE alert_id = ANY($1::uuid[]) ORDER BY alert_id, step`, pq.Array(uuidStrings(ids)))
	return out, err
}

// AlertFilter selects alerts to list.
type AlertFilter struct {
	States    []string  // empty: any
	WebhookID uuid.UUID // uuid.Nil: any
	Limit     int
	AfterT    time.Time // keyset: opened before (AfterT, AfterID)
	AfterID   uuid.UUID
}

// ListAlerts returns alerts newest first.
func (db *DB) ListAlerts(ctx context.Context, f AlertFilter) ([]Alert, error) {
	out := []Alert{}
	var states any
	if len(f.States) > 0 {
		states = pq.Array(f.States)
	}
	var after any
	if !f.AfterT.IsZero() {
		after = f.AfterT
	}
	err := db.SelectContext(ctx, &out, `SELECT `+alertColumns+` FROM alerts a LEFT JOIN webhooks w ON w.id = a.webhook_id
		WHERE ($1::text[] IS NULL OR a.state = ANY($1::text[]))
			AND ($2::uuid IS NULL OR a.webhook_id = $2)
			AND ($3::timestamptz IS NULL OR (a.opened_at, a.id) < ($3, $4::uuid))
		ORDER BY a.opened_at DESC, a.id DESC LIMIT $5`,
		states, nullUUID(f.WebhookID), after, f.AfterID, f.Limit)
	return out, err
}

// OpenAlerts counts the alerts not acknowledged, by state.
func (db *DB) OpenAlerts(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		State string `db:"state"`
		N     int64  `db:"n"`
	}
	if err := db.SelectContext(ctx, &rows, `SELECT state, count(*) AS n FROM alerts WHERE state <> 'acknowledged' GROUP BY state`); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.State] = r.N
	}
	return out, nil
}

// ErrAlreadyAcknowledged is returned with the alert when it was acknowledged before.
var ErrAlreadyAcknowledged = errors.New("alert already acknowledged")

// AcknowledgeAlert closes an alert (and every further step) for who, via link, dashboard or
// api, recording the audit entry in the same transaction. An alert acknowledged before is
// returned unchanged with ErrAlreadyAcknowledged.
func (db *DB) AcknowledgeAlert(ctx context.Context, id uuid.UUID, who, via, actor string) (*Alert, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	res, err := tx.ExecContext(ctx, `UPDATE alerts SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2,
			acknowledged_via = $3, next_step_at = NULL
		WHERE id = $1 AND acknowledged_at IS NULL`, id, who, via)
	if err != nil {
		return nil, err
	}
	n, _ := res.RowsAffected()
	a, err := getAlert(ctx, tx, `a.id = $1`, id)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return a, ErrAlreadyAcknowledged
	}
	if err := Audit(ctx, tx, actor, "alert.acknowledge", a.WebhookID, id.String(), map[string]any{"name": who, "via": via,
		"event_type": a.EventType, "step": a.Step}); err != nil {
		return nil, err
	}
	return a, tx.Commit()
}

// Escalation is one step of an alert to write: its deliveries (one per target) and marks.
type Escalation struct {
	AlertID    uuid.UUID
	From       uuid.UUID // the alert's webhook
	Step       int
	Reason     string
	At         time.Time
	EventID    string
	EventType  string
	Targets    []uuid.UUID // webhooks
	Deliveries []uuid.UUID // the derived delivery id per target
}

// AlertChange is what the scheduler decided for a claimed alert.
type AlertChange struct {
	ID         uuid.UUID
	State      string
	Step       int
	NextStepAt sql.NullTime
	Escalation *Escalation // nil: no step now
}

// ClaimDueAlerts locks up to limit unacknowledged alerts whose next_step_at has come (SKIP
// LOCKED: replicas share them), lets decide say what happens to each, and writes it in the same
// transaction: each step's deliveries (derived ids, ON CONFLICT DO NOTHING, pending and due at
// once, to targets that still exist), their marks, the step's timeline row, the alert's new
// state. It returns the changes written and the number of deliveries inserted.
func (db *DB) ClaimDueAlerts(ctx context.Context, limit int, decide func([]Alert) []AlertChange) ([]AlertChange, int, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var rows []Alert
	if err := tx.SelectContext(ctx, &rows, `SELECT `+alertColumns+` FROM alerts a LEFT JOIN webhooks w ON w.id = a.webhook_id
		WHERE a.id IN (SELECT id FROM alerts WHERE next_step_at <= now() AND acknowledged_at IS NULL
			ORDER BY next_step_at LIMIT $1 FOR UPDATE SKIP LOCKED)`, limit); err != nil {
		return nil, 0, err
	}
	if len(rows) == 0 {
		return nil, 0, nil
	}
	changes := decide(rows)
	inserted := 0
	for _, c := range changes {
		if e := c.Escalation; e != nil {
			n, err := writeEscalation(ctx, tx, e)
			if err != nil {
				return nil, 0, err
			}
			inserted += n
		}
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET state = $2, step = $3, next_step_at = $4 WHERE id = $1 AND acknowledged_at IS NULL`,
			c.ID, c.State, c.Step, c.NextStepAt); err != nil {
			return nil, 0, err
		}
	}
	return changes, inserted, tx.Commit()
}

func writeEscalation(ctx context.Context, tx *sqlx.Tx, e *Escalation) (int, error) {
	ids, targets := uuidStrings(e.Deliveries), uuidStrings(e.Targets)
	var inserted []string
	if err := tx.SelectContext(ctx, &inserted, `INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, due_at)
		SELECT u.id, u.webhook_id, $3, $4, 'pending', now()
		FROM unnest($1::uuid[], $2::uuid[]) AS u(id, webhook_id)
		WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.id = u.webhook_id)
			AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.id = u.id) -- deliveries are keyed (id, day): any day
		ORDER BY u.id
		ON CONFLICT DO NOTHING
		RETURNING webhook_id::text`, pq.Array(ids), pq.Array(targets), e.EventID, e.EventType); err != nil {
		return 0, fmt.Errorf("escalation deliveries: %w", err)
	}
	ms := make([]Mark, len(e.Deliveries))
	for i := range e.Deliveries {
		ms[i] = Mark{DeliveryID: e.Deliveries[i], Kind: MarkEscalation, AlertID: e.AlertID, Step: e.Step, Reason: e.Reason, FromWebhookID: e.From}
	}
	if err := insertMarks(ctx, tx, ms); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO alert_steps (alert_id, step, at, reason, webhook_ids) VALUES ($1, $2, $3, $4, $5::uuid[])
		ON CONFLICT (alert_id, step) DO NOTHING`, e.AlertID, e.Step, e.At, e.Reason, pq.Array(targets)); err != nil {
		return 0, fmt.Errorf("alert step: %w", err)
	}
	return len(inserted), nil
}

// EventPayload returns an event's sealed payload (ErrNotFound once pruned).
func (db *DB) EventPayload(ctx context.Context, id string) ([]byte, error) {
	var p []byte
	err := db.GetContext(ctx, &p, `SELECT payload FROM events WHERE id = $1 ORDER BY received_at DESC LIMIT 1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return p, err
}
