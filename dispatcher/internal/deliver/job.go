package deliver

import (
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/event"
)

// Job is one attempt to make: a delivery of an event to a webhook.
type Job struct {
	DeliveryID uuid.UUID
	WebhookID  uuid.UUID
	EventID    string
	EventType  string
	Attempt    int       // the number of this attempt, 1-based
	Lease      uuid.UUID // the lease this replica holds (or will hold) on the row
	LeaseUntil time.Time
	Received   time.Time   // when the event reached the stream
	OccurredAt *time.Time  // the event's occurred_at, when it has one
	Event      *event.Lazy // the event (plaintext, shared by the event's jobs)
	Provider   string      // for metrics, filled when attempted
	// Trace is the span the event was consumed in: attempts are its children (invalid without
	// tracing).
	Trace trace.SpanContext
	// Alert is what the message says of the alert it belongs to (nil: none).
	Alert *notify.Alert

	fresh *fresh // non-nil for jobs the consumer attempts before their row exists
	// renewed is the lease's end after the last renewal (unix nanoseconds; 0: LeaseUntil),
	// read and written atomically (a plain int64, so that a Job can still be copied before use).
	renewed int64
}

// leaseEnd is when the lease this replica holds on the row ends, renewals included.
func (j *Job) leaseEnd() time.Time {
	if n := atomic.LoadInt64(&j.renewed); n != 0 {
		return time.Unix(0, n)
	}
	return j.LeaseUntil
}

// extend records a renewal of the lease until t.
func (j *Job) extend(t time.Time) {
	if t.After(j.leaseEnd()) {
		atomic.StoreInt64(&j.renewed, t.UnixNano())
	}
}

// Result is what came of a job.
type Result struct {
	Job       *Job
	Attempted bool // false: not attempted (lane full, shutting down, lease too short)
	Attempt   store.Attempt
	State     store.State
	Outcome   notify.Outcome
	Disable   *store.Disable
	// Fallback is why the delivery goes to its webhook's fallback ("" when it does not): it
	// ended failed (see alert.FallbackReason).
	Fallback string
	// RetryIn, for a job not attempted because its lane was full, is when to offer it again:
	// about when the lane will have drained (its queue at its rate).
	RetryIn time.Duration
}

// Fresh-job states.
const (
	inflight int32 = iota
	early          // finished within the consumer's window: the consumer writes the result
	detached       // the consumer wrote a leased pending row; the engine writes the result
)

// fresh tracks a consumer job whose row does not exist yet. The consumer waits for it a short
// window; after that the job is detached and its result is written by the engine's writer,
// once the consumer's pending row is durable.
type fresh struct {
	state   atomic.Int32
	done    chan struct{} // closed when finished early
	result  *Result
	durable chan struct{} // closed once the consumer's write is settled
	okay    atomic.Bool   // the consumer's write committed
}

// NewFreshJob prepares a job for the consumer's fast path.
func NewFreshJob(j Job) *Job {
	j.fresh = &fresh{done: make(chan struct{}), durable: make(chan struct{})}
	return &j
}

// Done is closed when the job finished early (see Detach).
func (j *Job) Done() <-chan struct{} { return j.fresh.done }

// Detach ends the consumer's wait for the job. It returns the result when the job finished
// early (the consumer writes it), or nil when the job is still running: then the consumer
// writes a pending row and must call Settle once that write committed or failed.
func (j *Job) Detach() *Result {
	if j.fresh.state.CompareAndSwap(inflight, detached) {
		return nil
	}
	<-j.fresh.done
	return j.fresh.result
}

// Settle reports whether the consumer's pending row for a detached job committed.
func (j *Job) Settle(committed bool) {
	j.fresh.okay.Store(committed)
	close(j.fresh.durable)
}

// finish hands a result to the consumer (true) or tells the engine to write it (false).
func (j *Job) finish(r *Result) (consumerTakes bool) {
	if j.fresh == nil {
		return false
	}
	if j.fresh.state.CompareAndSwap(inflight, early) {
		j.fresh.result = r
		close(j.fresh.done)
		return true
	}
	return false
}
