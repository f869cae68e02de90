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

// ErrTypeExists is a create of something that already exists.
var ErrTypeExists = errors.New("already exists")

// EventType is an event_types row: a custom event type's current definition.
type EventType struct {
	Type        string    `db:"type"`
	Description string    `db:"description"`
	Schema      string    `db:"schema"`
	Example     string    `db:"example"`
	Summary     string    `db:"summary"` // JSON
	Version     int       `db:"version"`
	CreatedAt   time.Time `db:"created_at"`
	UpdatedAt   time.Time `db:"updated_at"`
}

const eventTypeColumns = `type, description, schema, example, summary, version, created_at, updated_at`

// ListEventTypes returns every custom event type, by name.
func (db *DB) ListEventTypes(ctx context.Context) ([]EventType, error) {
	out := []EventType{}
	err := db.SelectContext(ctx, &out, `SELECT `+eventTypeColumns+` FROM event_types ORDER BY type`)
	return out, err
}

// GetEventType returns one custom event type (ErrNotFound when there is none).
func (db *DB) GetEventType(ctx context.Context, typ string) (EventType, error) {
	var t EventType
	err := db.GetContext(ctx, &t, `SELECT `+eventTypeColumns+` FROM event_types WHERE type = $1`, typ)
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// SaveEventType creates (create) or replaces a custom event type in tx, giving it the next
// version of its name (ErrTypeExists for a create of an existing type, ErrNotFound for a replace of
// a missing one), and records the definition in event_type_versions with actor. It returns the
// stored row.
func SaveEventType(ctx context.Context, tx *sqlx.Tx, t EventType, create bool, actor string) (EventType, error) {
	// One writer per name at a time: the advisory lock also covers a name not stored yet.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('event_type:' || $1))`, t.Type); err != nil {
		return t, err
	}
	var exists bool
	if err := tx.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM event_types WHERE type = $1)`, t.Type); err != nil {
		return t, err
	}
	switch {
	case create && exists:
		return t, ErrTypeExists
	case !create && !exists:
		return t, ErrNotFound
	}
	if err := tx.GetContext(ctx, &t.Version, `SELECT coalesce(max(version), 0) + 1 FROM event_type_versions WHERE type = $1`, t.Type); err != nil {
		return t, err
	}
	var out EventType
	err := tx.GetContext(ctx, &out, `INSERT INTO event_types (type, description, schema, example, summary, version)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (type) DO UPDATE SET description = EXCLUDED.description, schema = EXCLUDED.schema, example = EXCLUDED.example,
			summary = EXCLUDED.summary, version = EXCLUDED.version, updated_at = now()
		RETURNING `+eventTypeColumns, t.Type, t.Description, t.Schema, t.Example, t.Summary, t.Version)
	if err != nil {
		return t, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO event_type_versions (type, version, description, schema, example, summary, actor)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, t.Type, t.Version, t.Description, t.Schema, t.Example, t.Summary, actor)
	return out, err
}

// DeleteEventType removes a custom event type in tx (ErrNotFound when there is none); its
// versions stay.
func DeleteEventType(ctx context.Context, tx *sqlx.Tx, typ string) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('event_type:' || $1))`, typ); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM event_types WHERE type = $1`, typ)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// NamedWebhook is a webhook's id and name.
type NamedWebhook struct {
	ID   uuid.UUID `db:"id" json:"id"`
	Name string    `db:"name" json:"name"`
}

// WebhooksNaming lists the webhooks whose events name any of patterns, by name.
func WebhooksNaming(ctx context.Context, q sqlx.QueryerContext, patterns []string) ([]NamedWebhook, error) {
	out := []NamedWebhook{}
	err := sqlx.SelectContext(ctx, q, &out, `SELECT id, name FROM webhooks WHERE events && $1::text[] ORDER BY name, id`, pq.StringArray(patterns))
	return out, err
}
