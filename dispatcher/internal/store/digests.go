package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// DigestItem is an event collected for a webhook's digest (written with the batch that
// consumed it, before the event is acknowledged).
type DigestItem struct {
	WebhookID  uuid.UUID
	EventID    string
	EventType  string
	OccurredAt time.Time
	Payload    []byte    // sealed
	Opened     time.Time // when a window this item opens opened (the batch's time)
	Closes     time.Time // when it would close
}

// insertDigestItems collects items (a redelivered event is not collected twice) and opens a
// window for every webhook that has none. The window rows are locked until the batch commits,
// so that a flusher (which skips locked windows) never closes a window while items for it are
// being written; a window the flusher holds is waited for, and a new one opened after it.
func insertDigestItems(ctx context.Context, tx *sqlx.Tx, items []DigestItem) error {
	if len(items) == 0 {
		return nil
	}
	items = slices.Clone(items)
	slices.SortFunc(items, func(a, b DigestItem) int {
		if c := strings.Compare(a.WebhookID.String(), b.WebhookID.String()); c != 0 {
			return c
		}
		return strings.Compare(a.EventID, b.EventID)
	})
	var hooks, ids, types, occurred []string
	var payloads [][]byte
	var wHooks, wOpened, wCloses []string
	for i, it := range items {
		if i > 0 && it.WebhookID == items[i-1].WebhookID && it.EventID == items[i-1].EventID {
			continue
		}
		hooks, ids, types = append(hooks, it.WebhookID.String()), append(ids, it.EventID), append(types, it.EventType)
		occurred, payloads = append(occurred, it.OccurredAt.UTC().Format(time.RFC3339Nano)), append(payloads, it.Payload)
		if i == 0 || it.WebhookID != items[i-1].WebhookID {
			wHooks, wCloses = append(wHooks, it.WebhookID.String()), append(wCloses, it.Closes.UTC().Format(time.RFC3339Nano))
			wOpened = append(wOpened, it.Opened.UTC().Format(time.RFC3339Nano))
		}
	}
	// Windows open only for webhooks that collected something new (not for a redelivery).
	_, err := tx.ExecContext(ctx, `WITH added AS (
			INSERT INTO digest_items (webhook_id, event_id, event_type, occurred_at, payload)
			SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::bytea[])
			ON CONFLICT (webhook_id, event_id) DO NOTHING
			RETURNING webhook_id)
		INSERT INTO digest_windows (webhook_id, opened_at, closes_at)
		SELECT u.id, u.opened, u.closes FROM unnest($6::uuid[], $7::timestamptz[], $8::timestamptz[]) AS u(id, opened, closes)
		WHERE u.id IN (SELECT webhook_id FROM added)
		ORDER BY u.id
		ON CONFLICT (webhook_id) DO UPDATE SET closes_at = digest_windows.closes_at`,
		pq.Array(hooks), pq.Array(ids), pq.Array(types), pq.Array(occurred), pq.ByteaArray(payloads),
		pq.Array(wHooks), pq.Array(wOpened), pq.Array(wCloses))
	return err
}

// DigestWindow is an open window of a webhook's digest.
type DigestWindow struct {
	WebhookID uuid.UUID `db:"webhook_id"`
	OpenedAt  time.Time `db:"opened_at"`
	ClosesAt  time.Time `db:"closes_at"`
}

// WaitingItem is a collected event of a closed window.
type WaitingItem struct {
	EventID    string    `db:"event_id"`
	EventType  string    `db:"event_type"`
	OccurredAt time.Time `db:"occurred_at"`
	Payload    []byte    `db:"payload"` // sealed
	Seq        int64     `db:"seq"`
}

// WaitingSize is a waiting item without its payload: enough to plan a window's parts.
type WaitingSize struct {
	Seq       int64  `db:"seq"`
	EventType string `db:"event_type"`
	Size      int    `db:"size"` // of the sealed payload
}

// DigestFlush is what the flusher makes of a closed window: the id of its first message
// (recorded on any item no part carried) and the window that follows (a daily digest that
// sends even empty days), if any.
type DigestFlush struct {
	DigestID uuid.UUID
	Next     *DigestWindow
}

// WindowTx reads a claimed window's waiting items and writes its messages, one part at a
// time, inside the flush's transaction: the flusher holds one part's payloads, never a window's.
type WindowTx struct {
	ctx     context.Context
	tx      *sqlx.Tx
	webhook uuid.UUID
	last    int64 // the last waiting item's seq (items collected meanwhile wait for the next window)
}

// Waiting lists the window's waiting items in arrival order, without their payloads.
func (w *WindowTx) Waiting() ([]WaitingSize, error) {
	var out []WaitingSize
	err := w.tx.SelectContext(w.ctx, &out, `SELECT seq, event_type, coalesce(octet_length(payload), 0) AS size FROM digest_items
		WHERE webhook_id = $1 AND digest_id IS NULL ORDER BY seq`, w.webhook)
	if len(out) > 0 {
		w.last = out[len(out)-1].Seq
	}
	return out, err
}

// Items reads the waiting items with first <= seq <= last, with their payloads.
func (w *WindowTx) Items(first, last int64) ([]WaitingItem, error) {
	var out []WaitingItem
	err := w.tx.SelectContext(w.ctx, &out, `SELECT event_id, event_type, occurred_at, payload, seq FROM digest_items
		WHERE webhook_id = $1 AND digest_id IS NULL AND seq BETWEEN $2 AND $3 ORDER BY seq`, w.webhook, first, last)
	return out, err
}

// Write records one message of the window (its event and delivery) and marks the items with
// first <= seq <= last as sent in it.
func (w *WindowTx) Write(ev Event, d NewDelivery, first, last int64) error {
	if err := insertEvents(w.ctx, w.tx, []Event{ev}); err != nil {
		return err
	}
	if err := insertDeliveries(w.ctx, w.tx, []NewDelivery{d}, map[uuid.UUID]bool{}); err != nil {
		return err
	}
	_, err := w.tx.ExecContext(w.ctx, `UPDATE digest_items SET digest_id = $2, payload = NULL
		WHERE webhook_id = $1 AND digest_id IS NULL AND seq BETWEEN $3 AND $4`, w.webhook, d.ID, first, last)
	return err
}

// FlushDigests claims up to limit closed windows (skipping those another replica or a batch
// being written holds) and, for each, in one transaction: hands build the window (build writes
// its messages through the WindowTx, part by part), marks what waited as sent and closes the
// window (or opens the next). build returning nil drops the window and its items (the webhook
// is gone). It returns the windows flushed.
func (db *DB) FlushDigests(ctx context.Context, limit int, build func(DigestWindow, *WindowTx) (*DigestFlush, error)) (int, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var ws []DigestWindow
	if err := tx.SelectContext(ctx, &ws, `SELECT webhook_id, opened_at, closes_at FROM digest_windows
		WHERE closes_at <= now() ORDER BY closes_at LIMIT $1 FOR UPDATE SKIP LOCKED`, limit); err != nil {
		return 0, err
	}
	for _, w := range ws {
		wtx := &WindowTx{ctx: ctx, tx: tx, webhook: w.WebhookID}
		f, err := build(w, wtx)
		if err != nil {
			return 0, err
		}
		if f == nil {
			if _, err := tx.ExecContext(ctx, `DELETE FROM digest_items WHERE webhook_id = $1 AND digest_id IS NULL`, w.WebhookID); err != nil {
				return 0, err
			}
		} else if wtx.last > 0 {
			// What no part carried (an item that could not be opened) is marked with the first.
			if _, err := tx.ExecContext(ctx, `UPDATE digest_items SET digest_id = $2, payload = NULL
				WHERE webhook_id = $1 AND digest_id IS NULL AND seq <= $3`, w.WebhookID, f.DigestID, wtx.last); err != nil {
				return 0, err
			}
		}
		if f != nil && f.Next != nil {
			_, err = tx.ExecContext(ctx, `UPDATE digest_windows SET opened_at = $2, closes_at = $3 WHERE webhook_id = $1`,
				w.WebhookID, f.Next.OpenedAt, f.Next.ClosesAt)
		} else {
			_, err = tx.ExecContext(ctx, `DELETE FROM digest_windows WHERE webhook_id = $1`, w.WebhookID)
		}
		if err != nil {
			return 0, err
		}
	}
	return len(ws), tx.Commit()
}

// OpenDigestWindow opens a window for a webhook unless one is open (a daily digest that sends
// even empty days has one at all times).
func OpenDigestWindow(ctx context.Context, q sqlx.ExecerContext, webhook uuid.UUID, opened, closes time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO digest_windows (webhook_id, opened_at, closes_at) VALUES ($1, $2, $3)
		ON CONFLICT (webhook_id) DO NOTHING`, webhook, opened, closes)
	return err
}

// CloseDigestWindow makes a webhook's open window due now: what it collected goes out as one
// message at the flusher's next pass (a digest turned off or changed).
func CloseDigestWindow(ctx context.Context, q sqlx.ExecerContext, webhook uuid.UUID) error {
	_, err := q.ExecContext(ctx, `UPDATE digest_windows SET closes_at = least(closes_at, now()) WHERE webhook_id = $1`, webhook)
	return err
}

// DigestBacklog is what digests hold: open windows and the events waiting in them.
type DigestBacklog struct {
	Windows int64 `db:"windows"`
	Waiting int64 `db:"waiting"`
}

// DigestBacklog measures the digests' open windows and waiting events.
func (db *DB) DigestBacklog(ctx context.Context) (DigestBacklog, error) {
	var b DigestBacklog
	err := db.GetContext(ctx, &b, `SELECT (SELECT count(*) FROM digest_windows) AS windows,
		(SELECT count(*) FROM digest_items WHERE digest_id IS NULL) AS waiting`)
	return b, err
}
