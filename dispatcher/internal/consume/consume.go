// Package consume reads events (every family) from the durable JetStream consumer that every dispatcher
// replica shares and fans each one out into deliveries.
//
// A batch of messages is matched against the webhook cache; each (event, webhook) pair gets a
// delivery whose id is derived from the pair, so a redelivered message yields the same ids (and
// the same webhook-id header). Deliveries already recorded are skipped; the rest are attempted
// at once. After a short window the batch is written in one transaction: finished attempts with
// their outcome, the others as pending rows leased to this replica. Only then are the messages
// acknowledged: an event is acked once every matching delivery's outcome or pending state is
// durable. A crash before that leaves the messages unacked and NATS redelivers them.
package consume

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/deliver"
	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/due"
	"github.com/taskhook/taskhook/dispatcher/internal/metrics"
	"github.com/taskhook/taskhook/dispatcher/internal/quiet"
	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/families/ops"
	"github.com/taskhook/taskhook/pkg/retry"
	"github.com/taskhook/taskhook/pkg/tracing"
)

// deliveryNamespace derives delivery ids: UUIDv5(namespace, event id + NUL + webhook id).
var deliveryNamespace = uuid.MustParse("5b0a2a52-6c3e-4c55-9a52-3f2f0b9d7c11")

// DeliveryID is the id of the delivery of an event to a webhook (stable across redeliveries).
func DeliveryID(eventID string, webhook uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(deliveryNamespace, []byte(eventID+"\x00"+webhook.String()))
}

// Config tunes the consumer.
type Config struct {
	BatchSize int           // messages per batch
	BatchWait time.Duration // how long a batch waits to fill
	Window    time.Duration // how long a batch waits for its attempts before writing
	Workers   int           // batches processed at once
	Lease     time.Duration // lease of pending rows written for attempts still running
	// GaugeInterval is how often the consumer-pending gauges are refreshed.
	GaugeInterval time.Duration
	// Catalog tells which subjects carry events; a message on any other is terminated.
	Catalog *event.Catalog
	// Tasks, when set, is told of every task event of a batch before the batch is
	// acknowledged (the state behind derived task.due and task.overdue).
	Tasks TaskObserver
	// FilterErrors records the filter errors met while matching (the webhooks' health hints);
	// nil: counted in the metric and logged only.
	FilterErrors *subscription.FilterErrors
	// Silences, when set, are matched against every delivery the fan-out would create: one an
	// active silence matches is recorded as silenced instead of attempted. Generations then
	// reads the webhook and silence generations in one round trip before each batch.
	Silences    *quiet.Set
	Generations func(context.Context) (store.Generations, error)
	// Tracing continues each event's trace (from its message headers) with a consume span, a
	// match span and a span for the batch's write; nil or off: none.
	Tracing *tracing.Tracing
	// OrderSettle is how long a delivery of a webhook with ordering "subject" waits before its
	// first attempt (see addOrdered); 0: Window + 1s.
	OrderSettle time.Duration
	// AckLinkTTL is how long the acknowledge link of an alert opened here works.
	AckLinkTTL time.Duration
}

// Store is what the consumer needs of PostgreSQL (*store.DB).
type Store interface {
	// ExistingDeliveries says which of ids are recorded already (a redelivered event).
	ExistingDeliveries(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error)
	// Write records a batch's outcomes and pending rows in one transaction.
	Write(ctx context.Context, b *store.Batch) (*store.Written, error)
}

// TaskObserver keeps what the dispatcher knows of tasks.
type TaskObserver interface {
	// Observe records obs durably before it returns.
	Observe(ctx context.Context, obs []due.Observation) error
}

// Consumer fans events out into deliveries.
type Consumer struct {
	cfg     Config
	cons    jetstream.Consumer
	cache   *subscription.Cache
	db      Store
	engine  *deliver.Engine
	box     *secretbox.Box
	metrics *metrics.Metrics
	log     *zap.Logger
	tracer  trace.Tracer
}

// New returns a consumer of cons.
func New(cfg Config, cons jetstream.Consumer, cache *subscription.Cache, db Store, engine *deliver.Engine,
	box *secretbox.Box, m *metrics.Metrics, log *zap.Logger) *Consumer {
	if cfg.Tracing == nil {
		cfg.Tracing = tracing.Off()
	}
	if cfg.OrderSettle == 0 {
		cfg.OrderSettle = cfg.Window + time.Second
	}
	return &Consumer{cfg: cfg, cons: cons, cache: cache, db: db, engine: engine, box: box, metrics: m, log: log,
		tracer: cfg.Tracing.Tracer("taskhook/dispatcher/consume")}
}

// Run consumes until ctx ends, then stops pulling, finishes the batches in progress and
// hands unprocessed messages back to the stream (nak) for other replicas.
func (c *Consumer) Run(ctx context.Context) error {
	msgs := make(chan jetstream.Msg, 2*c.cfg.BatchSize)
	cc, err := c.cons.Consume(func(m jetstream.Msg) { msgs <- m },
		jetstream.PullMaxMessages(2*c.cfg.BatchSize),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if ctx.Err() == nil {
				c.log.Debug("consume", zap.Error(err))
			}
		}))
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for i := 0; i < c.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				batch := collect(ctx, msgs, c.cfg.BatchSize, c.cfg.BatchWait)
				if len(batch) == 0 {
					return
				}
				c.process(batch)
			}
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); c.pendingLoop(ctx) }()
	<-ctx.Done()
	cc.Stop()
	wg.Wait()
	// Messages pulled but not processed go back at once (instead of after AckWait).
	for {
		select {
		case m := <-msgs:
			_ = m.Nak()
		default:
			return nil
		}
	}
}

// collect gathers up to n messages: it waits for the first, then at most wait for the rest.
func collect(ctx context.Context, msgs <-chan jetstream.Msg, n int, wait time.Duration) []jetstream.Msg {
	var out []jetstream.Msg
	select {
	case <-ctx.Done():
		return nil
	case m := <-msgs:
		out = append(out, m)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(out) < n {
		select {
		case m := <-msgs:
			out = append(out, m)
		case <-timer.C:
			return out
		case <-ctx.Done():
			return out
		}
	}
	return out
}

// item is one message of a batch.
type item struct {
	msg      jetstream.Msg
	seq      uint64 // stream sequence
	subject  string
	eventID  string
	raw      []byte
	event    *event.Lazy
	occurred *time.Time
	received time.Time
	jobs     []*deliver.Job
	// quiet are deliveries not attempted now: silenced (final), or under a repeat limit (pending,
	// let through or suppressed in the batch's transaction).
	quiet    []store.NewDelivery
	digests  []*subscription.Compiled // matching webhooks with a digest: the event is collected
	ordered  []*deliver.Job           // deliveries to webhooks with ordering "subject": stored, attempted by the poller in order
	orderKey string                   // what the event is about (task:12345), for ordered deliveries
	// held are deliveries written pending for the poller instead of attempted at once: those
	// that open an alert (their message carries its link, which must be stored first) and the
	// fallbacks of inactive webhooks.
	held    []held
	span    trace.Span // the consume span (tracing on), ended with the batch
	version int        // a custom type's version that validated it (ingest's header)
}

func (c *Consumer) process(msgs []jetstream.Msg) {
	start := time.Now()
	defer func() { c.metrics.BatchDuration.Observe(time.Since(start).Seconds()) }()
	defer c.keepAlive(msgs)()
	// Storage calls get a context of their own: a shutdown lets the batch finish.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.refresh(ctx); err != nil {
		c.retryLater(msgs, "refresh webhooks", err)
		return
	}
	parsed := make([]*item, 0, len(msgs))
	items := make([]*item, 0, len(msgs))
	var unmatched []*item
	var ids []uuid.UUID
	defer func() { endSpans(parsed) }()
	for _, m := range msgs {
		it := c.parse(m)
		if it == nil {
			continue
		}
		parsed = append(parsed, it)
		if !c.match(it) {
			unmatched = append(unmatched, it)
			continue
		}
		for _, j := range it.jobs {
			ids = append(ids, j.DeliveryID)
		}
		for _, q := range it.quiet {
			ids = append(ids, q.ID)
		}
		for _, j := range it.ordered {
			ids = append(ids, j.DeliveryID)
		}
		for _, h := range it.held {
			ids = append(ids, h.row.ID)
		}
		items = append(items, it)
	}
	// The task state is recorded while the batch's first attempts run, off their path; no
	// message of the batch is acknowledged before it is stored.
	observed, observing := make(chan error, 1), make(chan struct{})
	go func() { defer close(observing); observed <- c.observeTasks(ctx, parsed) }()
	defer func() { <-observing }() // every return waits for it, read or not
	if len(items) == 0 {
		c.ack(parsed, unmatched, nil, <-observed)
		return
	}
	existing, err := c.db.ExistingDeliveries(ctx, ids)
	if err != nil {
		c.retryLater(msgsOf(parsed), "check existing deliveries", err)
		return
	}
	var jobs []*deliver.Job
	for _, it := range items {
		it.jobs = unrecorded(it.jobs, existing)
		it.quiet = slices.DeleteFunc(it.quiet, func(q store.NewDelivery) bool { return existing[q.ID] })
		it.ordered = unrecorded(it.ordered, existing)
		it.held = unrecordedHeld(it.held, existing)
		outcome := "matched"
		if len(it.jobs) == 0 && len(it.quiet) == 0 && len(it.digests) == 0 && len(it.ordered) == 0 && len(it.held) == 0 {
			outcome = "redelivered"
		}
		c.metrics.Events.WithLabelValues(it.subject, outcome).Inc()
		jobs = append(jobs, it.jobs...)
	}
	c.engine.DispatchFresh(jobs)
	c.wait(jobs)

	now := time.Now()
	var b store.Batch
	var results []*deliver.Result
	var detached []*deliver.Job
	for _, it := range items {
		b.Digest = append(b.Digest, c.collect(it, now)...)
		if len(it.jobs) == 0 && len(it.quiet) == 0 && len(it.ordered) == 0 && len(it.held) == 0 {
			continue
		}
		b.Events = append(b.Events, store.Event{ID: it.eventID, Subject: it.subject, Payload: c.box.Seal(it.raw, deliver.EventAAD(it.eventID)),
			TraceParent: tracing.Format(it.traceOf()), TypeVersion: it.version, ReceivedAt: it.received})
		b.New = append(b.New, it.quiet...)
		for _, j := range it.jobs {
			r := j.Detach()
			b.New = append(b.New, row(j, r, now))
			switch {
			case r == nil:
				detached = append(detached, j)
			case r.Attempted:
				b.Attempts = append(b.Attempts, r.Attempt)
				if r.Disable != nil {
					b.Disable = append(b.Disable, *r.Disable)
				}
				if g := deliver.GaveUp(r); g != nil {
					b.GaveUp = append(b.GaveUp, *g)
				}
				results = append(results, r)
			}
		}
		addOrdered(&b, it, now, c.cfg.OrderSettle)
		for _, h := range it.held {
			b.New = append(b.New, h.row)
			b.Marks = append(b.Marks, h.mark)
			if h.alert != nil {
				b.Alerts = append(b.Alerts, *h.alert)
			}
		}
	}
	written, err := c.write(ctx, items, &b)
	if err == nil {
		c.engine.Hold(detached...) // their pending rows are leased to this replica: renewed from now on
	}
	for _, j := range detached {
		j.Settle(err == nil)
	}
	if err != nil {
		c.retryLater(msgsOf(parsed), "store deliveries", err)
		return
	}
	for _, r := range results {
		if written.Inserted[r.Job.DeliveryID] {
			c.engine.CountFinal(r)
		}
	}
	letThrough := false
	for _, nd := range b.New {
		if !written.Inserted[nd.ID] {
			continue
		}
		provider := c.providerOf(nd.WebhookID)
		c.metrics.Deliveries.WithLabelValues(provider, "created").Inc()
		switch {
		case nd.Status == store.StatusSilenced:
			c.metrics.Silenced.WithLabelValues(provider).Inc()
		case written.Suppressed[nd.ID]:
			c.metrics.Suppressed.WithLabelValues(provider).Inc()
		case nd.Repeat != nil:
			letThrough = true
		}
	}
	if letThrough {
		c.engine.Poke() // deliveries let through by a repeat limit are pending, due now
	}
	c.metrics.WebhooksDisabled.Add(float64(len(b.Disable)))
	if len(b.Ordered) > 0 {
		c.engine.PokeAt(now.Add(c.cfg.OrderSettle)) // when they are due (see addOrdered)
	}
	c.engine.CountFallbacks(written)
	c.countHeld(items, written)
	c.ack(parsed, unmatched, items, <-observed)
}

// ack acknowledges a batch once everything it needs is stored; when the task state could not
// be, every message goes back to the stream instead (deliveries already stored are skipped when
// they come back).
func (c *Consumer) ack(parsed, unmatched, matched []*item, observeErr error) {
	if observeErr != nil {
		c.retryLater(msgsOf(parsed), "record task state", observeErr)
		return
	}
	for _, it := range unmatched {
		c.metrics.Events.WithLabelValues(it.subject, "unmatched").Inc()
		_ = it.msg.Ack()
	}
	for _, it := range matched {
		_ = it.msg.Ack()
	}
}

// keepAlive tells JetStream, every third of the ack wait, that the batch's messages are still
// being worked on (a slow write, say), so that the ack wait can be short (a crashed replica's
// messages come back within it) without redelivering a live replica's batch. It returns the
// function that stops it and waits for it to end.
func (c *Consumer) keepAlive(msgs []jetstream.Msg) func() {
	every := c.cfg.Lease / 3
	if every <= 0 {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, m := range msgs {
					_ = m.InProgress()
				}
			}
		}
	}()
	return func() { close(done); <-exited }
}

// observeTasks hands the batch's task events to the task observer (none when due events are
// off). An event it cannot read (it passed the schema, so this is a bug) is logged and left out.
func (c *Consumer) observeTasks(ctx context.Context, items []*item) error {
	if c.cfg.Tasks == nil {
		return nil
	}
	var obs []due.Observation
	for _, it := range items {
		if !strings.HasPrefix(it.subject, event.TaskFamily+".") {
			continue
		}
		o, err := due.Parse(it.raw, it.seq, it.received)
		if err != nil {
			c.log.Error("task event not readable for reminders", zap.String("event_id", it.eventID), zap.Uint64("stream_seq", it.seq))
			continue
		}
		obs = append(obs, o)
	}
	return c.cfg.Tasks.Observe(ctx, obs)
}

func (c *Consumer) providerOf(id uuid.UUID) string {
	if w := c.cache.Get(id); w != nil {
		return w.Provider.Name()
	}
	return "unknown"
}

// wait waits for the jobs' attempts up to the window.
func (c *Consumer) wait(jobs []*deliver.Job) {
	if len(jobs) == 0 {
		return
	}
	timer := time.NewTimer(c.cfg.Window)
	defer timer.Stop()
	for _, j := range jobs {
		select {
		case <-j.Done():
		case <-timer.C:
			return
		}
	}
}

// unknownDelay is when a message of an unknown type comes back: a built-in family's in a
// minute (a newer release's type); another family's, maybe a custom type this replica has not
// seen yet, after as many seconds as it was delivered (up to a minute).
func unknownDelay(cat *event.Catalog, subject string, meta *jetstream.MsgMetadata) time.Duration {
	fam, _, _ := strings.Cut(subject, ".")
	if slices.Contains(cat.BuiltinFamilies(), fam) || meta == nil {
		return time.Minute
	}
	return min(time.Duration(meta.NumDelivered)*time.Second, time.Minute)
}

// parse reads a message; a message that can never be processed is terminated (and counted).
func (c *Consumer) parse(m jetstream.Msg) *item {
	meta, err := m.Metadata()
	received, seq := time.Now(), uint64(0)
	if err == nil {
		received, seq = meta.Timestamp, meta.Sequence.Stream
	}
	subject := m.Subject()
	if !c.cfg.Catalog.IsType(subject) {
		// Only ingest publishes to the stream, and only types it knows: a type this dispatcher
		// does not know comes from a newer release. Wait for an upgraded replica rather than
		// drop the event for every webhook.
		c.metrics.Poison.WithLabelValues("unknown_subject").Inc()
		c.log.Warn("event of a type this dispatcher does not know; redelivered later (upgrade the dispatchers, or a custom type not seen here yet)", zap.String("subject", subject))
		_ = m.NakWithDelay(unknownDelay(c.cfg.Catalog, subject, meta))
		return nil
	}
	head, err := event.ParseHead(m.Data())
	if err != nil {
		c.poison(m, "invalid_json")
		return nil
	}
	id := head.EventID
	if id == "" {
		id = m.Headers().Get(jetstream.MsgIDHeader)
	}
	if id == "" || !event.ValidIDKey(id) {
		c.poison(m, "no_event_id")
		return nil
	}
	it := &item{msg: m, seq: seq, subject: subject, eventID: id, raw: m.Data(), event: event.NewLazy(m.Data()), occurred: head.OccurredAt, received: received}
	if v := m.Headers().Get(event.TypeVersionHeader); v != "" {
		it.version, _ = strconv.Atoi(v)
	}
	if c.cfg.Tracing.On() {
		ctx := c.cfg.Tracing.Extract(context.Background(), m.Headers())
		_, it.span = c.tracer.Start(ctx, "consume "+subject, trace.WithSpanKind(trace.SpanKindConsumer))
		if it.span.IsRecording() {
			it.span.SetAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", subject),
				attribute.String("taskhook.event_id", id), attribute.Int64("messaging.nats.stream_sequence", int64(seq)))
		}
	}
	return it
}

// traceOf is the item's consume span context (invalid without tracing).
func (it *item) traceOf() trace.SpanContext {
	if it.span == nil {
		return trace.SpanContext{}
	}
	return it.span.SpanContext()
}

// endSpans ends the consume spans of a batch's items.
func endSpans(items []*item) {
	for _, it := range items {
		if it.span != nil {
			it.span.End()
		}
	}
}

func (c *Consumer) poison(m jetstream.Msg, reason string) {
	c.metrics.Poison.WithLabelValues(reason).Inc()
	var seq uint64
	if meta, err := m.Metadata(); err == nil {
		seq = meta.Sequence.Stream
	}
	c.log.Error("poison message terminated", zap.String("reason", reason), zap.String("subject", m.Subject()), zap.Uint64("stream_seq", seq))
	_ = m.Term()
}

// match finds the item's webhooks and prepares a job per webhook.
func (c *Consumer) match(it *item) bool {
	if it.span != nil && it.span.IsRecording() {
		_, span := c.tracer.Start(trace.ContextWithSpan(context.Background(), it.span), "match")
		defer func() {
			span.SetAttributes(attribute.Int("taskhook.deliveries", len(it.jobs)), attribute.Int("taskhook.digests", len(it.digests)))
			span.End()
		}()
	}
	subs := c.cache.Subscribed(it.subject)
	if len(subs) == 0 && len(c.cache.Inactive(it.subject)) == 0 {
		return false
	}
	var doc map[string]any
	undecodable := false
	decoded := func() map[string]any {
		if doc == nil && !undecodable {
			undecodable = json.Unmarshal(it.raw, &doc) != nil
		}
		return doc
	}
	now := time.Now()
	leaseUntil := now.Add(c.cfg.Lease)
	about := aboutWebhook(c.cfg.Catalog, it)
	for _, w := range subs {
		if about != "" && w.ID.String() == about {
			continue // no operational event about a webhook goes to that webhook: no loops
		}
		if w.HasFilter() {
			if decoded() == nil {
				return false
			}
			ok, err := w.MatchErr(it.subject, doc)
			if kind := subscription.FilterErrorKind(err); kind != "" {
				c.filterError(w, it.eventID, kind)
			}
			if !ok {
				continue
			}
		}
		if q, ok := c.quiet(it, w, now, decoded); ok {
			it.quiet = append(it.quiet, q)
			continue
		}
		if w.Webhook.Digest != nil {
			it.digests = append(it.digests, w)
			continue
		}
		if w.Escalation != nil {
			c.openAlert(it, w)
			continue
		}
		if c.ordered(it, w, leaseUntil) {
			continue
		}
		it.jobs = append(it.jobs, deliver.NewFreshJob(deliver.Job{
			DeliveryID: DeliveryID(it.eventID, w.ID), WebhookID: w.ID, EventID: it.eventID, EventType: it.subject,
			Attempt: 1, Lease: uuid.New(), LeaseUntil: leaseUntil, Received: it.received, OccurredAt: it.occurred, Event: it.event,
			Trace: it.traceOf(),
		}))
	}
	for _, w := range c.cache.Inactive(it.subject) {
		if about != "" && w.ID.String() == about {
			continue
		}
		if w.HasFilter() {
			if decoded() == nil {
				return false
			}
			if !w.Match(it.subject, doc) {
				continue
			}
		}
		c.fallBack(it, w)
	}
	return len(it.jobs) > 0 || len(it.quiet) > 0 || len(it.digests) > 0 || len(it.held) > 0 || len(it.ordered) > 0
}

// quiet is the delivery of it to w when a quiet rule decides it: silenced by an active silence
// (recorded, final, never attempted), or under w's repeat limit (written pending; the batch's
// transaction lets it through or suppresses it). false: an ordinary delivery (or digest item).
func (c *Consumer) quiet(it *item, w *subscription.Compiled, now time.Time, doc func() map[string]any) (store.NewDelivery, bool) {
	nd := store.NewDelivery{ID: DeliveryID(it.eventID, w.ID), WebhookID: w.ID, EventID: it.eventID, EventType: it.subject, CreatedAt: it.received}
	if c.cfg.Silences != nil {
		if id := c.cfg.Silences.Match(now, w.ID, it.subject, doc); id != uuid.Nil {
			nd.State = store.State{Status: store.StatusSilenced}
			nd.SilenceID = id
			return nd, true
		}
	}
	if w.RepeatLimited() {
		ev := doc()
		if ev == nil {
			return nd, false
		}
		if key, ok := w.RepeatKey(it.subject, ev); ok {
			nd.State = store.State{Status: store.StatusPending, DueAt: now}
			nd.Repeat = &store.Repeat{Key: key, Per: w.RepeatLimit.Period()}
			return nd, true
		}
	}
	return nd, false
}

// refresh brings the webhook cache and the silences up to date with the database: both
// generations in one round trip.
func (c *Consumer) refresh(ctx context.Context) error {
	if c.cfg.Silences == nil || c.cfg.Generations == nil {
		return c.cache.Refresh(ctx)
	}
	g, err := c.cfg.Generations(ctx)
	if err != nil {
		return err
	}
	if err := c.cache.RefreshTo(ctx, g.Webhooks); err != nil {
		return err
	}
	return c.cfg.Silences.RefreshTo(ctx, g.Silences)
}

// filterError counts a filter that could not be evaluated on an event (the event is not
// delivered to that webhook) and logs it, ids and kind only, at most once a minute per webhook.
func (c *Consumer) filterError(w *subscription.Compiled, eventID, kind string) {
	c.metrics.FilterErrors.WithLabelValues(kind).Inc()
	log := true
	if c.cfg.FilterErrors != nil {
		log = c.cfg.FilterErrors.Record(w.ID, kind, time.Now())
	}
	if log {
		c.log.Warn("a webhook's filter failed on an event, which was not delivered to it (logged once a minute per webhook; see taskhook_dispatch_filter_errors_total)",
			zap.String("webhook_id", w.ID.String()), zap.String("event_id", eventID), zap.String("kind", kind))
	}
}

// aboutWebhook is the webhook an operational event is about ("" for other events).
func aboutWebhook(cat *event.Catalog, it *item) string {
	if !cat.Internal(it.subject) {
		return ""
	}
	return ops.About(it.raw)
}

func msgsOf(items []*item) []jetstream.Msg {
	out := make([]jetstream.Msg, len(items))
	for i, it := range items {
		out[i] = it.msg
	}
	return out
}

// retryLater naks messages with a delay growing with their delivery count, after a storage
// failure: nothing is acknowledged, nothing is lost.
func (c *Consumer) retryLater(msgs []jetstream.Msg, op string, err error) {
	c.metrics.WriteErrors.WithLabelValues(op).Inc()
	c.log.Warn("batch not stored; messages will be redelivered", zap.String("op", op), zap.Int("messages", len(msgs)), zap.Error(err))
	for _, m := range msgs {
		delay := time.Second
		if meta, err := m.Metadata(); err == nil {
			delay = redeliveryDelay(meta.NumDelivered)
		}
		_ = m.NakWithDelay(delay)
	}
}

// write stores the batch, within a span linked to every traced event of it.
func (c *Consumer) write(ctx context.Context, items []*item, b *store.Batch) (*store.Written, error) {
	if !c.cfg.Tracing.On() {
		return c.db.Write(ctx, b)
	}
	var links []trace.Link
	for _, it := range items {
		if sc := it.traceOf(); sc.IsSampled() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	if len(links) == 0 { // no sampled event in the batch
		return c.db.Write(ctx, b)
	}
	_, span := c.tracer.Start(ctx, "store batch", trace.WithLinks(links...), trace.WithAttributes(
		attribute.Int("taskhook.events", len(b.Events)), attribute.Int("taskhook.deliveries", len(b.New)), attribute.String("db.system", "postgresql")))
	defer span.End()
	w, err := c.db.Write(ctx, b)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return w, err
}

// collect is the item's event as collected by each matching webhook with a digest (sealed for
// that webhook), opening a window from now when none is open.
func (c *Consumer) collect(it *item, now time.Time) []store.DigestItem {
	if len(it.digests) == 0 {
		return nil
	}
	at := it.received
	if it.occurred != nil {
		at = *it.occurred
	}
	out := make([]store.DigestItem, 0, len(it.digests))
	for _, w := range it.digests {
		out = append(out, store.DigestItem{WebhookID: w.ID, EventID: it.eventID, EventType: it.subject, OccurredAt: at,
			Payload: c.box.Seal(it.raw, digest.ItemAAD(w.ID, it.eventID)), Opened: now, Closes: w.Webhook.Digest.Closes(now, w.Target.Location)})
	}
	return out
}

// redeliveryDelay is how long a message delivered n times waits before it comes back after a
// storage failure: doubling from a second, at most 15 s.
func redeliveryDelay(n uint64) time.Duration {
	return min(time.Duration(1<<min(n, 5))*500*time.Millisecond, 15*time.Second)
}

// unrecorded is jobs without those whose delivery is recorded already (a redelivered event),
// in place.
func unrecorded(jobs []*deliver.Job, existing map[uuid.UUID]bool) []*deliver.Job {
	kept := jobs[:0]
	for _, j := range jobs {
		if !existing[j.DeliveryID] {
			kept = append(kept, j)
		}
	}
	return kept
}

// row is the delivery row the consumer writes for j, whose first attempt came to r by now: nil
// (still running: pending, leased to this replica until the engine writes its outcome), not
// attempted (its lane was full: pending, due when the lane will have room, for the poller), or
// attempted (its outcome).
func row(j *deliver.Job, r *deliver.Result, now time.Time) store.NewDelivery {
	nd := store.NewDelivery{ID: j.DeliveryID, WebhookID: j.WebhookID, EventID: j.EventID, EventType: j.EventType, CreatedAt: j.Received}
	switch {
	case r == nil:
		nd.State = store.State{Status: store.StatusPending, DueAt: j.LeaseUntil, LeaseToken: j.Lease}
	case !r.Attempted:
		nd.State = store.State{Status: store.StatusPending, DueAt: now.Add(r.RetryIn)}
	default:
		nd.State = r.State
	}
	return nd
}

// pendingLoop refreshes the consumer gauges at once, then every GaugeInterval.
func (c *Consumer) pendingLoop(ctx context.Context) {
	every := c.cfg.GaugeInterval
	if every == 0 {
		every = 5 * time.Second
	}
	measure := func(ctx context.Context) {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if info, err := c.cons.Info(ictx); err == nil {
			c.metrics.ConsumerPending.Set(float64(info.NumPending))
			c.metrics.ConsumerAckPend.Set(float64(info.NumAckPending))
		}
	}
	measure(ctx)
	retry.Every(ctx, every, measure)
}
