// Package publish writes validated task events to JetStream and reports their acknowledgement.
package publish

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskhook/taskhook/ingest/internal/metrics"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/natsx"
	"github.com/taskhook/taskhook/pkg/tracing"
)

// ErrUnavailable wraps every failure to store an event durably: NATS down, stream missing,
// acknowledgement timed out. The caller answers 503 and the publisher retries.
var ErrUnavailable = errors.New("event store unavailable")

// TooLargeError is an event larger than the NATS server takes in one message (max_payload): no
// retry can store it (HTTP 413).
type TooLargeError struct{ Size, Max int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the event is %d bytes; the event store takes at most %d per event", e.Size, e.Max)
}

// fits refuses an event the server would refuse (a permanent error, not an outage).
func (p *Publisher) fits(v *event.Validated) error {
	if max := p.nc.MaxPayload(); max > 0 && int64(len(v.Body)) > max {
		return &TooLargeError{Size: int64(len(v.Body)), Max: max}
	}
	return nil
}

// Ack is JetStream's acknowledgement of one event.
type Ack struct {
	Duplicate bool   // the event id was already stored within the duplicate window
	Sequence  uint64 // stream sequence of the stored (or original) message
}

// Result is the outcome of one event of a batch.
type Result struct {
	Ack Ack
	Err error
}

// Publisher publishes events to the stream with Nats-Msg-Id set to the event id.
type Publisher struct {
	nc            *nats.Conn
	js            jetstream.JetStream
	stream        string
	timeout       time.Duration
	metrics       *metrics.Metrics
	streamMissing func() // called when the stream does not answer (it may have been deleted)
	tracing       *tracing.Tracing
	tracer        trace.Tracer
}

// WithTracing records a producer span per published event and carries its trace context in
// the message headers (W3C traceparent), for the dispatcher to continue.
func (p *Publisher) WithTracing(t *tracing.Tracing) *Publisher {
	p.tracing, p.tracer = t, t.Tracer("taskhook/ingest/publish")
	return p
}

// traced starts the publish span of v, as a child of ctx, and puts its context on m; end ends
// it (a no-op without tracing).
func (p *Publisher) traced(ctx context.Context, v *event.Validated, m *nats.Msg) (end func(error)) {
	if p.tracing == nil || !p.tracing.On() {
		return func(error) {}
	}
	ctx, span := p.tracer.Start(ctx, "publish "+v.Subject, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", v.Subject),
			attribute.String("taskhook.event_id", v.ID)))
	p.tracing.Inject(ctx, m)
	return func(err error) {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// New returns a publisher on js. timeout bounds every publish, so a caller never waits longer.
// streamMissing (may be nil) is called when JetStream reports no stream for a subject.
func New(nc *nats.Conn, js jetstream.JetStream, stream string, timeout time.Duration, m *metrics.Metrics, streamMissing func()) *Publisher {
	if streamMissing == nil {
		streamMissing = func() {}
	}
	return &Publisher{nc: nc, js: js, stream: stream, timeout: timeout, metrics: m, streamMissing: streamMissing}
}

func (p *Publisher) msg(v *event.Validated) *nats.Msg {
	m := &nats.Msg{Subject: v.Subject, Data: v.Body, Header: nats.Header{jetstream.MsgIDHeader: []string{v.ID}}}
	if v.TypeVersion > 0 { // a custom type: which version of its definition validated the event
		m.Header.Set(event.TypeVersionHeader, strconv.Itoa(v.TypeVersion))
	}
	return m
}

// Publish stores one event and returns after JetStream acknowledged it.
func (p *Publisher) Publish(ctx context.Context, v *event.Validated) (Ack, error) {
	if err := natsx.Ready(p.nc); err != nil {
		return Ack{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err := p.fits(v); err != nil {
		return Ack{}, err
	}
	// An asynchronous publish and one wait: concurrent requests share the connection's flushes
	// and ack subscription instead of each building a request. The JetStream context bounds
	// the wait by the publish timeout.
	start := time.Now()
	defer func() { p.metrics.PublishDuration.Observe(time.Since(start).Seconds()) }()
	m := p.msg(v)
	end := p.traced(ctx, v, m)
	f, err := p.js.PublishMsgAsync(m, jetstream.WithExpectStream(p.stream))
	if err != nil {
		end(err)
		return Ack{}, p.unavailable(err)
	}
	select {
	case pa := <-f.Ok():
		end(nil)
		return Ack{Duplicate: pa.Duplicate, Sequence: pa.Sequence}, nil
	case err := <-f.Err():
		end(err)
		return Ack{}, p.unavailable(err)
	case <-ctx.Done():
		end(ctx.Err())
		return Ack{}, p.unavailable(ctx.Err())
	}
}

// PublishBatch stores events concurrently (asynchronous publishes, one wait) and returns one
// result per event, in order. It returns within the publish timeout.
func (p *Publisher) PublishBatch(ctx context.Context, vs []*event.Validated) []Result {
	out := make([]Result, len(vs))
	if err := natsx.Ready(p.nc); err != nil {
		for i := range out {
			out[i].Err = fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := time.Now()
	futures := make([]jetstream.PubAckFuture, len(vs))
	ends := make([]func(error), len(vs))
	for i, v := range vs {
		if err := p.fits(v); err != nil {
			out[i].Err = err
			continue
		}
		m := p.msg(v)
		ends[i] = p.traced(ctx, v, m)
		f, err := p.js.PublishMsgAsync(m, jetstream.WithExpectStream(p.stream))
		if err != nil {
			ends[i](err)
			out[i].Err = p.unavailable(err)
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		var err error
		select {
		case pa := <-f.Ok():
			out[i].Ack = Ack{Duplicate: pa.Duplicate, Sequence: pa.Sequence}
		case err = <-f.Err():
			out[i].Err = p.unavailable(err)
		case <-ctx.Done():
			err = ctx.Err()
			out[i].Err = p.unavailable(err)
		}
		ends[i](err)
	}
	p.metrics.PublishDuration.Observe(time.Since(start).Seconds())
	return out
}

func (p *Publisher) unavailable(err error) error {
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		p.streamMissing()
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}
