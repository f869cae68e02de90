package deliver

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/retry"
)

// writer records results in batches: one transaction for many attempts (updates fenced by
// lease, attempts, health counters, deactivations), and releases jobs that were not attempted.
type writer struct {
	e       *Engine
	mu      sync.Mutex
	pending []*Result
	kick    chan struct{}
}

func newWriter(e *Engine) *writer { return &writer{e: e, kick: make(chan struct{}, 1)} }

func (w *writer) add(r *Result) {
	w.mu.Lock()
	w.pending = append(w.pending, r)
	n := len(w.pending)
	w.mu.Unlock()
	if n >= w.e.cfg.WriteBatch {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

func (w *writer) size() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// run flushes until ctx ends, backing off while writes fail (PostgreSQL down).
func (w *writer) run(ctx context.Context) {
	t := time.NewTicker(w.e.cfg.WriteInterval)
	defer t.Stop()
	b := retry.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
		if err := w.flush(ctx); err != nil {
			if !retry.Sleep(ctx, b.Next()) {
				return
			}
			continue
		}
		b.Reset()
	}
}

// flush writes what is ready. Results of detached consumer jobs wait until the consumer's
// pending row committed (or are dropped when it did not: the event will be redelivered).
func (w *writer) flush(ctx context.Context) error {
	w.mu.Lock()
	var ready, keep []*Result
	for _, r := range w.pending {
		if len(ready) >= w.e.cfg.WriteBatch {
			keep = append(keep, r)
			continue
		}
		if f := r.Job.fresh; f != nil {
			select {
			case <-f.durable:
				if !f.okay.Load() {
					continue // the row was never written; NATS redelivers the event
				}
			default:
				keep = append(keep, r) // the consumer's write is not settled yet
				continue
			}
		}
		ready = append(ready, r)
	}
	w.pending = keep
	more := len(keep) > 0
	w.mu.Unlock()
	if len(ready) == 0 {
		return nil
	}
	if err := w.write(ctx, ready); err != nil {
		w.e.metrics.WriteErrors.WithLabelValues("record_outcomes").Inc()
		w.e.log.Warn("recording attempt outcomes failed; will retry", zap.Int("results", len(ready)), zap.Error(err))
		w.mu.Lock()
		w.pending = append(ready, w.pending...)
		w.mu.Unlock()
		return err
	}
	if more {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

func (w *writer) write(ctx context.Context, rs []*Result) error {
	if err := w.store(ctx, rs); err != nil {
		return err
	}
	w.e.unhold(rs)
	return nil
}

func (w *writer) store(ctx context.Context, rs []*Result) error {
	var b store.Batch
	var release []store.Lease
	for _, r := range rs {
		j := r.Job
		if !r.Attempted {
			release = append(release, store.Lease{ID: j.DeliveryID, Token: j.Lease, After: max(r.RetryIn, time.Second), CreatedAt: j.Received})
			continue
		}
		b.Updates = append(b.Updates, store.Update{ID: j.DeliveryID, WebhookID: j.WebhookID, Lease: j.Lease, CreatedAt: j.Received, State: r.State})
		b.Attempts = append(b.Attempts, r.Attempt)
		if r.Disable != nil {
			b.Disable = append(b.Disable, *r.Disable)
		}
		if g := GaveUp(r); g != nil {
			b.GaveUp = append(b.GaveUp, *g)
		}
	}
	if len(release) > 0 {
		// Not attempted (lane full, lease too short, shutting down): claimable again later.
		if err := w.e.db.Release(ctx, release); err != nil {
			return err
		}
	}
	if len(b.Updates) == 0 {
		return nil
	}
	written, err := w.e.db.Write(ctx, &b)
	if err != nil {
		return err
	}
	next := false
	for _, r := range rs {
		if r.Attempted && written.Updated[r.Job.DeliveryID] {
			w.e.countFinal(r)
			next = next || (r.Job.Ordered && store.Final(r.State.Status))
		}
	}
	if next { // the next event of an ordered subject may be attempted now
		w.e.Poke()
	}
	w.e.metrics.WebhooksDisabled.Add(float64(len(b.Disable)))
	w.e.CountFallbacks(written)
	return nil
}

// countFinal counts a delivery that reached a final state.
func (e *Engine) countFinal(r *Result) {
	switch r.State.Status {
	case store.StatusSucceeded, store.StatusFailed:
		e.metrics.Deliveries.WithLabelValues(r.Job.Provider, r.State.Status).Inc()
	}
}

// CountFinal is countFinal for the consumer's own writes.
func (e *Engine) CountFinal(r *Result) { e.countFinal(r) }

// CountFallbacks counts the fallback deliveries a write created, and has them claimed at once.
func (e *Engine) CountFallbacks(w *store.Written) {
	for _, reason := range w.Fallbacks {
		e.metrics.AlertFallbacks.WithLabelValues(reason).Inc()
	}
	if len(w.Fallbacks) > 0 {
		e.Poke()
	}
}
