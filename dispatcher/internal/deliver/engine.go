// Package deliver is the delivery engine: per-webhook lanes with bounded concurrency (a slow or
// failing endpoint never delays another), optional per-webhook rate limits, the attempt itself
// (render, sign, send through the SSRF-safe client, classify), the retry schedule, the poller
// that claims due retries from PostgreSQL, and the writer that records outcomes in batches.
package deliver

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/metrics"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/version"
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
}

// Webhooks is where the engine finds a webhook's current configuration.
type Webhooks interface {
	Get(id uuid.UUID) *subscription.Compiled
}

// Engine sends deliveries.
type Engine struct {
	cfg     Config
	db      *store.DB
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
	// base is the context of the lanes' attempts: Stop cancels it once the grace period is over.
	base       context.Context
	cancelBase context.CancelFunc

	heldMu sync.Mutex
	held   map[uuid.UUID]*Job // jobs whose rows this replica holds a lease on, until their outcome is written
}

// New returns an engine; Run starts its poller and writer.
func New(cfg Config, db *store.DB, hooks Webhooks, client *http.Client, box *secretbox.Box, m *metrics.Metrics, log *zap.Logger) *Engine {
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
	e := &Engine{cfg: cfg, db: db, hooks: hooks, client: client, box: box, metrics: m, log: log,
		sem: make(chan struct{}, cfg.MaxInflight), lanes: map[uuid.UUID]*lane{}, poll: make(chan struct{}, 1), held: map[uuid.UUID]*Job{}}
	e.writer = newWriter(e)
	e.base, e.cancelBase = context.WithCancel(context.Background())
	return e
}

// lane queues one webhook's jobs (FIFO) and runs them through at most max workers, which
// start when work arrives and end when the queue is empty: an idle webhook costs nothing.
type lane struct {
	id      uuid.UUID
	mu      sync.Mutex
	q       []*Job
	head    int
	limit   int           // queued jobs before new ones are left to the poller
	limiter *rate.Limiter // nil: unlimited
	rateSet float64
	workers int
	max     int
}

func (l *lane) size() int { return len(l.q) - l.head }

func (l *lane) pop() *Job {
	j := l.q[l.head]
	l.q[l.head] = nil
	l.head++
	if l.head == len(l.q) {
		l.q, l.head = l.q[:0], 0
	} else if l.head > 1024 && l.head*2 > len(l.q) {
		l.q = append(l.q[:0], l.q[l.head:]...)
		l.head = 0
	}
	return j
}

// configure applies the webhook's rate limit. A rate-limited lane holds no more jobs than it
// can send within a lease (the others wait in PostgreSQL) and runs few workers, so that
// queued jobs wait in the queue rather than in an attempt slot.
func (e *Engine) configure(l *lane, wh *subscription.Compiled) {
	rl := 0.0
	if wh != nil {
		rl = wh.RateLimit
	}
	if rl == l.rateSet && l.limit != 0 {
		return
	}
	l.rateSet = rl
	if rl > 0 {
		l.limiter = nil // shared across replicas, in PostgreSQL (see process)
		if rl > SharedRateMax {
			l.limiter = rate.NewLimiter(rate.Limit(rl), 1) // per replica: a statement per attempt would cost more than the limit saves
		}
		l.max = max(1, min(e.cfg.WebhookConcurrency, int(math.Ceil(rl))))
		usable := (e.cfg.Lease - e.cfg.AttemptTimeout - LeaseMargin).Seconds()
		l.limit = max(1, min(e.cfg.LaneQueue, int(rl*usable/2)))
		return
	}
	l.limiter, l.max, l.limit = nil, e.cfg.WebhookConcurrency, e.cfg.LaneQueue
}

// offer queues j on its webhook's lane; false when the lane (or the engine) is full or the
// engine stops.
func (e *Engine) offer(j *Job) bool {
	if e.stopping.Load() || e.queued.Load() >= int64(e.cfg.MaxQueued) {
		return false
	}
	wh := e.hooks.Get(j.WebhookID)
	e.mu.Lock()
	l := e.lanes[j.WebhookID]
	if l == nil {
		l = &lane{id: j.WebhookID}
		e.lanes[j.WebhookID] = l
	}
	e.mu.Unlock()
	l.mu.Lock()
	e.configure(l, wh)
	if l.size() >= l.limit {
		l.mu.Unlock()
		return false
	}
	l.q = append(l.q, j)
	e.queued.Add(1)
	e.metrics.Queued.Inc()
	if l.workers < l.max && l.workers < l.size() {
		l.workers++
		e.workers.Add(1)
		go e.runLane(l)
	}
	l.mu.Unlock()
	return true
}

func (e *Engine) runLane(l *lane) {
	defer e.workers.Done()
	for {
		l.mu.Lock()
		if l.size() == 0 {
			l.workers--
			l.mu.Unlock()
			return
		}
		j, lim, rt := l.pop(), l.limiter, l.rateSet
		l.mu.Unlock()
		e.queued.Add(-1)
		e.metrics.Queued.Dec()
		if e.stopping.Load() {
			e.giveBack(j)
			continue
		}
		e.process(lim, rt, j)
	}
}

// DispatchFresh queues the consumer's jobs. Jobs that cannot be queued finish at once as "not
// attempted" (the consumer then writes them as due when their lane will have room, for the
// poller).
func (e *Engine) DispatchFresh(jobs []*Job) {
	for _, j := range jobs {
		if !e.offer(j) {
			j.finish(&Result{Job: j, RetryIn: e.backoff(j.WebhookID)})
		}
	}
}

// backoff is how long a job refused by a full lane should wait before it is offered again:
// the time the lane needs to drain at its rate (a second for lanes without one), at most a
// few minutes. Without it, a rate-limited webhook with a large backlog would have the same rows
// claimed and released every poll.
func (e *Engine) backoff(webhook uuid.UUID) time.Duration {
	e.mu.Lock()
	l := e.lanes[webhook]
	e.mu.Unlock()
	if l == nil {
		return time.Second
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rateSet <= 0 {
		return time.Second
	}
	d := time.Duration(float64(l.size()) / l.rateSet * float64(time.Second))
	return min(max(d, time.Second), 5*time.Minute)
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
	r := e.attempt(e.base, j)
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

// RenewEvery is how often a replica renews its leases: a fifth of the lease, so that a live
// replica's leases never have less than four fifths left, and a dead one's end within a lease.
func RenewEvery(lease time.Duration) time.Duration { return max(lease/5, 200*time.Millisecond) }

// MinLease is the shortest lease that leaves an attempt room to start and finish after the
// latest renewal: four fifths of it must cover the attempt timeout and LeaseMargin.
func MinLease(attemptTimeout time.Duration) time.Duration {
	return (attemptTimeout + LeaseMargin) * 5 / 4
}

// renewLoop renews the leases of every held job, every RenewEvery, in one statement.
func (e *Engine) renewLoop(ctx context.Context) {
	t := time.NewTicker(RenewEvery(e.cfg.Lease))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := e.renew(ctx); err != nil && ctx.Err() == nil {
			e.metrics.WriteErrors.WithLabelValues("renew leases").Inc()
			e.log.Warn("renewing leases failed; retrying", zap.Error(err))
		}
	}
}

func (e *Engine) renew(ctx context.Context) error {
	e.heldMu.Lock()
	leases := make([]store.Lease, 0, len(e.held))
	jobs := make(map[uuid.UUID]*Job, len(e.held))
	for id, j := range e.held {
		leases = append(leases, store.Lease{ID: id, Token: j.Lease})
		jobs[id] = j
	}
	e.heldMu.Unlock()
	if len(leases) == 0 {
		return nil
	}
	until := time.Now().Add(e.cfg.Lease)
	rctx, cancel := context.WithTimeout(ctx, RenewEvery(e.cfg.Lease))
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

// LeaseMargin is kept between the end of an attempt and the end of its lease (clock skew
// between replicas and PostgreSQL, time to record the outcome).
const LeaseMargin = 2 * time.Second

// deadline is the last moment an attempt may start and still finish within the lease.
func (e *Engine) deadline(j *Job) time.Time {
	return j.leaseEnd().Add(-e.cfg.AttemptTimeout - LeaseMargin)
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

// attempt makes one attempt, bounded by ctx and the attempt timeout, and decides the delivery's
// next state.
func (e *Engine) attempt(ctx context.Context, j *Job) *Result {
	r := &Result{Job: j, Attempted: true}
	wh := e.hooks.Get(j.WebhookID)
	started := time.Now()
	var resp notify.Response
	var out notify.Outcome
	switch {
	case wh == nil:
		out = notify.Outcome{Result: notify.Fail, Reason: "webhook deleted or not loadable"}
		j.Provider = "unknown"
	case !wh.Active:
		out = notify.Outcome{Result: notify.Fail, Reason: "webhook is deactivated; replay to deliver"}
		j.Provider = wh.Provider.Name()
	default:
		j.Provider = wh.Provider.Name()
		resp, out = e.send(ctx, wh, Message(j), started)
	}
	took := time.Since(started)
	r.Outcome = out
	r.Attempt = store.Attempt{DeliveryID: j.DeliveryID, WebhookID: j.WebhookID, N: j.Attempt, StartedAt: started,
		Duration: took, StatusCode: resp.StatusCode, Error: out.Reason, Succeeded: out.Result == notify.Success}
	if len(resp.Body) > 0 {
		r.Attempt.Excerpt = e.box.Seal(resp.Body, ExcerptAAD(j.DeliveryID))
	}
	r.State = e.nextState(wh, j, out, resp.StatusCode, started)
	r.State.LastAttemptAt, r.State.LastDuration, r.State.LastExcerpt = started, took, r.Attempt.Excerpt
	// A delivery decided by its first attempt keeps that attempt in its own row only.
	r.Attempt.Inline = j.Attempt == 1 && store.Final(r.State.Status)
	if out.Disable {
		r.Disable = &store.Disable{WebhookID: j.WebhookID, Reason: out.Reason}
	}
	e.metrics.Attempts.WithLabelValues(j.Provider, out.Result.String()).Inc()
	e.metrics.AttemptDuration.WithLabelValues(j.Provider).Observe(took.Seconds())
	switch r.State.Status {
	case store.StatusRetrying:
		e.metrics.Retries.WithLabelValues(j.Provider).Inc()
	case store.StatusSucceeded:
		if !j.Received.IsZero() {
			e.metrics.DeliveryLatency.WithLabelValues(j.Provider).Observe(time.Since(j.Received).Seconds())
		}
	}
	if out.Result != notify.Success {
		e.log.Debug("attempt failed", zap.String("delivery_id", j.DeliveryID.String()), zap.String("webhook_id", j.WebhookID.String()),
			zap.Int("attempt", j.Attempt), zap.Int("status_code", resp.StatusCode), zap.String("reason", out.Reason))
	}
	return r
}

// ExcerptAAD binds a sealed response excerpt to its delivery.
func ExcerptAAD(delivery uuid.UUID) []byte { return []byte("excerpt:" + delivery.String()) }

func (e *Engine) nextState(wh *subscription.Compiled, j *Job, out notify.Outcome, code int, at time.Time) store.State {
	s := store.State{Attempts: j.Attempt, LastStatusCode: code, LastError: out.Reason}
	maxAttempts := e.cfg.Schedule.DefaultAttempts()
	if wh != nil {
		maxAttempts = wh.MaxAttempts
	}
	switch {
	case out.Result == notify.Success:
		s.Status = store.StatusSucceeded
	case out.Result == notify.Retry && j.Attempt < maxAttempts:
		s.Status = store.StatusRetrying
		s.NextAttemptAt = at.Add(e.cfg.Schedule.Delay(j.Attempt, out.RetryAfter, e.cfg.RetryAfterMax))
		s.DueAt = s.NextAttemptAt
	case out.Result == notify.Retry:
		s.Status = store.StatusFailed
		s.LastError = "gave up after " + strconv.Itoa(j.Attempt) + " attempts: " + out.Reason
	default:
		s.Status = store.StatusFailed
	}
	return s
}

// Message builds what providers render.
func Message(j *Job) *notify.Message {
	ts := j.Received
	if j.OccurredAt != nil {
		ts = *j.OccurredAt
	}
	return &notify.Message{DeliveryID: j.DeliveryID.String(), EventID: j.EventID, Type: j.EventType, Timestamp: ts, Event: j.Event}
}

// send renders, signs and posts one attempt, retrying once at once when a credential with a
// cached token gets 401 (the token may have been revoked).
func (e *Engine) send(ctx context.Context, wh *subscription.Compiled, m *notify.Message, now time.Time) (notify.Response, notify.Outcome) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.AttemptTimeout)
	defer cancel()
	resp, err := Send(ctx, e.client, wh, m, now, e.cfg.ExcerptBytes)
	if err != nil {
		return resp, *err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		if rf, ok := wh.Credential.(credential.Refreshable); ok {
			rf.Invalidate()
			if resp2, err := Send(ctx, e.client, wh, m, now, e.cfg.ExcerptBytes); err == nil {
				resp = resp2
			}
		}
	}
	return resp, wh.Provider.Classify(&resp)
}

// Try sends m to wh now, exactly as a delivery would be sent (render, sign, SSRF-safe client,
// one re-authentication after a 401), and classifies the answer. Nothing is recorded and
// nothing is retried: it is the admin API's test. ctx (the request's) bounds it too.
func (e *Engine) Try(ctx context.Context, wh *subscription.Compiled, m *notify.Message) (notify.Response, notify.Outcome, time.Duration) {
	start := time.Now()
	resp, out := e.send(ctx, wh, m, start)
	return resp, out, time.Since(start)
}

// Send renders m for wh and posts it: the Standard Webhooks headers (webhook-id, timestamp, and
// signature when the credential signs), User-Agent and Content-Type, no redirects. It is shared
// by deliveries and by the admin API's test endpoint. A non-nil outcome means nothing was sent.
func Send(ctx context.Context, client *http.Client, wh *subscription.Compiled, m *notify.Message, now time.Time, excerpt int) (notify.Response, *notify.Outcome) {
	req, err := wh.Provider.Render(ctx, wh.Target, m)
	if err != nil {
		return notify.Response{}, &notify.Outcome{Result: notify.Fail, Reason: "render: " + err.Error()}
	}
	body, ctype := req.Body, req.ContentType
	if wh.Template != nil {
		if body, err = wh.Template.Render(ctx, wh.Target, m); err != nil {
			return notify.Response{}, &notify.Outcome{Result: notify.Fail, Reason: err.Error()}
		}
		ctype = wh.Template.ContentType()
	}
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	hr, err := http.NewRequestWithContext(ctx, method, req.URL, bytes.NewReader(body))
	if err != nil {
		return notify.Response{}, &notify.Outcome{Result: notify.Fail, Reason: "invalid target URL"}
	}
	for k, vs := range req.Header {
		hr.Header[k] = vs
	}
	hr.Header.Set("Content-Type", ctype)
	hr.Header.Set("User-Agent", version.UserAgent())
	hr.Header.Set("webhook-id", m.DeliveryID)
	hr.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	if err := wh.Credential.Apply(ctx, hr, m.DeliveryID, now, body); err != nil {
		return notify.Response{}, &notify.Outcome{Result: notify.Retry, Reason: "auth: " + err.Error()}
	}
	res, err := client.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			err = notify.ErrTimeout
		}
		return notify.Response{Err: err}, nil
	}
	defer res.Body.Close()
	buf := make([]byte, excerpt)
	n, _ := io.ReadFull(res.Body, buf)
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // let the connection be reused
	return notify.Response{StatusCode: res.StatusCode, Header: res.Header, Body: buf[:n]}, nil
}
