package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Task is a tasks row: what the dispatcher knows of a task for the reminders it derives.
type Task struct {
	TaskID          string       `db:"task_id"`
	DueDate         sql.NullTime `db:"due_date"`
	Status          string       `db:"status"`
	LastOccurredAt  sql.NullTime `db:"last_occurred_at"`
	LastSeq         int64        `db:"last_seq"` // 0: a row created for this transaction, no event yet
	LastEventAt     time.Time    `db:"last_event_at"`
	Payload         []byte       `db:"payload"` // sealed latest event
	DueFiredFor     sql.NullTime `db:"due_fired_for"`
	DueFiredAt      sql.NullTime `db:"due_fired_at"`
	OverdueFiredFor sql.NullTime `db:"overdue_fired_for"`
	OverdueFiredAt  sql.NullTime `db:"overdue_fired_at"`
	NextFireAt      sql.NullTime `db:"next_fire_at"`
	ClosedAt        sql.NullTime `db:"closed_at"`
	CreatedAt       time.Time    `db:"created_at"`
	UpdatedAt       time.Time    `db:"updated_at"`
}

const taskColumns = `task_id, due_date, status, last_occurred_at, last_seq, last_event_at, payload, due_fired_for,
	due_fired_at, overdue_fired_for, overdue_fired_at, next_fire_at, closed_at, created_at, updated_at`

// UpdateTasks runs fn on the rows of ids, locked, in one transaction, and stores what fn
// returns. Rows that do not exist yet are created first (empty, LastSeq 0), so that two
// replicas seeing a new task at once serialize on its row. Rows are locked in id order, so
// that concurrent batches cannot deadlock.
func (db *DB) UpdateTasks(ctx context.Context, ids []string, fn func([]Task) ([]Task, error)) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	lock := func(ids []string) ([]Task, error) {
		var rows []Task
		err := tx.SelectContext(ctx, &rows, `SELECT `+taskColumns+` FROM tasks WHERE task_id = ANY($1) ORDER BY task_id FOR UPDATE`, pq.Array(ids))
		return rows, err
	}
	rows, err := lock(ids)
	if err != nil {
		return err
	}
	if len(rows) < len(ids) { // tasks seen for the first time: create their rows, then lock them too
		found := make(map[string]bool, len(rows))
		for _, r := range rows {
			found[r.TaskID] = true
		}
		var missing []string
		for _, id := range ids {
			if !found[id] {
				missing = append(missing, id)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tasks (task_id) SELECT unnest($1::text[]) ORDER BY 1 ON CONFLICT (task_id) DO NOTHING`,
			pq.Array(missing)); err != nil {
			return err
		}
		more, err := lock(missing)
		if err != nil {
			return err
		}
		rows = append(rows, more...)
	}
	out, err := fn(rows)
	if err != nil {
		return err
	}
	if err := writeTasks(ctx, tx, out); err != nil {
		return err
	}
	return tx.Commit()
}

// ClaimDueTasks locks up to limit tasks whose next_fire_at is at or before now (earliest first), skipping
// rows another replica holds, runs fn on them and stores what it returns, in one transaction:
// what fn publishes is marked in the same step that ends the claim. An error from fn (or a
// crash) leaves the rows as they were, for the next poll. It returns how many were claimed.
func (db *DB) ClaimDueTasks(ctx context.Context, now time.Time, limit int, fn func([]Task) ([]Task, error)) (int, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var rows []Task
	if err := tx.SelectContext(ctx, &rows, `SELECT `+taskColumns+` FROM tasks WHERE next_fire_at <= $1
		ORDER BY next_fire_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit); err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, nil
	}
	out, err := fn(rows)
	if err != nil {
		return 0, err
	}
	if err := writeTasks(ctx, tx, out); err != nil {
		return 0, err
	}
	return len(rows), tx.Commit()
}

// writeTasks stores rows (all columns but the timestamps of the row itself) in one statement.
func writeTasks(ctx context.Context, tx *sqlx.Tx, rows []Task) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	ids, status := make([]string, 0, n), make([]string, 0, n)
	seqs := make([]int64, 0, n)
	var due, occurred, eventAt, dueFor, dueAt, overFor, overAt, next, closed []sql.NullString
	payloads := make([][]byte, 0, n)
	for _, r := range rows {
		ids, status, seqs = append(ids, r.TaskID), append(status, r.Status), append(seqs, r.LastSeq)
		due, occurred = append(due, nullSQLTime(r.DueDate)), append(occurred, nullSQLTime(r.LastOccurredAt))
		eventAt = append(eventAt, nullTime(r.LastEventAt))
		dueFor, dueAt = append(dueFor, nullSQLTime(r.DueFiredFor)), append(dueAt, nullSQLTime(r.DueFiredAt))
		overFor, overAt = append(overFor, nullSQLTime(r.OverdueFiredFor)), append(overAt, nullSQLTime(r.OverdueFiredAt))
		next, closed = append(next, nullSQLTime(r.NextFireAt)), append(closed, nullSQLTime(r.ClosedAt))
		payloads = append(payloads, r.Payload)
	}
	all, starts, ends := pack(payloads)
	_, err := tx.ExecContext(ctx, `UPDATE tasks t SET due_date = u.due_date, status = u.status, last_occurred_at = u.occurred,
			last_seq = u.seq, last_event_at = coalesce(u.event_at, t.last_event_at),
			payload = CASE WHEN u.stop > u.start THEN substring($3::bytea FROM u.start + 1 FOR u.stop - u.start) ELSE t.payload END,
			due_fired_for = u.due_for, due_fired_at = u.due_at, overdue_fired_for = u.over_for, overdue_fired_at = u.over_at,
			next_fire_at = u.next_at, closed_at = u.closed, updated_at = now()
		FROM unnest($1::text[], $2::timestamptz[], $4::text[], $5::timestamptz[], $6::bigint[], $7::timestamptz[], $8::int[], $9::int[],
			$10::timestamptz[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::timestamptz[])
			AS u(task_id, due_date, status, occurred, seq, event_at, start, stop, due_for, due_at, over_for, over_at, next_at, closed)
		WHERE t.task_id = u.task_id`,
		pq.Array(ids), pq.Array(due), all, pq.Array(status), pq.Array(occurred), pq.Array(seqs), pq.Array(eventAt),
		pq.Array(starts), pq.Array(ends), pq.Array(dueFor), pq.Array(dueAt), pq.Array(overFor), pq.Array(overAt),
		pq.Array(next), pq.Array(closed))
	return err
}

// pack concatenates byte strings for one bytea parameter, with their offsets: a bytea[]
// parameter travels as hex text and costs twice as much (see insertEvents).
func pack(parts [][]byte) (all []byte, starts, ends []int64) {
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	all = make([]byte, 0, size)
	starts, ends = make([]int64, 0, len(parts)), make([]int64, 0, len(parts))
	for _, p := range parts {
		starts = append(starts, int64(len(all)))
		all = append(all, p...)
		ends = append(ends, int64(len(all)))
	}
	return all, starts, ends
}

func nullSQLTime(t sql.NullTime) sql.NullString {
	if !t.Valid {
		return sql.NullString{}
	}
	return nullTime(t.Time)
}

// GetTask returns a task's row, ErrNotFound when Taskhook has seen no event of it.
func (db *DB) GetTask(ctx context.Context, id string) (*Task, error) {
	var t Task
	err := db.GetContext(ctx, &t, `SELECT `+taskColumns+` FROM tasks WHERE task_id = $1 AND last_seq > 0`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &t, err
}

// ScheduledTasks counts the tasks with a reminder to come (a scan of the partial index on
// next_fire_at: about 170 ms for a million on the bench machine, so its gauge is refreshed
// rarely).
func (db *DB) ScheduledTasks(ctx context.Context) (int64, error) {
	var n int64
	err := db.GetContext(ctx, &n, `SELECT count(*) FROM tasks WHERE next_fire_at IS NOT NULL`)
	return n, err
}

// ReminderLag is how long the oldest reminder whose time has come has waited (0: none); one
// index lookup whatever the number of tasks waiting.
func (db *DB) ReminderLag(ctx context.Context) (time.Duration, error) {
	var lag sql.NullFloat64
	err := db.GetContext(ctx, &lag, `SELECT extract(epoch FROM now() - min(next_fire_at)) FROM tasks WHERE next_fire_at <= now()`)
	return time.Duration(lag.Float64 * float64(time.Second)), err
}
