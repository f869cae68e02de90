package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Operational event types recorded here (pkg/families/ops declares them; the store names them
// to stay free of the catalog).
const (
	OpsDisabled      = "webhook.disabled"
	OpsHealthChanged = "webhook.health_changed"
	OpsExhausted     = "delivery.exhausted"
	OpsRecovered     = "delivery.recovered"
)

// Signal is one thing to report about a webhook: it opens the (webhook, type) window or adds
// Count to it, replacing the latest details.
type Signal struct {
	WebhookID      uuid.UUID
	Type           string
	Count          int
	Reason         string
	Health         string
	PreviousHealth string // kept from the window's first signal
	LastStatusCode int    // 0: none
	LastError      string
	DeliveryID     uuid.UUID // uuid.Nil: none
	Attempts       int       // 0 with DeliveryID nil: none
}

// RecordSignals upserts signals into ops_signals, in (webhook, type) order, leaving out those
// nobody would hear: a signal is kept only while another active webhook names its type or its
// family ("delivery.*"); "*" never reaches operational events, and a webhook never receives
// events about itself.
func RecordSignals(ctx context.Context, q sqlx.ExecerContext, sigs []Signal) error {
	if len(sigs) == 0 {
		return nil
	}
	sigs = slices.Clone(sigs)
	slices.SortStableFunc(sigs, func(a, b Signal) int {
		if c := strings.Compare(a.WebhookID.String(), b.WebhookID.String()); c != 0 {
			return c
		}
		return strings.Compare(a.Type, b.Type)
	})
	var ids, types, reasons, healths, prevs, errs, dids []string
	var counts []int64
	var codes, attempts []sql.NullInt64
	for _, s := range sigs {
		ids, types, reasons = append(ids, s.WebhookID.String()), append(types, s.Type), append(reasons, s.Reason)
		healths, prevs, errs = append(healths, s.Health), append(prevs, s.PreviousHealth), append(errs, s.LastError)
		counts = append(counts, int64(max(s.Count, 1)))
		codes = append(codes, sql.NullInt64{Int64: int64(s.LastStatusCode), Valid: s.LastStatusCode != 0})
		d := ""
		if s.DeliveryID != uuid.Nil {
			d = s.DeliveryID.String()
		}
		dids = append(dids, d)
		attempts = append(attempts, sql.NullInt64{Int64: int64(s.Attempts), Valid: s.DeliveryID != uuid.Nil})
	}
	_, err := q.ExecContext(ctx, `INSERT INTO ops_signals AS s (webhook_id, type, count, reason, health, previous_health,
			last_status_code, last_error, delivery_id, attempts)
		SELECT u.id, u.type, sum(u.n), (array_agg(u.reason ORDER BY u.i DESC))[1], (array_agg(u.health ORDER BY u.i DESC))[1],
			(array_agg(u.prev ORDER BY u.i))[1], (array_agg(u.code ORDER BY u.i DESC))[1], (array_agg(u.err ORDER BY u.i DESC))[1],
			(array_agg(NULLIF(u.did, '')::uuid ORDER BY u.i DESC))[1], (array_agg(u.attempts ORDER BY u.i DESC))[1]
		FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[], $9::text[], $10::int[])
			WITH ORDINALITY AS u(id, type, n, reason, health, prev, code, err, did, attempts, i)
		WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.id = u.id)
			AND EXISTS (SELECT 1 FROM webhooks o WHERE o.active AND o.id <> u.id
				AND (u.type = ANY (o.events) OR split_part(u.type, '.', 1) || '.*' = ANY (o.events)))
		GROUP BY u.id, u.type
		ORDER BY u.id, u.type
		ON CONFLICT (webhook_id, type) DO UPDATE SET
			count = s.count + EXCLUDED.count,
			last_at = now(),
			reason = CASE WHEN EXCLUDED.reason <> '' THEN EXCLUDED.reason ELSE s.reason END,
			health = CASE WHEN EXCLUDED.health <> '' THEN EXCLUDED.health ELSE s.health END,
			last_status_code = COALESCE(EXCLUDED.last_status_code, s.last_status_code),
			last_error = CASE WHEN EXCLUDED.last_error <> '' THEN EXCLUDED.last_error ELSE s.last_error END,
			delivery_id = COALESCE(EXCLUDED.delivery_id, s.delivery_id),
			attempts = COALESCE(EXCLUDED.attempts, s.attempts)`,
		pq.Array(ids), pq.Array(types), pq.Array(counts), pq.Array(reasons), pq.Array(healths), pq.Array(prevs),
		pq.Array(codes), pq.Array(errs), pq.Array(dids), pq.Array(attempts))
	return err
}

// ExhaustedSignals are the delivery.exhausted signals of a batch: one per webhook whose
// deliveries reached failed in it (a row inserted or an update applied), with how many and the
// last of them. Pure: the batch and what Write applied.
func ExhaustedSignals(b *Batch, w *Written) []Signal {
	var out []Signal
	at := map[uuid.UUID]int{}
	add := func(webhook, id uuid.UUID, st State) {
		i, ok := at[webhook]
		if !ok {
			i = len(out)
			at[webhook] = i
			out = append(out, Signal{WebhookID: webhook, Type: OpsExhausted})
		}
		s := &out[i]
		s.Count++
		s.DeliveryID, s.Attempts, s.LastStatusCode, s.LastError = id, st.Attempts, st.LastStatusCode, st.LastError
	}
	for _, n := range b.New {
		if n.Status == StatusFailed && w.Inserted[n.ID] {
			add(n.WebhookID, n.ID, n.State)
		}
	}
	for _, u := range b.Updates {
		if u.Status == StatusFailed && w.Updated[u.ID] {
			add(u.WebhookID, u.ID, u.State)
		}
	}
	return out
}

// recordExhausted records the batch's deliveries that gave up (Write calls it; nothing to do,
// and no statement, on a batch without failed finals).
func recordExhausted(ctx context.Context, tx *sqlx.Tx, b *Batch, w *Written) error {
	return RecordSignals(ctx, tx, ExhaustedSignals(b, w))
}

// recordDisabled records webhook.disabled for webhooks Taskhook deactivated itself (410, an
// archived Slack channel, failing too long) and marks them observed as disabled, so that the
// health observer does not report the same change again as webhook.health_changed.
func recordDisabled(ctx context.Context, tx *sqlx.Tx, sigs []Signal) error {
	if len(sigs) == 0 {
		return nil
	}
	if err := RecordSignals(ctx, tx, sigs); err != nil {
		return err
	}
	ids := make([]string, len(sigs))
	for i, s := range sigs {
		ids[i] = s.WebhookID.String()
	}
	slices.Sort(ids)
	_, err := tx.ExecContext(ctx, `INSERT INTO ops_observed AS o (webhook_id, health, consecutive_failures, last_success_at)
		SELECT w.id, 'disabled', COALESCE(h.consecutive_failures, 0), h.last_success_at
		FROM webhooks w LEFT JOIN webhook_health h ON h.webhook_id = w.id
		WHERE w.id = ANY ($1::uuid[])
		ORDER BY w.id
		ON CONFLICT (webhook_id) DO UPDATE SET health = 'disabled', observed_at = now()`, pq.Array(ids))
	return err
}

// disabledSignals are the webhook.disabled signals of the webhooks a batch deactivated, with
// the status of their last failed attempt in the batch.
func disabledSignals(b *Batch, disabled map[uuid.UUID]string) []Signal {
	last := map[uuid.UUID]Attempt{}
	for _, a := range b.Attempts {
		if p, ok := last[a.WebhookID]; !a.Succeeded && (!ok || !a.StartedAt.Before(p.StartedAt)) {
			last[a.WebhookID] = a
		}
	}
	out := make([]Signal, 0, len(disabled))
	for id, reason := range disabled {
		a := last[id]
		out = append(out, Signal{WebhookID: id, Type: OpsDisabled, Count: 1, Reason: reason, Health: "disabled",
			LastStatusCode: a.StatusCode, LastError: a.Error})
	}
	return out
}

// OpsSignal is a claimed ops_signals row with its webhook's name.
type OpsSignal struct {
	WebhookID      uuid.UUID     `db:"webhook_id"`
	WebhookName    string        `db:"name"`
	Type           string        `db:"type"`
	Count          int           `db:"count"`
	WindowStart    time.Time     `db:"window_start"`
	LastAt         time.Time     `db:"last_at"`
	Reason         string        `db:"reason"`
	Health         string        `db:"health"`
	PreviousHealth string        `db:"previous_health"`
	LastStatusCode sql.NullInt64 `db:"last_status_code"`
	LastError      string        `db:"last_error"`
	DeliveryID     uuid.NullUUID `db:"delivery_id"`
	Attempts       sql.NullInt64 `db:"attempts"`
}

// OutboxMessage is an operational event waiting for JetStream.
type OutboxMessage struct {
	EventID string `db:"event_id"`
	Subject string `db:"subject"`
	Body    []byte `db:"body"`
}

// EndOpsWindows moves up to limit signals whose window (window_start + interval) ended into the
// outbox, as the events build makes of them, in one transaction without network calls: rows are
// locked with SKIP LOCKED (replicas share them) and only for the statements (a Write recording
// a signal never waits for a publish). It returns how many signals it ended.
func (db *DB) EndOpsWindows(ctx context.Context, interval time.Duration, limit int, build func([]OpsSignal) []OutboxMessage) (int, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var rows []OpsSignal
	if err := tx.SelectContext(ctx, &rows, `SELECT s.webhook_id, w.name, s.type, s.count, s.window_start, s.last_at, s.reason,
			s.health, s.previous_health, s.last_status_code, s.last_error, s.delivery_id, s.attempts
		FROM ops_signals s JOIN webhooks w ON w.id = s.webhook_id
		WHERE s.window_start <= now() - make_interval(secs => $1)
		ORDER BY s.window_start
		LIMIT $2
		FOR UPDATE OF s SKIP LOCKED`, interval.Seconds(), limit); err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, nil
	}
	msgs := build(rows)
	ids, subjects, bodies := make([]string, len(msgs)), make([]string, len(msgs)), make([][]byte, len(msgs))
	for i, m := range msgs {
		ids[i], subjects[i], bodies[i] = m.EventID, m.Subject, m.Body
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO ops_outbox (event_id, subject, body)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) ON CONFLICT (event_id) DO NOTHING`,
		pq.Array(ids), pq.Array(subjects), pq.ByteaArray(bodies)); err != nil {
		return 0, err
	}
	wids, types := make([]string, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		wids[i], types[i] = r.WebhookID.String(), r.Type
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM ops_signals s USING unnest($1::uuid[], $2::text[]) AS u(id, type)
		WHERE s.webhook_id = u.id AND s.type = u.type`, pq.Array(wids), pq.Array(types)); err != nil {
		return 0, err
	}
	return len(rows), tx.Commit()
}

// PublishOutbox locks up to limit outbox rows (oldest first, SKIP LOCKED), hands them to
// publish and deletes them in the same transaction once publish returned nil: a crash in
// between publishes them again under the same event ids. It returns how many it published.
func (db *DB) PublishOutbox(ctx context.Context, limit int, publish func([]OutboxMessage) error) (int, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var rows []OutboxMessage
	if err := tx.SelectContext(ctx, &rows, `SELECT event_id, subject, body FROM ops_outbox ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED`, limit); err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, nil
	}
	if err := publish(rows); err != nil {
		return 0, err
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.EventID
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM ops_outbox WHERE event_id = ANY ($1::text[])`, pq.Array(ids)); err != nil {
		return 0, err
	}
	return len(rows), tx.Commit()
}

// Observed is a webhook's state for the health observer: as it is now, and as last observed
// (Seen false: never observed).
type Observed struct {
	ID             uuid.UUID `db:"id"`
	Active         bool      `db:"active"`
	DisabledReason string    `db:"disabled_reason"`
	Health
	New             bool         `db:"new"` // created within the last minute
	Seen            bool         `db:"seen"`
	SeenHealth      string       `db:"seen_health"`
	SeenFailures    int          `db:"seen_failures"`
	SeenLastSuccess sql.NullTime `db:"seen_last_success"`
}

// OpsListeners reports whether an active webhook names one of types or its family.
func (db *DB) OpsListeners(ctx context.Context, types []string) (bool, error) {
	var ok bool
	err := db.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM webhooks o, unnest($1::text[]) AS t(type)
		WHERE o.active AND (t.type = ANY (o.events) OR split_part(t.type, '.', 1) || '.*' = ANY (o.events)))`, pq.Array(types))
	return ok, err
}

// ForgetObserved deletes every observation (nobody listens: when someone does again, the
// observer starts from the state then, not from a stale one).
func (db *DB) ForgetObserved(ctx context.Context) error {
	_, err := db.ExecContext(ctx, `DELETE FROM ops_observed`)
	return err
}

// ObserveWebhooks returns every webhook's health counters (as the admin API reads them) with
// its last observation, and the webhooks with deliveries waiting for a retry (read from the
// backlog's index, not per webhook).
func (db *DB) ObserveWebhooks(ctx context.Context) ([]Observed, map[uuid.UUID]bool, error) {
	out := []Observed{}
	if err := db.SelectContext(ctx, &out, `SELECT w.id, w.active, w.disabled_reason, `+healthColumns+`,
			w.created_at > now() - interval '1 minute' AS new, o.webhook_id IS NOT NULL AS seen, COALESCE(o.health, '') AS seen_health,
			COALESCE(o.consecutive_failures, 0) AS seen_failures, o.last_success_at AS seen_last_success
		FROM webhooks w LEFT JOIN webhook_health h ON h.webhook_id = w.id LEFT JOIN ops_observed o ON o.webhook_id = w.id
		ORDER BY w.id`); err != nil {
		return nil, nil, err
	}
	retrying := map[uuid.UUID]bool{}
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT webhook_id FROM deliveries WHERE due_at IS NOT NULL AND status = 'retrying'`)
	if err != nil {
		return nil, nil, err
	}
	return out, retrying, collectIDs(rows, retrying)
}

// Observation is what the observer saw of a webhook now, and the signals the change since its
// last observation yields.
type Observation struct {
	WebhookID   uuid.UUID
	Health      string
	Failures    int
	LastSuccess sql.NullTime
	// Prev* is the observation being replaced (compare-and-set); PrevSeen false inserts.
	PrevSeen        bool
	PrevHealth      string
	PrevFailures    int
	PrevLastSuccess sql.NullTime
	Signals         []Signal
}

// RecordObservations stores observations, each only if the stored one is still the one it
// replaces (another replica may have recorded the change first), and records the signals of
// those it stored, in one transaction. It returns how many changes it recorded.
func (db *DB) RecordObservations(ctx context.Context, obs []Observation) (int, error) {
	if len(obs) == 0 {
		return 0, nil
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	obs = slices.Clone(obs)
	slices.SortFunc(obs, func(a, b Observation) int { return strings.Compare(a.WebhookID.String(), b.WebhookID.String()) })
	var sigs []Signal
	won := 0
	for _, o := range obs {
		var res sql.Result
		if !o.PrevSeen {
			res, err = tx.ExecContext(ctx, `INSERT INTO ops_observed (webhook_id, health, consecutive_failures, last_success_at)
				SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $1)
				ON CONFLICT (webhook_id) DO NOTHING`, o.WebhookID, o.Health, o.Failures, o.LastSuccess)
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE ops_observed SET health = $2, consecutive_failures = $3, last_success_at = $4, observed_at = now()
				WHERE webhook_id = $1 AND health = $5 AND consecutive_failures = $6 AND last_success_at IS NOT DISTINCT FROM $7`,
				o.WebhookID, o.Health, o.Failures, o.LastSuccess, o.PrevHealth, o.PrevFailures, o.PrevLastSuccess)
		}
		if err != nil {
			return 0, fmt.Errorf("observe webhook %s: %w", o.WebhookID, err)
		}
		if n, _ := res.RowsAffected(); n == 1 && len(o.Signals) > 0 {
			sigs = append(sigs, o.Signals...)
			won++
		}
	}
	if err := RecordSignals(ctx, tx, sigs); err != nil {
		return 0, err
	}
	return won, tx.Commit()
}
