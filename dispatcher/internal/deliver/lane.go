package deliver

import (
	"math"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

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

// shape is how a lane runs: at most workers attempts at once, at most queue jobs waiting.
type shape struct{ workers, queue int }

// laneShape is the shape of a webhook's lane. A rate-limited lane (perSecond > 0) holds no more
// jobs than it can send within half the part of a lease an attempt may start in (the others wait
// in PostgreSQL)
// and runs no more workers than its rate, so that queued jobs wait in the queue rather than in
// an attempt slot.
func laneShape(perSecond float64, concurrency, queue int, lease time.Duration) shape {
	if perSecond <= 0 {
		return shape{workers: concurrency, queue: queue}
	}
	usable := (lease - Guard(lease)).Seconds()
	return shape{
		workers: max(1, min(concurrency, int(math.Ceil(perSecond)))),
		queue:   max(1, min(queue, int(perSecond*usable/2))),
	}
}

// configure applies the webhook's rate limit (see laneShape); rates up to SharedRateMax are
// enforced across replicas in PostgreSQL (see process), higher ones by each replica.
func (e *Engine) configure(l *lane, wh *subscription.Compiled) {
	rl := 0.0
	if wh != nil {
		rl = wh.RateLimit
	}
	if rl == l.rateSet && l.limit != 0 {
		return
	}
	l.rateSet = rl
	l.limiter = nil
	if rl > SharedRateMax {
		l.limiter = rate.NewLimiter(rate.Limit(rl), 1) // per replica: a statement per attempt would cost more than the limit saves
	}
	sh := laneShape(rl, e.cfg.WebhookConcurrency, e.cfg.LaneQueue, e.cfg.Lease)
	l.max, l.limit = sh.workers, sh.queue
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
	return drainTime(l.size(), l.rateSet)
}

// drainTime is how long queued jobs take at perSecond: between a second (also for lanes without
// a rate) and five minutes.
func drainTime(queued int, perSecond float64) time.Duration {
	if perSecond <= 0 {
		return time.Second
	}
	d := time.Duration(float64(queued) / perSecond * float64(time.Second))
	return min(max(d, time.Second), 5*time.Minute)
}
