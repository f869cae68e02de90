// Package reseal moves every sealed value to the current encryption key after a rotation
// (TASKHOOK_ENCRYPTION_KEY new, the old one in TASKHOOK_PREVIOUS_ENCRYPTION_KEYS): webhook URLs
// and credentials, stored events, response excerpts and task state, in batches, in the
// background, each row updated only if it still holds the value that was read (a concurrent
// change wins). It counts what is left (GET /v1/stats sealed_with_previous_keys, the gauge
// taskhook_sealed_with_previous_keys); once nothing is left, the old keys can be removed.
package reseal

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/deliver"
	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/due"
	"github.com/taskhook/taskhook/dispatcher/internal/metrics"
	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

// column is one sealed column: how its rows are walked (key, in key order), and the
// associated data its values are bound to.
type column struct {
	table, col string
	key        string // row key expression, compared with > and ordered on
	cast       string // type of the key for the comparison
	aadOf      string // expression whose text gives the associated data
	aad        func(string) []byte
}

func excerptAAD(id string) []byte {
	u, err := uuid.Parse(id)
	if err != nil {
		return nil
	}
	return deliver.ExcerptAAD(u)
}

var columns = []column{
	{"webhooks", "url_sealed", "id", "uuid", "id", subscription.URLAAD},
	{"webhooks", "auth_sealed", "id", "uuid", "id", subscription.AuthAAD},
	{"webhooks", "tls_sealed", "id", "uuid", "id", subscription.TLSAAD},
	{"events", "payload", "id", "text", "id", deliver.EventAAD},
	{"deliveries", "last_excerpt", "id", "uuid", "id", excerptAAD},
	{"attempts", "response_excerpt", "ctid", "tid", "delivery_id", excerptAAD},
	{"tasks", "payload", "task_id", "text", "task_id", due.PayloadAAD},
	{"digest_items", "payload", "ctid", "tid", "webhook_id::text || ':' || event_id", digestItemAAD},
}

// digestItemAAD is digest.ItemAAD from "<webhook id>:<event id>".
func digestItemAAD(key string) []byte {
	webhook, eventID, _ := strings.Cut(key, ":")
	u, err := uuid.Parse(webhook)
	if err != nil {
		return nil
	}
	return digest.ItemAAD(u, eventID)
}

// Resealer re-seals what is not sealed with the current key.
type Resealer struct {
	DB      *store.DB
	Box     *secretbox.Box
	Metrics *metrics.Metrics
	Log     *zap.Logger
	Batch   int           // rows per statement
	Every   time.Duration // pause between passes while something is left
	left    atomic.Int64
	counted atomic.Bool
}

// Left is how many sealed values were not sealed with the current key at the last count, less
// those re-sealed since; -1 before the first count.
func (r *Resealer) Left() int64 {
	if !r.counted.Load() {
		return -1
	}
	return r.left.Load()
}

// Run makes passes until one leaves nothing to re-seal (values no key opens are counted and
// left alone), then stops: nothing is sealed with an old key after that, until a restart with a
// new key.
func (r *Resealer) Run(ctx context.Context) {
	for ctx.Err() == nil {
		left, err := r.Pass(ctx)
		if err != nil && ctx.Err() == nil {
			r.Log.Warn("re-sealing failed; retrying", zap.Error(err))
		}
		if err == nil && left == 0 {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(r.Every):
		}
	}
}

// Pass counts what is left, re-seals it, and returns what is still left (values that no key of
// the box opens).
func (r *Resealer) Pass(ctx context.Context) (int64, error) {
	prefix := r.Box.CurrentPrefix()
	var total int64
	for _, c := range columns {
		var n int64
		if err := r.DB.GetContext(ctx, &n, fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s IS NOT NULL AND substring(%s FROM 1 FOR %d) <> $1`,
			c.table, c.col, c.col, len(prefix)), prefix); err != nil {
			return -1, fmt.Errorf("count %s.%s: %w", c.table, c.col, err)
		}
		total += n
	}
	r.set(total)
	if total == 0 {
		return 0, nil
	}
	r.Log.Info("re-sealing values sealed with previous keys", zap.Int64("values", total))
	var stuck int64
	for _, c := range columns {
		n, err := r.column(ctx, c, prefix)
		stuck += n
		if err != nil {
			return -1, err
		}
	}
	r.set(stuck)
	if stuck > 0 {
		r.Log.Error("values no key opens were left as they are (TASKHOOK_PREVIOUS_ENCRYPTION_KEYS lacks their key?)", zap.Int64("values", stuck))
	}
	return stuck, nil
}

func (r *Resealer) set(n int64) {
	r.left.Store(n)
	r.counted.Store(true)
	if r.Metrics != nil {
		r.Metrics.SealedPrevious.Set(float64(n))
	}
}

// column re-seals one column in key order; it returns how many values it could not open.
func (r *Resealer) column(ctx context.Context, c column, prefix []byte) (int64, error) {
	var stuck int64
	after := ""
	for {
		q := fmt.Sprintf(`SELECT %s::text AS k, %s::text AS a, %s AS v FROM %s
			WHERE %s IS NOT NULL AND substring(%s FROM 1 FOR %d) <> $1 AND ($2 = '' OR %s > $2::%s)
			ORDER BY %s LIMIT $3`, c.key, c.aadOf, c.col, c.table, c.col, c.col, len(prefix), c.key, c.cast, c.key)
		var rows []struct {
			K string `db:"k"`
			A string `db:"a"`
			V []byte `db:"v"`
		}
		if err := r.DB.SelectContext(ctx, &rows, q, prefix, after, r.Batch); err != nil {
			return stuck, fmt.Errorf("read %s.%s: %w", c.table, c.col, err)
		}
		if len(rows) == 0 {
			return stuck, nil
		}
		keys, news, olds := make([]string, 0, len(rows)), make([][]byte, 0, len(rows)), make([][]byte, 0, len(rows))
		for _, row := range rows {
			nv, err := r.Box.Reseal(row.V, c.aad(row.A))
			if err != nil {
				stuck++
				continue
			}
			keys, news, olds = append(keys, row.K), append(news, nv), append(olds, row.V)
		}
		after = rows[len(rows)-1].K
		if len(keys) > 0 {
			res, err := r.DB.ExecContext(ctx, fmt.Sprintf(`UPDATE %s t SET %s = u.new FROM unnest($1::text[], $2::bytea[], $3::bytea[]) AS u(k, new, old)
				WHERE t.%s = u.k::%s AND t.%s = u.old`, c.table, c.col, c.key, c.cast, c.col),
				pq.Array(keys), pq.ByteaArray(news), pq.ByteaArray(olds))
			if err != nil {
				return stuck, fmt.Errorf("write %s.%s: %w", c.table, c.col, err)
			}
			n, _ := res.RowsAffected()
			r.left.Add(-n)
			if r.Metrics != nil {
				r.Metrics.SealedPrevious.Sub(float64(n))
			}
		}
	}
}
