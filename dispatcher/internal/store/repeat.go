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

// Repeat is a delivery's place under its webhook's repeat limit.
type Repeat struct {
	Key string        // the key's value for the event
	Per time.Duration // at most one delivery per event type and key per Per
}

// repeatGroup is a batch's deliveries of one (webhook, type, key), in batch order.
type repeatGroup struct {
	webhook uuid.UUID
	typ     string
	key     string
	per     time.Duration
	ids     []uuid.UUID
}

// applyRepeatLimits decides, in the transaction that inserted them, the fate of the batch's new
// deliveries under a repeat limit: per (webhook, type, key), one upsert of its repeat_limits
// row lets the first through when the period since the last one sent is over (it then carries
// the count suppressed since) and counts the others as suppressed. The rows are locked in key
// order, so two replicas' batches queue on the same key instead of both letting one through:
// the limit holds across replicas. Only deliveries this transaction inserted count (a
// redelivered event's rows exist already).
func applyRepeatLimits(ctx context.Context, tx *sqlx.Tx, ds []NewDelivery, w *Written) error {
	groups := repeatGroups(ds, w.Inserted)
	if len(groups) == 0 {
		return nil
	}
	var webhooks, types, keys []string
	var counts []int64
	var pers []float64
	for _, g := range groups {
		webhooks, types, keys = append(webhooks, g.webhook.String()), append(types, g.typ), append(keys, g.key)
		counts, pers = append(counts, int64(len(g.ids))), append(pers, g.per.Seconds())
	}
	// Every SET expression reads the row as it was: over (the period since sent_at is over)
	// lets one through, hands it the count suppressed so far and restarts the count with this
	// batch's others; otherwise the whole group is suppressed.
	rows, err := tx.QueryxContext(ctx, `INSERT INTO repeat_limits AS r (webhook_id, event_type, key, sent_at, per_s, suppressed, handed)
			SELECT u.webhook_id, u.event_type, u.key, now(), u.per, u.n - 1, 0
			FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::float8[]) WITH ORDINALITY AS u(webhook_id, event_type, key, n, per, i)
			ORDER BY u.i
		ON CONFLICT (webhook_id, event_type, key) DO UPDATE SET
			per_s = EXCLUDED.per_s,
			sent_at = CASE WHEN r.sent_at + make_interval(secs => EXCLUDED.per_s) <= now() THEN now() ELSE r.sent_at END,
			handed = CASE WHEN r.sent_at + make_interval(secs => EXCLUDED.per_s) <= now() THEN r.suppressed ELSE r.handed END,
			suppressed = CASE WHEN r.sent_at + make_interval(secs => EXCLUDED.per_s) <= now() THEN EXCLUDED.suppressed
				ELSE r.suppressed + EXCLUDED.suppressed + 1 END
		RETURNING webhook_id, event_type, key, sent_at = now() AS sent, handed`,
		pq.Array(webhooks), pq.Array(types), pq.Array(keys), pq.Array(counts), pq.Array(pers))
	if err != nil {
		return err
	}
	type outcome struct {
		sent   bool
		handed int
	}
	defer rows.Close()
	got := map[string]outcome{}
	for rows.Next() {
		var wh uuid.UUID
		var typ, key string
		var o outcome
		if err := rows.Scan(&wh, &typ, &key, &o.sent, &o.handed); err != nil {
			return err
		}
		got[wh.String()+"\x00"+typ+"\x00"+key] = o
	}
	if err := rows.Err(); err != nil { // the loop's end closed rows: the statements below may run
		return err
	}
	var suppressed, sentIDs []string
	var sentCounts []int64
	for _, g := range groups {
		o := got[g.webhook.String()+"\x00"+g.typ+"\x00"+g.key]
		ids := g.ids
		if o.sent {
			if o.handed > 0 {
				sentIDs, sentCounts = append(sentIDs, ids[0].String()), append(sentCounts, int64(o.handed))
			}
			ids = ids[1:]
		}
		for _, id := range ids {
			suppressed = append(suppressed, id.String())
			w.Suppressed[id] = true
		}
	}
	if len(suppressed) > 0 {
		slices.Sort(suppressed)
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'suppressed', due_at = NULL, lease_token = NULL
			WHERE id = ANY($1::uuid[])`, pq.Array(suppressed)); err != nil {
			return err
		}
	}
	if len(sentIDs) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries d SET suppressed_since_last = u.n
			FROM unnest($1::uuid[], $2::int[]) AS u(id, n) WHERE d.id = u.id`, pq.Array(sentIDs), pq.Array(sentCounts)); err != nil {
			return err
		}
	}
	return nil
}

// repeatGroups groups the inserted deliveries under a repeat limit by (webhook, type, key), in
// key order (the lock order); each group keeps its deliveries in batch order.
func repeatGroups(ds []NewDelivery, inserted map[uuid.UUID]bool) []*repeatGroup {
	by := map[string]*repeatGroup{}
	var out []*repeatGroup
	for _, d := range ds {
		if d.Repeat == nil || !inserted[d.ID] {
			continue
		}
		k := d.WebhookID.String() + "\x00" + d.EventType + "\x00" + d.Repeat.Key
		g := by[k]
		if g == nil {
			g = &repeatGroup{webhook: d.WebhookID, typ: d.EventType, key: d.Repeat.Key, per: d.Repeat.Per}
			by[k] = g
			out = append(out, g)
		}
		if !slices.Contains(g.ids, d.ID) {
			g.ids = append(g.ids, d.ID)
		}
	}
	slices.SortFunc(out, func(a, b *repeatGroup) int {
		if c := strings.Compare(a.webhook.String(), b.webhook.String()); c != 0 {
			return c
		}
		if c := strings.Compare(a.typ, b.typ); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	return out
}
