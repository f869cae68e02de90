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

// ErrExpired is returned when ending a silence that has ended already.
var ErrExpired = errors.New("expired")

// Silence is a silences row.
type Silence struct {
	ID         uuid.UUID      `db:"id"`
	Matcher    string         `db:"matcher"`
	WebhookIDs pq.StringArray `db:"webhook_ids"`
	StartsAt   time.Time      `db:"starts_at"`
	EndsAt     time.Time      `db:"ends_at"`
	Reason     string         `db:"reason"`
	CreatedBy  string         `db:"created_by"`
	CreatedAt  time.Time      `db:"created_at"`
	EndedBy    sql.NullString `db:"ended_by"`
	EndedAt    sql.NullTime   `db:"ended_at"`
}

const silenceColumns = `id, matcher, webhook_ids, starts_at, ends_at, reason, created_by, created_at, ended_by, ended_at`

// InsertSilence stores a new silence and returns the row.
func InsertSilence(ctx context.Context, q sqlx.ExtContext, s *Silence) error {
	return sqlx.GetContext(ctx, q, s, `INSERT INTO silences (id, matcher, webhook_ids, starts_at, ends_at, reason, created_by)
		VALUES ($1, $2, $3::uuid[], $4, $5, $6, $7) RETURNING `+silenceColumns,
		s.ID, s.Matcher, s.WebhookIDs, s.StartsAt, s.EndsAt, s.Reason, s.CreatedBy)
}

// GetSilence returns one silence (ErrNotFound when there is none).
func (db *DB) GetSilence(ctx context.Context, id uuid.UUID) (*Silence, error) {
	var s Silence
	err := db.GetContext(ctx, &s, `SELECT `+silenceColumns+` FROM silences WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &s, err
}

// ListSilences returns the silences in state at now ("" for all: pending, active, expired),
// the latest ending first, at most limit.
func (db *DB) ListSilences(ctx context.Context, state string, now time.Time, limit int) ([]Silence, error) {
	out := []Silence{}
	where := `true`
	switch state {
	case "pending":
		where = `starts_at > $2 AND ends_at > $2`
	case "active":
		where = `starts_at <= $2 AND ends_at > $2`
	case "expired":
		where = `ends_at <= $2`
	}
	err := db.SelectContext(ctx, &out, `SELECT `+silenceColumns+` FROM silences WHERE `+where+` OR $2::timestamptz IS NULL
		ORDER BY ends_at DESC, id DESC LIMIT $1`, limit, now)
	return out, err
}

// EndSilence ends a silence now (ends_at = now, and who): ErrNotFound when it does not exist,
// ErrExpired when it has ended already. It returns the row before and after.
func EndSilence(ctx context.Context, q sqlx.ExtContext, id uuid.UUID, by string, now time.Time) (*Silence, error) {
	now = now.Truncate(time.Microsecond) // PostgreSQL would round it up: the silence must be over at now
	var s Silence
	err := sqlx.GetContext(ctx, q, &s, `UPDATE silences SET ends_at = $3,
			ended_by = $2, ended_at = $3
		WHERE id = $1 AND ends_at > $3 RETURNING `+silenceColumns, id, by, now)
	if errors.Is(err, sql.ErrNoRows) {
		var n int
		if err := sqlx.GetContext(ctx, q, &n, `SELECT count(*) FROM silences WHERE id = $1`, id); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, ErrNotFound
		}
		return nil, ErrExpired
	}
	return &s, err
}

// Generations are the webhook and silence generations, read in one round trip.
type Generations struct {
	Webhooks int64 `db:"webhooks"`
	Silences int64 `db:"silences"`
}

// Generations reads both generations (the consumer checks them before each batch).
func (db *DB) Generations(ctx context.Context) (Generations, error) {
	var g Generations
	err := db.GetContext(ctx, &g, `SELECT (SELECT generation FROM webhook_generation) AS webhooks,
		(SELECT generation FROM silence_generation) AS silences`)
	return g, err
}

// SilenceGeneration is the current silence generation.
func (db *DB) SilenceGeneration(ctx context.Context) (int64, error) {
	var g int64
	err := db.GetContext(ctx, &g, `SELECT generation FROM silence_generation`)
	return g, err
}

// LoadSilences returns every silence not yet ended at the database's now (pending or active)
// and the generation it reflects, read in one snapshot.
func (db *DB) LoadSilences(ctx context.Context) ([]Silence, int64, error) {
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	var gen int64
	if err := tx.GetContext(ctx, &gen, `SELECT generation FROM silence_generation`); err != nil {
		return nil, 0, err
	}
	out := []Silence{}
	if err := tx.SelectContext(ctx, &out, `SELECT `+silenceColumns+` FROM silences WHERE ends_at > now()
		ORDER BY created_at, id`); err != nil {
		return nil, 0, err
	}
	return out, gen, tx.Commit()
}

// WebhooksExist says which of ids are webhooks.
func (db *DB) WebhooksExist(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	out := map[uuid.UUID]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT id FROM webhooks WHERE id = ANY($1::uuid[])`, pq.Array(uuidStrings(ids)))
	if err != nil {
		return nil, err
	}
	return out, collectIDs(rows, out)
}

// RecentDelivery is a delivery with its sealed event, for a silence's preview.
type RecentDelivery struct {
	WebhookID uuid.UUID `db:"webhook_id"`
	EventID   string    `db:"event_id"`
	EventType string    `db:"event_type"`
	Payload   []byte    `db:"payload"` // sealed; nil when the event was pruned
}

// RecentDeliveries lists up to limit deliveries created since, newest first, at the webhooks
// given (all when empty), with their sealed events.
func (db *DB) RecentDeliveries(ctx context.Context, since time.Time, webhooks []uuid.UUID, limit int) ([]RecentDelivery, error) {
	out := []RecentDelivery{}
	err := db.SelectContext(ctx, &out, `SELECT d.webhook_id, d.event_id, d.event_type, e.payload
		FROM deliveries d LEFT JOIN LATERAL (`+eventOf("d.event_id", "d.created_at")+`) e ON true
		WHERE d.created_at >= $1 AND (cardinality($2::uuid[]) = 0 OR d.webhook_id = ANY($2::uuid[]))
		ORDER BY d.created_at DESC LIMIT $3`, since, pq.Array(uuidStrings(webhooks)), limit)
	return out, err
}

// DeliveryEvent is one delivery with its sealed event (ErrNotFound when there is no delivery).
func (db *DB) DeliveryEvent(ctx context.Context, id uuid.UUID) (*RecentDelivery, error) {
	var d RecentDelivery
	err := db.GetContext(ctx, &d, `SELECT d.webhook_id, d.event_id, d.event_type, e.payload
		FROM deliveries d LEFT JOIN LATERAL (`+eventOf("d.event_id", "d.created_at")+`) e ON true WHERE d.id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &d, err
}
