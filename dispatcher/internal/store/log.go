package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Delivery is a deliveries row as the delivery log shows it.
type Delivery struct {
	ID        uuid.UUID `db:"id"`
	WebhookID uuid.UUID `db:"webhook_id"`
	EventID   string    `db:"event_id"`
	EventType string    `db:"event_type"`
	// EventTypeVersion is the version of a custom type that validated the event (GetDelivery
	// only; null for built-in types).
	EventTypeVersion    sql.NullInt32  `db:"-"`
	Status              string         `db:"status"`
	Attempts            int            `db:"attempts"`
	NextAttemptAt       sql.NullTime   `db:"next_attempt_at"`
	LastStatusCode      sql.NullInt32  `db:"last_status_code"`
	LastError           string         `db:"last_error"`
	LastAttemptAt       sql.NullTime   `db:"last_attempt_at"`
	LastDurationMS      sql.NullInt32  `db:"last_duration_ms"`
	LastExcerpt         []byte         `db:"last_excerpt"`
	LastTraceID         sql.NullString `db:"last_trace_id"`
	CreatedAt           time.Time      `db:"created_at"`
	UpdatedAt           time.Time      `db:"updated_at"`
	SilenceID           uuid.NullUUID  `db:"silence_id"`
	SuppressedSinceLast int            `db:"suppressed_since_last"`
}

// AttemptRow is one recorded attempt.
type AttemptRow struct {
	N          int            `db:"n"`
	StartedAt  time.Time      `db:"started_at"`
	DurationMS int            `db:"duration_ms"`
	StatusCode sql.NullInt32  `db:"status_code"`
	Error      string         `db:"error"`
	Excerpt    []byte         `db:"response_excerpt"` // sealed
	TraceID    sql.NullString `db:"trace_id"`
}

const deliveryColumns = `id, webhook_id, event_id, event_type, status, attempts, next_attempt_at, last_status_code,
	last_error, last_attempt_at, last_duration_ms, last_excerpt, last_trace_id, created_at, updated_at,
	silence_id, suppressed_since_last`

// GetDelivery returns a delivery and every attempt, oldest first. A delivery decided by its
// first attempt has no attempts row: that attempt is rebuilt from the delivery's last_*.
func (db *DB) GetDelivery(ctx context.Context, id uuid.UUID) (*Delivery, []AttemptRow, error) {
	var d Delivery
	if err := db.GetContext(ctx, &d, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = $1`, id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil, ErrNotFound
		}
		return nil, nil, err
	}
	if err := db.GetContext(ctx, &d.EventTypeVersion, `SELECT type_version FROM events WHERE id = $1
		ORDER BY received_at = $2 DESC, received_at DESC LIMIT 1`, d.EventID, d.CreatedAt); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, nil, err
	}
	as := []AttemptRow{}
	if err := db.SelectContext(ctx, &as, `SELECT n, started_at, duration_ms, status_code, error, response_excerpt, trace_id
		FROM attempts WHERE delivery_id = $1 ORDER BY n, started_at`, id); err != nil {
		return nil, nil, err
	}
	lastRecorded := len(as) > 0 && as[len(as)-1].N >= d.Attempts
	if d.LastAttemptAt.Valid && d.Attempts > 0 && !lastRecorded {
		as = append(as, AttemptRow{N: d.Attempts, StartedAt: d.LastAttemptAt.Time, DurationMS: int(d.LastDurationMS.Int32),
			StatusCode: d.LastStatusCode, Error: d.LastError, Excerpt: d.LastExcerpt, TraceID: d.LastTraceID})
	}
	return &d, as, nil
}
