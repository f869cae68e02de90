package store

import (
	"context"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Ordered delivery per subject: a delivery of a webhook with ordering "subject" carries its
// event's subject (order_key) and stream sequence. Claim takes it only when no earlier delivery
// of the same webhook and subject is unfinished (pending, in flight or waiting for a retry:
// due_at is set until a delivery is final), so that one event per subject is in flight per
// webhook, in stream order, across replicas and restarts, and a retrying event holds back only
// its own subject. An event stored late (its message was redelivered after a later one of the
// same subject had been stored and attempted) is superseded: failed without being sent, never
// sent after the later one.

// inOrderSQL is Claim's condition on a candidate d.
const inOrderSQL = `(d.order_key IS NULL OR NOT EXISTS (
		SELECT 1 FROM deliveries p
		WHERE p.webhook_id = d.webhook_id AND p.order_key = d.order_key AND p.stream_seq < d.stream_seq AND p.due_at IS NOT NULL))`

// supersededSQL is whether a candidate d has a later delivery of its subject that was already
// attempted or is in flight.
const supersededSQL = `(d.order_key IS NOT NULL AND EXISTS (
		SELECT 1 FROM deliveries n
		WHERE n.webhook_id = d.webhook_id AND n.order_key = d.order_key AND n.stream_seq > d.stream_seq
		AND (n.attempts > 0 OR n.lease_token IS NOT NULL)))`

// orderDeliveries records the subject and sequence of new deliveries (inserted in the same
// transaction).
func orderDeliveries(ctx context.Context, tx *sqlx.Tx, os []Ordered) error {
	if len(os) == 0 {
		return nil
	}
	ids, keys, seqs := make([]string, len(os)), make([]string, len(os)), make([]int64, len(os))
	for i, o := range os {
		ids[i], keys[i], seqs[i] = o.ID.String(), o.Key, int64(o.Seq)
	}
	_, err := tx.ExecContext(ctx, `UPDATE deliveries d SET order_key = x.k, stream_seq = x.s
		FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS x(id, k, s)
		WHERE d.id = x.id AND d.order_key IS NULL`, pq.Array(ids), pq.Array(keys), pq.Array(seqs))
	return err
}
