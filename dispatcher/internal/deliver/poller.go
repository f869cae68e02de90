package deliver

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/retry"
	"github.com/taskhook/taskhook/pkg/tracing"
)

// ClaimBatch bounds one claim query.
const ClaimBatch = 500

// Run runs the poller, the writer, the lease renewal and the backlog gauges until ctx ends, and
// returns once they and every attempt returned. For a graceful end call Stop before ctx ends:
// once ctx ended, attempts still in flight are cancelled.
func (e *Engine) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){e.renewLoop, e.writer.run, e.pollLoop, e.backlogLoop} {
		wg.Add(1)
		go func() { defer wg.Done(); loop(ctx) }()
	}
	wg.Wait()
	e.cancelBase()
	e.workers.Wait()
	return nil
}

// Poke makes the poller look for due deliveries now (after a replay, say).
func (e *Engine) Poke() {
	select {
	case e.poll <- struct{}{}:
	default:
	}
}

// PokeAt makes the poller look for due deliveries at t (when deliveries stored as due later,
// such as ordered ones, become due), besides its usual polls. It never blocks: when too many
// wakes are waiting, the usual polls find those deliveries.
func (e *Engine) PokeAt(t time.Time) {
	select {
	case e.wake <- t:
	default:
	}
}

// wakeCoalesce merges wakes this close together into one look.
const wakeCoalesce = 10 * time.Millisecond

func (e *Engine) pollLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	var wakes []time.Time // ascending, owned by this loop
	nextAt := time.Now()  // when the timer fires
	for {
		select {
		case <-ctx.Done():
			return
		case w := <-e.wake:
			if n := len(wakes); n == 0 || w.After(wakes[n-1].Add(wakeCoalesce)) {
				wakes = append(wakes, w)
			} else if w.Before(wakes[n-1]) { // out of order (rare): keep the list sorted
				wakes = append(wakes, w)
				slices.SortFunc(wakes, func(a, b time.Time) int { return a.Compare(b) })
			}
			if d := time.Until(wakes[0]); d > 0 {
				if wakes[0].Before(nextAt) {
					t.Reset(d)
					nextAt = wakes[0]
				}
				continue
			}
		case <-t.C:
		case <-e.poll:
		}
		now := time.Now()
		for len(wakes) > 0 && !wakes[0].After(now) {
			wakes = wakes[1:]
		}
		n, full := e.pollOnce(ctx)
		next := e.cfg.PollInterval
		if full {
			next = 0 // more are due: claim again at once
		} else if n < 0 {
			next = 2 * e.cfg.PollInterval
		}
		if len(wakes) > 0 {
			next = max(0, min(next, time.Until(wakes[0])))
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
		nextAt = time.Now().Add(next)
	}
}

// pollOnce claims due deliveries up to the free capacity and queues them; it returns how many
// it claimed (-1 on error) and whether it could have claimed more.
func (e *Engine) pollOnce(ctx context.Context) (int, bool) {
	if e.stopping.Load() {
		return 0, false
	}
	free := e.cfg.MaxInflight - int(e.queued.Load()) - len(e.sem)
	if free <= 0 {
		return 0, false
	}
	limit := min(free, ClaimBatch)
	began := time.Now()
	claimed, err := e.db.Claim(ctx, limit, e.cfg.Lease)
	e.metrics.ClaimDuration.Observe(time.Since(began).Seconds())
	if err != nil {
		if ctx.Err() == nil {
			e.metrics.WriteErrors.WithLabelValues("claim").Inc()
			e.log.Warn("claiming due deliveries failed", zap.Error(err))
		}
		return -1, false
	}
	marks, err := e.marks(ctx, claimed)
	for i := range claimed {
		// The lease is measured on this replica's clock from before the claim was sent: it
		// ends no later than the row's due_at in PostgreSQL (the fence is never late).
		claimed[i].LeaseUntil = began.Add(e.cfg.Lease)
		j, failed := e.jobFromClaim(&claimed[i])
		e.Hold(j) // renewed until the outcome (or the release) is written
		if err != nil && failed == nil {
			e.writer.add(&Result{Job: j, RetryIn: time.Second}) // not rendered without its alert link: released
			continue
		}
		if failed == nil {
			j.Alert = marks[j.DeliveryID]
		}
		if failed != nil {
			e.writer.add(failed)
			continue
		}
		if !e.offer(j) {
			e.writer.add(&Result{Job: j, RetryIn: e.backoff(j.WebhookID)}) // lane full: released until it has room
		}
	}
	return len(claimed), len(claimed) == limit
}

// jobFromClaim opens a claimed delivery's event; a delivery that can never be attempted (or is
// superseded) comes back with a failed result as well.
func (e *Engine) jobFromClaim(c *store.Claimed) (*Job, *Result) {
	j := &Job{DeliveryID: c.ID, WebhookID: c.WebhookID, EventID: c.EventID, EventType: c.EventType,
		Attempt: c.Attempts + 1, Lease: c.LeaseToken, LeaseUntil: c.LeaseUntil, Received: c.CreatedAt,
		SuppressedSinceLast: c.SuppressedSinceLast, Ordered: c.Ordered}
	if c.Superseded {
		return j, e.supersede(j)
	}
	if c.Payload == nil {
		return j, e.failNow(j, "the event is no longer stored (past retention)")
	}
	raw, err := e.box.Open(c.Payload, EventAAD(c.EventID))
	if err != nil {
		return j, e.failNow(j, "the stored event cannot be decrypted (TASKHOOK_ENCRYPTION_KEY changed?)")
	}
	head, err := event.ParseHead(raw)
	if err != nil {
		return j, e.failNow(j, "the stored event does not parse")
	}
	j.Event, j.OccurredAt = event.NewLazy(raw), head.OccurredAt
	if c.TraceParent.Valid {
		j.Trace = tracing.Parse(c.TraceParent.String)
	}
	return j, nil
}

// AttemptNow makes one attempt of a delivery the caller claimed (a manual retry), outside the
// lanes, records it and returns the result.
func (e *Engine) AttemptNow(ctx context.Context, c *store.Claimed) (*Result, error) {
	j, r := e.jobFromClaim(c)
	if r == nil {
		marks, err := e.marks(ctx, []store.Claimed{*c})
		if err != nil {
			return nil, err
		}
		j.Alert = marks[j.DeliveryID]
		r = e.attempt(ctx, j)
	}
	// The outcome is recorded even when the caller has gone meanwhile.
	b := &store.Batch{
		Updates:  []store.Update{{ID: r.Job.DeliveryID, WebhookID: r.Job.WebhookID, Lease: r.Job.Lease, CreatedAt: r.Job.Received, State: r.State}},
		Attempts: []store.Attempt{r.Attempt},
		Disable:  disables(r),
	}
	if g := GaveUp(r); g != nil {
		b.GaveUp = []store.GaveUp{*g}
	}
	written, err := e.db.Write(context.WithoutCancel(ctx), b)
	if err != nil {
		return nil, err
	}
	e.countFinal(r)
	e.CountFallbacks(written)
	return r, nil
}

func disables(r *Result) []store.Disable {
	if r.Disable == nil {
		return nil
	}
	return []store.Disable{*r.Disable}
}

// EventAAD binds a sealed event payload to its id.
func EventAAD(eventID string) []byte { return []byte("event:" + eventID) }

// failNow ends a delivery that can never be attempted.
func (e *Engine) failNow(j *Job, reason string) *Result {
	e.log.Error("delivery cannot be attempted", zap.String("delivery_id", j.DeliveryID.String()), zap.String("reason", reason))
	now := time.Now()
	return &Result{Job: j, Attempted: true,
		Attempt: store.Attempt{DeliveryID: j.DeliveryID, WebhookID: j.WebhookID, N: j.Attempt, StartedAt: now, Error: reason, Inline: j.Attempt == 1},
		State:   store.State{Status: store.StatusFailed, Attempts: j.Attempt, LastError: reason, LastAttemptAt: now}}
}

// supersede ends, unsent, an ordered delivery whose event was stored after a later event of the
// same subject had been attempted: sending it now would leave the receiver in an older state.
func (e *Engine) supersede(j *Job) *Result {
	const reason = "superseded: a later event of the same task, report or device was already sent (ordering: subject); this older one is not sent after it"
	e.log.Info("ordered delivery superseded", zap.String("delivery_id", j.DeliveryID.String()), zap.String("webhook_id", j.WebhookID.String()))
	now := time.Now()
	return &Result{Job: j, Attempted: true,
		Attempt: store.Attempt{DeliveryID: j.DeliveryID, WebhookID: j.WebhookID, N: j.Attempt, StartedAt: now, Error: reason, Inline: j.Attempt == 1},
		State:   store.State{Status: store.StatusFailed, Attempts: j.Attempt, LastError: reason, LastAttemptAt: now}}
}

// backlogLoop refreshes the backlog gauges at once, then every GaugeInterval.
func (e *Engine) backlogLoop(ctx context.Context) {
	measure := func(ctx context.Context) {
		b, err := e.db.RetryBacklog(ctx)
		if err != nil {
			return
		}
		e.metrics.RetryBacklog.Set(float64(b.Retrying))
		e.metrics.PendingBacklog.Set(float64(b.Pending))
		age := 0.0
		if b.OldestPending.Valid {
			age = time.Since(b.OldestPending.Time).Seconds()
		}
		e.metrics.RetryOldestAge.Set(age)
	}
	measure(ctx)
	retry.Every(ctx, e.cfg.GaugeInterval, measure)
}

// Stop ends the engine gracefully: no new work, in-flight attempts finish, queued jobs are
// given back, outcomes are written. It returns when done or when ctx ends.
func (e *Engine) Stop(ctx context.Context) {
	if e.stopping.Swap(true) {
		return
	}
	// Give back whatever is queued and not started; running attempts finish.
	e.mu.Lock()
	lanes := make([]*lane, 0, len(e.lanes))
	for _, l := range e.lanes {
		lanes = append(lanes, l)
	}
	e.mu.Unlock()
	for _, l := range lanes {
		l.mu.Lock()
		var back []*Job
		for l.size() > 0 {
			back = append(back, l.pop())
		}
		l.mu.Unlock()
		for _, j := range back {
			e.queued.Add(-1)
			e.metrics.Queued.Dec()
			e.giveBack(j)
		}
	}
	done := make(chan struct{})
	go func() { e.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// The grace period is over: cancel the attempts still in flight (their deliveries stay
		// leased to this replica and are claimed by another when the lease ends).
		e.cancelBase()
		select {
		case <-done:
		case <-time.After(time.Second):
		}
	}
	for e.writer.size() > 0 && ctx.Err() == nil {
		if err := e.writer.flush(ctx); err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// marks looks up how claimed deliveries that belong to alerts (or are fallbacks) are rendered
// (Config.Marks; none without it).
func (e *Engine) marks(ctx context.Context, claimed []store.Claimed) (map[uuid.UUID]*notify.Alert, error) {
	if e.cfg.Marks == nil || len(claimed) == 0 {
		return nil, nil
	}
	ids := make([]uuid.UUID, len(claimed))
	for i := range claimed {
		ids[i] = claimed[i].ID
	}
	m, err := e.cfg.Marks(ctx, ids)
	if err != nil && ctx.Err() == nil {
		e.metrics.WriteErrors.WithLabelValues("alert marks").Inc()
		e.log.Warn("reading alert marks failed; claimed deliveries released", zap.Error(err))
	}
	return m, err
}
