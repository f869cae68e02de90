// Package deliver is the delivery engine: per-webhook lanes with bounded concurrency (a slow or
// failing endpoint never delays another), optional per-webhook rate limits, the attempt itself
// (render, sign, send through the SSRF-safe client, classify), the retry schedule, the poller
// that claims due retries from PostgreSQL, and the writer that records outcomes in batches.
package deliver

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/taskhook/taskhook/dispatcher/internal/metrics"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/retry"
	"github.com/taskhook/taskhook/pkg/tracing"
)

// Config tunes the engine.
type Config struct {
	Schedule           Schedule
	AttemptTimeout     time.Duration
	RetryAfterMax      time.Duration
	Lease              time.Duration // how long a claim holds a delivery
	MaxInflight        int           // attempts at once, all webhooks
	WebhookConcurrency int           // attempts at once, per webhook
	LaneQueue          int           // queued jobs per webhook before new ones are left to the poller
	MaxQueued          int           // queued jobs in all, bounding memory
	PollInterval       time.Duration
	WriteBatch         int
	WriteInterval      time.Duration
	ExcerptBytes       int
	GaugeInterval      time.Duration // how often the backlog gauges are refreshed
	// Tracing records a span per attempt (nil or off: none).
	Tracing *tracing.Tracing
	// Marks tells which claimed deliveries belong to an alert or are fallbacks, and how their
	// messages say so (internal/alert); nil: none do.
	Marks func(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*notify.Alert, error)
}

// Store is what the engine needs of PostgreSQL (*store.DB).
type Store interface {
	// Claim leases up to limit due deliveries to this replica.
	Claim(ctx context.Context, limit int, lease time.Duration) ([]store.Claimed, error)
	// Write records outcomes, fenced by each row's lease.
	Write(ctx context.Context, b *store.Batch) (*store.Written, error)
	// Release gives leased rows back, due again after each lease's After.
	Release(ctx context.Context, ls []store.Lease) error
	// RenewLeases extends the leases still held; it returns the rows renewed.
	RenewLeases(ctx context.Context, ls []store.Lease, lease time.Duration) ([]uuid.UUID, error)
	// ReserveRate takes a webhook's next slot at perSecond, shared by every replica.
	ReserveRate(ctx context.Context, webhook uuid.UUID, perSecond float64, notAfter time.Time) (time.Time, bool, error)
	// RetryBacklog measures what waits for a retry.
	RetryBacklog(ctx context.Context) (store.Backlog, error)
}

// Webhooks is where the engine finds a webhook's current configuration.
type Webhooks interface {
	Get(id uuid.UUID) *subscription.Compiled
}

// Engine sends deliveries.
type Engine struct {
	cfg     Config
	db      Store
	hooks   Webhooks
	client  *http.Client
	box     *secretbox.Box
	metrics *metrics.Metrics
	log     *zap.Logger

	sem      chan struct{} // global in-flight attempts
	mu       sync.Mutex
	lanes    map[uuid.UUID]*lane
	queued   atomic.Int64
	stopping atomic.Bool
	workers  sync.WaitGroup
	writer   *writer
	poll     chan struct{}
	wake     chan time.Time // extra looks the poller is asked for (PokeAt)
	// base is the context of the lanes' attempts: Stop cancels it once the grace period is over.
	base       context.Context
	cancelBase context.CancelFunc

	tracer trace.Tracer

	heldMu sync.Mutex
	held   map[uuid.UUID]*Job // jobs whose rows this replica holds a lease on, until their outcome is written
}

// New returns an engine; Run starts its poller and writer.
func New(cfg Config, db Store, hooks Webhooks, client *http.Client, box *secretbox.Box, m *metrics.Metrics, log *zap.Logger) *Engine {
	if cfg.ExcerptBytes == 0 {
		cfg.ExcerptBytes = 512
	}
	if cfg.LaneQueue == 0 {
		cfg.LaneQueue = 10000
	}
	if cfg.GaugeInterval == 0 {
		cfg.GaugeInterval = 5 * time.Second
	}
	if cfg.MaxQueued == 0 {
		cfg.MaxQueued = 100000
	}
	if cfg.Tracing == nil {
		cfg.Tracing = tracing.Off()
	}
	e := &Engine{cfg: cfg, db: db, hooks: hooks, client: client, box: box, metrics: m, log: log,
		sem: make(chan struct{}, cfg.MaxInflight), lanes: map[uuid.UUID]*lane{}, poll: make(chan struct{}, 1), wake: make(chan time.Time, 1024), held: map[uuid.UUID]*Job{}}
	e.writer = newWriter(e)
	e.tracer = cfg.Tracing.Tracer("taskhook/dispatcher/deliver")
	e.base, e.cancelBase = context.WithCancel(context.Background())
	return e
}

// SharedRateMax is the highest rate_limit_per_second enforced across replicas (one PostgreSQL
// statement per attempt); above it, each replica enforces the rate on its own.
const SharedRateMax = 100

// process runs one job: wait for the rate limit and a global slot, attempt, hand the result on.
// Never wait past the lease: the row would be claimed by another replica meanwhile.
func (e *Engine) process(lim *rate.Limiter, perSecond float64, j *Job) {
	switch {
	case lim != nil:
		ctx, cancel := context.WithDeadline(context.Background(), e.deadline(j))
		err := lim.Wait(ctx)
		cancel()
		if err != nil {
			e.giveBack(j)
			return
		}
	case perSecond > 0:
		if !e.waitShared(j, perSecond) {
			e.giveBack(j)
			return
		}
	}
	// Wait for a global slot only until the last moment the attempt may start: past it another
	// replica may have claimed the row, and the attempt would race it.
	if !acquire(e.sem, e.deadline(j)) {
		e.giveBack(j)
		return
	}
	e.metrics.Inflight.Inc()
	ctx, stop := e.fence(j)
	r := e.attempt(ctx, j)
	if errors.Is(context.Cause(ctx), errLeaseLapsed) {
		r.abandoned(errLeaseLapsed.Error())
		e.log.Warn("attempt abandoned: its lease was not renewed in time", zap.String("delivery_id", j.DeliveryID.String()),
			zap.String("webhook_id", j.WebhookID.String()))
	}
	stop()
	e.metrics.Inflight.Dec()
	<-e.sem
	e.complete(r)
}

// waitShared takes the webhook's next slot at its rate, shared by every replica through
// PostgreSQL, and waits for it; false when that slot would begin after the job's deadline (it is
// then left for another attempt) or cannot be taken.
func (e *Engine) waitShared(j *Job, perSecond float64) bool {
	deadline := e.deadline(j)
	ctx, cancel := context.WithDeadline(e.base, deadline)
	defer cancel()
	at, ok, err := e.db.ReserveRate(ctx, j.WebhookID, perSecond, deadline)
	if err != nil && ctx.Err() == nil {
		e.metrics.WriteErrors.WithLabelValues("rate limit").Inc()
	}
	if err != nil || !ok {
		return false
	}
	if wait := time.Until(at); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// acquire takes a slot of sem, waiting at most until deadline; false when the deadline came
// first (or had passed).
func acquire(sem chan struct{}, deadline time.Time) bool {
	wait := time.Until(deadline)
	if wait <= 0 {
		return false
	}
	select {
	case sem <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return time.Now().Before(deadline) || release(sem)
	case <-t.C:
		return false
	}
}

// release gives a slot back and says false (for acquire's late-slot case).
func release(sem chan struct{}) bool {
	<-sem
	return false
}

// Hold registers jobs whose rows are leased to this replica, so that their leases are renewed
// until their outcome is written (the consumer calls it for the pending rows it wrote).
func (e *Engine) Hold(jobs ...*Job) {
	e.heldMu.Lock()
	for _, j := range jobs {
		e.held[j.DeliveryID] = j
	}
	e.heldMu.Unlock()
}

// unhold forgets jobs whose outcome (or release) is written.
func (e *Engine) unhold(rs []*Result) {
	e.heldMu.Lock()
	for _, r := range rs {
		if e.held[r.Job.DeliveryID] == r.Job {
			delete(e.held, r.Job.DeliveryID)
		}
	}
	e.heldMu.Unlock()
}

// RenewEvery is how often a replica renews its leases: a sixth of the lease, so that a live
// replica's leases always have more than their guard left between renewals, and a dead one's end
// within a lease.
func RenewEvery(lease time.Duration) time.Duration { return max(lease/6, 100*time.Millisecond) }

// Guard is the end of a lease that no attempt runs into: an attempt starts only while more than
// the guard is left of its lease, and is cancelled (the fence) when only the guard is left
// because renewals failed. Another replica claims the row only once the lease has ended, so an
// attempt, however long, never overlaps another replica's attempt of the same delivery unless
// it was already in flight (a quarter of the lease: room for renewals that are late by more than
// two periods, and for the cancellation to reach the socket).
func Guard(lease time.Duration) time.Duration { return lease / 4 }

// MinLease is the shortest lease that covers a whole attempt without renewals (a manual retry,
// made outside the engine's renewals, is leased this long).
func MinLease(attemptTimeout time.Duration) time.Duration {
	return (attemptTimeout + LeaseMargin) * 5 / 4
}

// abandoned marks an attempt cut short by its fence (unless it succeeded all the same): its
// outcome is recorded only if this replica still holds the lease (the write is fenced too).
func (r *Result) abandoned(reason string) {
	if r.Outcome.Result == notify.Success {
		return
	}
	r.Outcome.Reason, r.Attempt.Error, r.State.LastError = reason, reason, reason
}

// errLeaseLapsed cancels an attempt whose lease was not renewed in time.
var errLeaseLapsed = errors.New("attempt abandoned: this replica could not renew its lease in time, so another replica may take the delivery over")

// fence runs an attempt's context only while this replica's lease on j's row lasts: it is
// cancelled with errLeaseLapsed once less than the guard is left of the lease (renewals extend
// it). stop releases it.
func (e *Engine) fence(j *Job) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(e.base)
	var mu sync.Mutex
	var t *time.Timer
	stopped := false
	var check func()
	check = func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		left := time.Until(e.deadline(j))
		if left <= 0 {
			cancel(errLeaseLapsed)
			return
		}
		t = time.AfterFunc(left, check)
	}
	check()
	return ctx, func() {
		mu.Lock()
		stopped = true
		if t != nil {
			t.Stop()
		}
		mu.Unlock()
		cancel(nil)
	}
}

// renewLoop renews the leases of every held job, every RenewEvery, in one statement.
func (e *Engine) renewLoop(ctx context.Context) {
	retry.Every(ctx, RenewEvery(e.cfg.Lease), func(ctx context.Context) {
		if err := e.renew(ctx); err != nil && ctx.Err() == nil {
			e.metrics.WriteErrors.WithLabelValues("renew leases").Inc()
			e.log.Warn("renewing leases failed; retrying", zap.Error(err))
		}
	})
}

func (e *Engine) renew(ctx context.Context) error {
	e.heldMu.Lock()
	leases := make([]store.Lease, 0, len(e.held))
	jobs := make(map[uuid.UUID]*Job, len(e.held))
	for id, j := range e.held {
		leases = append(leases, store.Lease{ID: id, Token: j.Lease, CreatedAt: j.Received})
		jobs[id] = j
	}
	e.heldMu.Unlock()
	if len(leases) == 0 {
		return nil
	}
	until := time.Now().Add(e.cfg.Lease)
	// A slow renewal still extends the leases from before it was sent: it may take up to half
	// the lease (the next one waits for it).
	rctx, cancel := context.WithTimeout(ctx, e.cfg.Lease/2)
	defer cancel()
	renewed, err := e.db.RenewLeases(rctx, leases, e.cfg.Lease)
	if err != nil {
		return err
	}
	// A row not renewed is final, released, or claimed by another replica after this one lost
	// its lease (a stall): its job keeps its old end, and is given back when it passes.
	for _, id := range renewed {
		jobs[id].extend(until)
	}
	return nil
}

// LeaseMargin is kept between the end of an unrenewed attempt and the end of its lease (clock
// skew between replicas and PostgreSQL, time to record the outcome).
const LeaseMargin = 2 * time.Second

// deadline is the last moment an attempt of j may start, or run: the end of its lease as last
// renewed, less the guard.
func (e *Engine) deadline(j *Job) time.Time {
	return j.leaseEnd().Add(-Guard(e.cfg.Lease))
}

// giveBack returns a job that will not be attempted now.
func (e *Engine) giveBack(j *Job) {
	r := &Result{Job: j}
	if j.finish(r) {
		return
	}
	e.writer.add(r)
}

func (e *Engine) complete(r *Result) {
	if r.Job.finish(r) {
		return
	}
	e.writer.add(r)
}
