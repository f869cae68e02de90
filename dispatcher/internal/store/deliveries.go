package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Delivery statuses.
const (
	StatusPending   = "pending"   // not attempted yet, or its first attempt is in flight
	StatusRetrying  = "retrying"  // an attempt failed; another is scheduled
	StatusSucceeded = "succeeded" // final
	StatusFailed    = "failed"    // final
	// StatusSilenced: final, never attempted: an active silence matched it (SilenceID).
	StatusSilenced = "silenced"
	// StatusSuppressed: final, never attempted: the webhook's repeat limit held it back.
	StatusSuppressed = "suppressed"
)

// Final reports whether a status is final.
func Final(status string) bool {
	return status == StatusSucceeded || status == StatusFailed || status == StatusSilenced || status == StatusSuppressed
}

// Event is an events row: the sealed event JSON.
type Event struct {
	ID          string
	Subject     string
	Payload     []byte
	TraceParent string // the W3C traceparent it was consumed in ("" without tracing)
	TypeVersion int    // a custom type's version that validated it (0: a built-in type)
	// ReceivedAt is when the event reached the stream (the message's timestamp, the same on
	// every redelivery): with ID, the row's key and its day partition. Zero: now.
	ReceivedAt time.Time
}

// State is what a write sets on a delivery.
type State struct {
	Status         string
	Attempts       int
	NextAttemptAt  time.Time // zero: none
	DueAt          time.Time // zero: final (never claimed again)
	LeaseToken     uuid.UUID // uuid.Nil: not leased
	LastStatusCode int       // 0: none
	LastError      string
	LastAttemptAt  time.Time     // zero: not attempted yet
	LastDuration   time.Duration //
	LastExcerpt    []byte        // sealed, nil when none
	LastTraceID    string        // the last attempt's trace id ("" without tracing)
}

// NewDelivery is a delivery to insert (ignored when its id exists).
type NewDelivery struct {
	ID        uuid.UUID
	WebhookID uuid.UUID
	EventID   string
	EventType string
	// CreatedAt is the stream timestamp of the event's message (Event.ReceivedAt; the same on
	// every redelivery): with ID, the row's key and its day partition. Zero: now.
	CreatedAt time.Time
	State
	SilenceID uuid.UUID // with StatusSilenced: the silence that matched
	// Repeat, when set, puts the delivery under its webhook's repeat limit: it is written pending
	// and, in the same transaction, either let through or recorded as suppressed.
	Repeat *Repeat
}

// Update changes a delivery, fenced by the lease the writer holds on it: a replica whose lease
// expired (and was taken over) cannot overwrite the newer owner's state.
type Update struct {
	ID        uuid.UUID
	WebhookID uuid.UUID
	Lease     uuid.UUID
	CreatedAt time.Time // the row's created_at (finds its partition); zero: looked up
	State
}

// Attempt is one delivery attempt.
type Attempt struct {
	DeliveryID uuid.UUID
	WebhookID  uuid.UUID
	N          int
	StartedAt  time.Time
	Duration   time.Duration
	StatusCode int // 0: no response
	Error      string
	Excerpt    []byte // sealed response excerpt, nil when none
	TraceID    string // "" without tracing
	Succeeded  bool
	// Inline: the attempt decided its delivery on the first try, and the delivery row (last_*)
	// holds it; no attempts row is written. It still counts for health and stats.
	Inline bool
}

// Disable deactivates a webhook (a 410 from its receiver, say).
type Disable struct {
	WebhookID uuid.UUID
	Reason    string
}

// Batch is one transaction's worth of writes.
type Batch struct {
	Events   []Event
	New      []NewDelivery
	Updates  []Update
	Attempts []Attempt
	Disable  []Disable
	Digest   []DigestItem // events collected for digests instead of delivered
	Alerts   []NewAlert   // alerts opened by the batch's deliveries
	Marks    []Mark       // how alert and fallback deliveries of the batch are rendered
	GaveUp   []GaveUp     // deliveries that ended failed: fallbacks and escalations follow
	Ordered  []Ordered    // new deliveries of webhooks with ordering "subject"
}

// Ordered places a new delivery in its subject's order: key is what its event is about
// (task:12345), seq the event's stream sequence.
type Ordered struct {
	ID  uuid.UUID
	Key string
	Seq uint64
}

// Written reports which deliveries a Write changed.
type Written struct {
	Inserted map[uuid.UUID]bool // New rows inserted (absent: it existed already)
	Updated  map[uuid.UUID]bool // Updates applied (absent: lease lost or row gone)
	// Suppressed are the New rows under a repeat limit that it held back (the others of them
	// were let through: pending, due now).
	Suppressed map[uuid.UUID]bool
	// Fallbacks are the reasons of the fallback deliveries the batch created.
	Fallbacks []string
}

// Write applies b in one transaction: events and new deliveries (idempotent), fenced updates,
// attempts, webhook health and hourly stats, and webhook deactivations. Rows are written in id
// order so that concurrent writers cannot deadlock.
func (db *DB) Write(ctx context.Context, b *Batch) (*Written, error) {
	w := &Written{Inserted: map[uuid.UUID]bool{}, Updated: map[uuid.UUID]bool{}, Suppressed: map[uuid.UUID]bool{}}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if err := insertEventsAndDeliveries(ctx, tx, b.Events, b.New, w.Inserted); err != nil {
		return nil, err
	}
	if err := applyRepeatLimits(ctx, tx, b.New, w); err != nil {
		return nil, fmt.Errorf("apply repeat limits: %w", err)
	}
	if err := orderDeliveries(ctx, tx, b.Ordered); err != nil {
		return nil, fmt.Errorf("order deliveries: %w", err)
	}
	if err := insertAlerts(ctx, tx, b.Alerts, b.Marks); err != nil {
		return nil, err
	}
	if err := insertDigestItems(ctx, tx, b.Digest); err != nil {
		return nil, fmt.Errorf("collect digest items: %w", err)
	}
	if err := updateDeliveries(ctx, tx, b.Updates, w.Updated); err != nil {
		return nil, fmt.Errorf("update deliveries: %w", err)
	}
	if err := insertAttempts(ctx, tx, b.Attempts); err != nil {
		return nil, fmt.Errorf("insert attempts: %w", err)
	}
	if err := recordHealth(ctx, tx, b, w); err != nil {
		return nil, fmt.Errorf("record health: %w", err)
	}
	if err := disableWebhooks(ctx, tx, b); err != nil {
		return nil, fmt.Errorf("disable webhooks: %w", err)
	}
	if err := recordGaveUp(ctx, tx, b, w); err != nil {
		return nil, fmt.Errorf("hand failed deliveries to fallbacks and alerts: %w", err)
	}
	if err := recordExhausted(ctx, tx, b, w); err != nil {
		return nil, fmt.Errorf("record exhausted deliveries: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return w, nil
}

// insertEvents stores payloads. They travel as one binary bytea (every payload concatenated)
// with offsets, sliced apart by the server: a bytea[] parameter is sent as hex text and parsed
// element by element, which made this the most expensive statement of a batch (measured:
// 256 payloads of 650 bytes in 8-12 ms as bytea[], 3-5 ms this way).
func insertEvents(ctx context.Context, tx *sqlx.Tx, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	evs, _, err := fillKeys(ctx, tx, evs, nil)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO events (id, subject, payload, trace_parent, type_version, received_at) `+eventsSelect+`
		ON CONFLICT (id, received_at) DO NOTHING`, eventsArgs(evs)...)
	return err
}

// eventsSelect selects the events rows from eventsArgs ($1 to $8).
const eventsSelect = `SELECT u.id, u.subject, substring($3::bytea FROM u.start + 1 FOR u.stop - u.start), u.trace, nullif(u.tv, 0), u.received
		FROM unnest($1::text[], $2::text[], $4::int[], $5::int[], $6::text[], $7::int[], $8::timestamptz[]) AS u(id, subject, start, stop, trace, tv, received)`

// insertEventsAndDeliveries writes a batch's events and new deliveries in one statement when
// it has both (one round trip fewer per batch: measured in BENCHMARKS.md), each table as
// insertEvents and insertDeliveries would.
func insertEventsAndDeliveries(ctx context.Context, tx *sqlx.Tx, evs []Event, ds []NewDelivery, inserted map[uuid.UUID]bool) error {
	evs, ds, err := fillKeys(ctx, tx, evs, ds)
	if err != nil {
		return err
	}
	if len(evs) == 0 || len(ds) == 0 {
		if err := insertEvents(ctx, tx, evs); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		if err := insertDeliveries(ctx, tx, ds, inserted); err != nil {
			return fmt.Errorf("insert deliveries: %w", err)
		}
		return nil
	}
	// The deliveries' selection waits for a one-time count of the inserted events, so that the
	// events are inserted first, in id order, then the deliveries, in id order: the lock order
	// of two statements (an unreferenced data-modifying WITH would run after the main insert).
	rows, err := tx.QueryContext(ctx, `WITH ev AS (INSERT INTO events (id, subject, payload, trace_parent, type_version, received_at) `+eventsSelect+`
			ON CONFLICT (id, received_at) DO NOTHING RETURNING 1)
		`+insertDeliveriesSQL(8, "WHERE (SELECT count(*) FROM ev) >= 0"), append(eventsArgs(evs), deliveriesArgs(ds)...)...)
	if err != nil {
		return fmt.Errorf("insert events and deliveries: %w", err)
	}
	if err := collectIDs(rows, inserted); err != nil {
		return fmt.Errorf("insert events and deliveries: %w", err)
	}
	return nil
}

// fillKeys gives the events and deliveries written without their time key (ReceivedAt,
// CreatedAt) the key of the row stored already with their id, so that writing them again finds
// it (ON CONFLICT), or else now; one statement per table, only when some key is missing.
// Writers that know the key (the consumer, replay: the message's stream timestamp) pay nothing.
func fillKeys(ctx context.Context, tx *sqlx.Tx, evs []Event, ds []NewDelivery) ([]Event, []NewDelivery, error) {
	now := time.Now()
	var evIDs, dIDs []string
	for _, e := range evs {
		if e.ReceivedAt.IsZero() {
			evIDs = append(evIDs, e.ID)
		}
	}
	for _, d := range ds {
		if d.CreatedAt.IsZero() {
			dIDs = append(dIDs, d.ID.String())
		}
	}
	lookup := func(q string, ids []string) (map[string]time.Time, error) {
		found := map[string]time.Time{}
		if len(ids) == 0 {
			return found, nil
		}
		rows, err := tx.QueryContext(ctx, q, pq.Array(ids))
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var at time.Time
			if err := rows.Scan(&id, &at); err != nil {
				return nil, err
			}
			found[id] = at
		}
		return found, rows.Err()
	}
	evAt, err := lookup(`SELECT id, max(received_at) FROM events WHERE id = ANY($1::text[]) GROUP BY id`, evIDs)
	if err != nil {
		return nil, nil, fmt.Errorf("find stored events: %w", err)
	}
	dAt, err := lookup(`SELECT id::text, max(created_at) FROM deliveries WHERE id = ANY($1::uuid[]) GROUP BY id`, dIDs)
	if err != nil {
		return nil, nil, fmt.Errorf("find stored deliveries: %w", err)
	}
	if len(evIDs) > 0 {
		evs = slices.Clone(evs)
		for i := range evs {
			if evs[i].ReceivedAt.IsZero() {
				evs[i].ReceivedAt = cmpOr(evAt[evs[i].ID], now)
			}
		}
	}
	if len(dIDs) > 0 {
		ds = slices.Clone(ds)
		for i := range ds {
			if ds[i].CreatedAt.IsZero() {
				ds[i].CreatedAt = cmpOr(dAt[ds[i].ID.String()], now)
			}
		}
	}
	return evs, ds, nil
}

// cmpOr is t, or else when t is zero.
func cmpOr(t, otherwise time.Time) time.Time {
	if t.IsZero() {
		return otherwise
	}
	return t
}

// eventsArgs are the parameters of eventsSelect: the payloads travel as one binary bytea with
// offsets.
func eventsArgs(evs []Event) []any {
	evs = slices.Clone(evs)
	slices.SortFunc(evs, func(a, b Event) int { return strings.Compare(a.ID, b.ID) })
	size := 0
	for _, e := range evs {
		size += len(e.Payload)
	}
	ids, subjects := make([]string, 0, len(evs)), make([]string, 0, len(evs))
	var traces []sql.NullString
	starts, ends := make([]int64, 0, len(evs)), make([]int64, 0, len(evs))
	versions := make([]int64, 0, len(evs))
	received := make([]string, 0, len(evs))
	now := time.Now()
	all := make([]byte, 0, size)
	for i, e := range evs {
		if i > 0 && e.ID == evs[i-1].ID {
			continue
		}
		ids, subjects = append(ids, e.ID), append(subjects, e.Subject)
		received = append(received, keyTime(e.ReceivedAt, now))
		traces = append(traces, sql.NullString{String: e.TraceParent, Valid: e.TraceParent != ""})
		versions = append(versions, int64(e.TypeVersion))
		starts = append(starts, int64(len(all)))
		all = append(all, e.Payload...)
		ends = append(ends, int64(len(all)))
	}
	return []any{pq.Array(ids), pq.Array(subjects), all, pq.Array(starts), pq.Array(ends), pq.Array(traces), pq.Array(versions), pq.Array(received)}
}

// keyTime formats a partition key (created_at, received_at): t, or now when t is zero, to the
// microsecond PostgreSQL keeps (so that the same instant always finds the same row).
func keyTime(t, now time.Time) string {
	if t.IsZero() {
		t = now
	}
	return t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
}

// stateArrays holds the columns of State for unnest.
type stateArrays struct {
	status   []string
	attempts []int64
	nextAt   []sql.NullString
	dueAt    []sql.NullString
	lease    []sql.NullString
	code     []sql.NullInt64
	lastErr  []string
	lastAt   []sql.NullString
	lastDur  []sql.NullInt64
	excerpt  [][]byte
	trace    []sql.NullString
}

func (a *stateArrays) add(s State) {
	a.status = append(a.status, s.Status)
	a.attempts = append(a.attempts, int64(s.Attempts))
	a.nextAt = append(a.nextAt, nullTime(s.NextAttemptAt))
	a.dueAt = append(a.dueAt, nullTime(s.DueAt))
	a.lease = append(a.lease, nullUUID(s.LeaseToken))
	a.code = append(a.code, sql.NullInt64{Int64: int64(s.LastStatusCode), Valid: s.LastStatusCode != 0})
	a.lastErr = append(a.lastErr, s.LastError)
	a.lastAt = append(a.lastAt, nullTime(s.LastAttemptAt))
	a.lastDur = append(a.lastDur, sql.NullInt64{Int64: s.LastDuration.Milliseconds(), Valid: !s.LastAttemptAt.IsZero()})
	a.excerpt = append(a.excerpt, s.LastExcerpt)
	a.trace = append(a.trace, sql.NullString{String: s.LastTraceID, Valid: s.LastTraceID != ""})
}

func nullTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: t.UTC().Format(time.RFC3339Nano), Valid: true}
}

func nullUUID(u uuid.UUID) sql.NullString {
	if u == uuid.Nil {
		return sql.NullString{}
	}
	return sql.NullString{String: u.String(), Valid: true}
}

func uuidStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

func insertDeliveries(ctx context.Context, tx *sqlx.Tx, ds []NewDelivery, inserted map[uuid.UUID]bool) error {
	if len(ds) == 0 {
		return nil
	}
	_, ds, err := fillKeys(ctx, tx, nil, ds)
	if err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, insertDeliveriesSQL(0, ""), deliveriesArgs(ds)...)
	if err != nil {
		return err
	}
	return collectIDs(rows, inserted)
}

// insertDeliveriesSQL inserts the rows of deliveriesArgs, whose 17 parameters follow the first
// n of the statement, selected with where (may be empty), and returns the ids inserted.
func insertDeliveriesSQL(n int, where string) string {
	p := make([]any, 18)
	for i := range 17 {
		p[i] = n + i + 1
	}
	p[17] = where
	//nolint:staticcheck // SA5009 counts no arguments in the spread p... (all 18 are there)
	return fmt.Sprintf(`INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, attempts,
			next_attempt_at, due_at, lease_token, last_status_code, last_error, last_attempt_at, last_duration_ms, last_excerpt, last_trace_id,
			silence_id, created_at)
		SELECT * FROM unnest($%d::uuid[], $%d::uuid[], $%d::text[], $%d::text[], $%d::text[], $%d::int[],
			$%d::timestamptz[], $%d::timestamptz[], $%d::uuid[], $%d::int[], $%d::text[], $%d::timestamptz[], $%d::int[], $%d::bytea[], $%d::text[],
			$%d::uuid[], $%d::timestamptz[])
		%s
		ON CONFLICT (id, created_at) DO NOTHING
		RETURNING id`, p...)
}

// deliveriesArgs are the 17 parameters of insertDeliveriesSQL, in id order, without duplicates.
func deliveriesArgs(ds []NewDelivery) []any {
	ds = slices.Clone(ds)
	slices.SortFunc(ds, func(a, b NewDelivery) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	var ids, webhooks, eventIDs, types, created []string
	var silences []sql.NullString
	var st stateArrays
	now := time.Now()
	for i, d := range ds {
		if i > 0 && d.ID == ds[i-1].ID {
			continue
		}
		created = append(created, keyTime(d.CreatedAt, now))
		ids, webhooks = append(ids, d.ID.String()), append(webhooks, d.WebhookID.String())
		eventIDs, types = append(eventIDs, d.EventID), append(types, d.EventType)
		silences = append(silences, nullUUID(d.SilenceID))
		st.add(d.State)
	}
	return []any{pq.Array(ids), pq.Array(webhooks), pq.Array(eventIDs), pq.Array(types), pq.Array(st.status),
		pq.Array(st.attempts), pq.Array(st.nextAt), pq.Array(st.dueAt), pq.Array(st.lease), pq.Array(st.code),
		pq.Array(st.lastErr), pq.Array(st.lastAt), pq.Array(st.lastDur), pq.ByteaArray(st.excerpt), pq.Array(st.trace),
		pq.Array(silences), pq.Array(created)}
}

func collectIDs(rows *sql.Rows, into map[uuid.UUID]bool) error {
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return err
		}
		into[id] = true
	}
	return rows.Err()
}

func updateDeliveries(ctx context.Context, tx *sqlx.Tx, us []Update, updated map[uuid.UUID]bool) error {
	if len(us) == 0 {
		return nil
	}
	us = slices.Clone(us)
	slices.SortFunc(us, func(a, b Update) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	keys := make([]key, len(us))
	for i, u := range us {
		keys[i] = key{u.ID, u.CreatedAt}
	}
	created, err := createdAts(ctx, tx, keys)
	if err != nil {
		return err
	}
	var ids, leases []string
	var st stateArrays
	for _, u := range us {
		ids, leases = append(ids, u.ID.String()), append(leases, u.Lease.String())
		st.add(u.State)
	}
	// A delivery decided by its first attempt kept that attempt in its own row; before another
	// attempt overwrites last_* (a manual retry, a replay), move it to attempts.
	if _, err := tx.ExecContext(ctx, `INSERT INTO attempts (delivery_id, n, started_at, duration_ms, status_code, error, response_excerpt, trace_id)
		SELECT d.id, d.attempts, d.last_attempt_at, COALESCE(d.last_duration_ms, 0), d.last_status_code, d.last_error, d.last_excerpt, d.last_trace_id
		FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS u(id, lease, created)
			JOIN deliveries d ON d.id = u.id AND d.created_at = u.created AND d.lease_token = u.lease
		WHERE d.attempts >= 1 AND d.last_attempt_at IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id AND a.n = d.attempts)`,
		pq.Array(ids), pq.Array(leases), pq.Array(created)); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `UPDATE deliveries d SET status = u.status, attempts = GREATEST(d.attempts, u.attempts),
			next_attempt_at = u.next_at, due_at = u.due_at, lease_token = u.new_lease,
			last_status_code = u.code, last_error = u.err, last_attempt_at = u.last_at, last_duration_ms = u.last_ms,
			last_excerpt = u.excerpt, last_trace_id = u.trace, updated_at = now()
		FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::timestamptz[], $6::timestamptz[],
			$7::uuid[], $8::int[], $9::text[], $10::timestamptz[], $11::int[], $12::bytea[], $13::text[], $14::timestamptz[])
			AS u(id, lease, status, attempts, next_at, due_at, new_lease, code, err, last_at, last_ms, excerpt, trace, created)
		WHERE d.id = u.id AND d.created_at = u.created AND d.lease_token = u.lease
		RETURNING d.id`,
		pq.Array(ids), pq.Array(leases), pq.Array(st.status), pq.Array(st.attempts), pq.Array(st.nextAt),
		pq.Array(st.dueAt), pq.Array(st.lease), pq.Array(st.code), pq.Array(st.lastErr), pq.Array(st.lastAt),
		pq.Array(st.lastDur), pq.ByteaArray(st.excerpt), pq.Array(st.trace), pq.Array(created))
	if err != nil {
		return err
	}
	return collectIDs(rows, updated)
}

func insertAttempts(ctx context.Context, tx *sqlx.Tx, as []Attempt) error {
	if len(as) == 0 {
		return nil
	}
	var ids, started, errs []string
	var ns, durations []int64
	var codes []sql.NullInt64
	var traces []sql.NullString
	var excerpts [][]byte
	for _, a := range as {
		if a.Inline {
			continue
		}
		ids = append(ids, a.DeliveryID.String())
		ns = append(ns, int64(a.N))
		started = append(started, a.StartedAt.UTC().Format(time.RFC3339Nano))
		durations = append(durations, a.Duration.Milliseconds())
		codes = append(codes, sql.NullInt64{Int64: int64(a.StatusCode), Valid: a.StatusCode != 0})
		errs = append(errs, a.Error)
		excerpts = append(excerpts, a.Excerpt)
		traces = append(traces, sql.NullString{String: a.TraceID, Valid: a.TraceID != ""})
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO attempts (delivery_id, n, started_at, duration_ms, status_code, error, response_excerpt, trace_id)
		SELECT a.* FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::int[], $5::int[], $6::text[], $7::bytea[], $8::text[])
			AS a(delivery_id, n, started_at, duration_ms, status_code, error, excerpt, trace_id)
		WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id)`,
		pq.Array(ids), pq.Array(ns), pq.Array(started), pq.Array(durations), pq.Array(codes), pq.Array(errs),
		pq.ByteaArray(excerpts), pq.Array(traces))
	return err
}

// healthDelta is one webhook's share of a batch.
type healthDelta struct {
	fails       int // failures after the batch's last success (or all, without one)
	lastAt      time.Time
	lastOK      time.Time
	firstFail   time.Time // first failure after the batch's last success
	attemptsOK  map[time.Time]int
	attemptsBad map[time.Time]int
	finalOK     map[time.Time]int
	finalBad    map[time.Time]int
	silenced    map[time.Time]int
	suppressed  map[time.Time]int
}

func recordHealth(ctx context.Context, tx *sqlx.Tx, b *Batch, w *Written) error {
	deltas := map[uuid.UUID]*healthDelta{}
	get := func(id uuid.UUID) *healthDelta {
		d := deltas[id]
		if d == nil {
			d = &healthDelta{attemptsOK: map[time.Time]int{}, attemptsBad: map[time.Time]int{}, finalOK: map[time.Time]int{}, finalBad: map[time.Time]int{},
				silenced: map[time.Time]int{}, suppressed: map[time.Time]int{}}
			deltas[id] = d
		}
		return d
	}
	as := slices.Clone(b.Attempts)
	slices.SortFunc(as, func(a, b Attempt) int { return a.StartedAt.Compare(b.StartedAt) })
	for _, a := range as {
		d := get(a.WebhookID)
		hour := a.StartedAt.UTC().Truncate(time.Hour)
		if a.StartedAt.After(d.lastAt) {
			d.lastAt = a.StartedAt
		}
		if a.Succeeded {
			d.attemptsOK[hour]++
			d.lastOK, d.fails, d.firstFail = a.StartedAt, 0, time.Time{}
			continue
		}
		d.attemptsBad[hour]++
		if d.fails == 0 {
			d.firstFail = a.StartedAt
		}
		d.fails++
	}
	hour := time.Now().UTC().Truncate(time.Hour)
	final := func(webhook uuid.UUID, status string) {
		switch status {
		case StatusSucceeded:
			get(webhook).finalOK[hour]++
		case StatusFailed:
			get(webhook).finalBad[hour]++
		case StatusSilenced:
			get(webhook).silenced[hour]++
		case StatusSuppressed:
			get(webhook).suppressed[hour]++
		}
	}
	for _, n := range b.New {
		switch {
		case w.Suppressed[n.ID]:
			final(n.WebhookID, StatusSuppressed)
		case w.Inserted[n.ID]:
			final(n.WebhookID, n.Status)
		}
	}
	for _, u := range b.Updates {
		if w.Updated[u.ID] {
			final(u.WebhookID, u.Status)
		}
	}
	if len(deltas) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, 0, len(deltas))
	for id := range deltas {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })

	var hIDs []string
	var hFails []int64
	var hLast, hOK, hFirst []sql.NullString
	var sIDs, sHours []string
	var sAOK, sABad, sFOK, sFBad, sSil, sSup []int64
	for _, id := range ids {
		d := deltas[id]
		if !d.lastAt.IsZero() {
			hIDs, hFails = append(hIDs, id.String()), append(hFails, int64(d.fails))
			hLast, hOK, hFirst = append(hLast, nullTime(d.lastAt)), append(hOK, nullTime(d.lastOK)), append(hFirst, nullTime(d.firstFail))
		}
		hours := map[time.Time]bool{}
		for _, m := range []map[time.Time]int{d.attemptsOK, d.attemptsBad, d.finalOK, d.finalBad, d.silenced, d.suppressed} {
			for h := range m {
				hours[h] = true
			}
		}
		for h := range hours {
			sIDs, sHours = append(sIDs, id.String()), append(sHours, h.Format(time.RFC3339))
			sAOK, sABad = append(sAOK, int64(d.attemptsOK[h])), append(sABad, int64(d.attemptsBad[h]))
			sFOK, sFBad = append(sFOK, int64(d.finalOK[h])), append(sFBad, int64(d.finalBad[h]))
			sSil, sSup = append(sSil, int64(d.silenced[h])), append(sSup, int64(d.suppressed[h]))
		}
	}
	healthArgs := []any{pq.Array(hIDs), pq.Array(hFails), pq.Array(hLast), pq.Array(hOK), pq.Array(hFirst)}
	statsArgs := []any{pq.Array(sIDs), pq.Array(sHours), pq.Array(sAOK), pq.Array(sABad), pq.Array(sFOK), pq.Array(sFBad),
		pq.Array(sSil), pq.Array(sSup)}
	var err error
	switch {
	case len(hIDs) > 0 && len(sIDs) > 0: // one round trip for both (different tables, each row once)
		// As in two statements, health first: the stats' selection waits for its one-time count.
		_, err = tx.ExecContext(ctx, `WITH health AS (`+upsertHealthSQL(0)+` RETURNING 1) `+upsertStatsSQL(5, "AND (SELECT count(*) FROM health) >= 0"),
			append(healthArgs, statsArgs...)...)
	case len(hIDs) > 0:
		_, err = tx.ExecContext(ctx, upsertHealthSQL(0), healthArgs...)
	case len(sIDs) > 0:
		_, err = tx.ExecContext(ctx, upsertStatsSQL(0, ""), statsArgs...)
	}
	return err
}

// upsertHealthSQL adds a batch's outcomes to webhook_health; its 5 parameters follow the first n.
// A success in the batch resets the streak to the failures after it; otherwise the batch's
// failures extend the streak.
func upsertHealthSQL(n int) string {
	return fmt.Sprintf(`INSERT INTO webhook_health AS h (webhook_id, consecutive_failures, last_delivery_at, last_success_at, failing_since)
			SELECT u.id, u.fails, u.last_at, u.last_ok, u.first_fail
			FROM unnest($%d::uuid[], $%d::int[], $%d::timestamptz[], $%d::timestamptz[], $%d::timestamptz[]) AS u(id, fails, last_at, last_ok, first_fail)
			WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.id = u.id)
			ON CONFLICT (webhook_id) DO UPDATE SET
				consecutive_failures = CASE WHEN EXCLUDED.last_success_at IS NOT NULL THEN EXCLUDED.consecutive_failures
					ELSE h.consecutive_failures + EXCLUDED.consecutive_failures END,
				failing_since = CASE WHEN EXCLUDED.last_success_at IS NOT NULL THEN EXCLUDED.failing_since
					ELSE COALESCE(h.failing_since, EXCLUDED.failing_since) END,
				last_delivery_at = GREATEST(h.last_delivery_at, EXCLUDED.last_delivery_at),
				last_success_at = GREATEST(h.last_success_at, EXCLUDED.last_success_at)`, n+1, n+2, n+3, n+4, n+5)
}

// upsertStatsSQL adds a batch's counts to webhook_stats; its 8 parameters follow the first n,
// and and (may be empty) is added to its selection.
func upsertStatsSQL(n int, and string) string {
	return fmt.Sprintf(`INSERT INTO webhook_stats AS s (webhook_id, hour, attempts_succeeded, attempts_failed, deliveries_succeeded, deliveries_failed,
				deliveries_silenced, deliveries_suppressed)
			SELECT u.* FROM unnest($%d::uuid[], $%d::timestamptz[], $%d::int[], $%d::int[], $%d::int[], $%d::int[], $%d::int[], $%d::int[])
				AS u(id, hour, aok, abad, fok, fbad, sil, sup)
			WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.id = u.id) %s
			ON CONFLICT (webhook_id, hour) DO UPDATE SET
				attempts_succeeded = s.attempts_succeeded + EXCLUDED.attempts_succeeded,
				attempts_failed = s.attempts_failed + EXCLUDED.attempts_failed,
				deliveries_succeeded = s.deliveries_succeeded + EXCLUDED.deliveries_succeeded,
				deliveries_failed = s.deliveries_failed + EXCLUDED.deliveries_failed,
				deliveries_silenced = s.deliveries_silenced + EXCLUDED.deliveries_silenced,
				deliveries_suppressed = s.deliveries_suppressed + EXCLUDED.deliveries_suppressed`, n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, and)
}

// disableWebhooks deactivates the webhooks of b.Disable that are still active and records
// webhook.disabled for each.
func disableWebhooks(ctx context.Context, tx *sqlx.Tx, b *Batch) error {
	ds := b.Disable
	if len(ds) == 0 {
		return nil
	}
	ds = slices.Clone(ds)
	slices.SortFunc(ds, func(a, b Disable) int { return strings.Compare(a.WebhookID.String(), b.WebhookID.String()) })
	var ids, reasons []string
	for _, d := range ds {
		ids, reasons = append(ids, d.WebhookID.String()), append(reasons, d.Reason)
	}
	rows, err := tx.QueryContext(ctx, `UPDATE webhooks w SET active = false, disabled_reason = u.reason, disabled_at = now(), updated_at = now()
		FROM (SELECT DISTINCT ON (id) id, reason FROM unnest($1::uuid[], $2::text[]) AS x(id, reason)) AS u
		WHERE w.id = u.id AND w.active
		RETURNING w.id, u.reason`, pq.Array(ids), pq.Array(reasons))
	if err != nil {
		return err
	}
	disabled := map[uuid.UUID]string{}
	for rows.Next() {
		var id uuid.UUID
		var reason string
		if err := rows.Scan(&id, &reason); err != nil {
			_ = rows.Close() //nolint:sqlclosecheck // closed on every path below as well
			return err
		}
		disabled[id] = reason
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	if err := rows.Close(); err != nil {
		return err
	}
	return recordDisabled(ctx, tx, disabledSignals(b, disabled))
}

// ExistingDeliveries returns which of ids exist already (a redelivered event must not be sent
// again for deliveries already recorded).
func (db *DB) ExistingDeliveries(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	out := map[uuid.UUID]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT id FROM deliveries WHERE id = ANY($1::uuid[])`, pq.Array(uuidStrings(ids)))
	if err != nil {
		return nil, err
	}
	return out, collectIDs(rows, out)
}

// eventOf selects the payload and trace_parent of event id, received at received: its row in
// that day's partition (the delivery's created_at is its event's received_at), or else the
// latest row with that id (an event stored by an earlier release, or at another time).
func eventOf(id, received string) string {
	return `(SELECT e.payload, e.trace_parent FROM events e WHERE e.id = ` + id + ` AND e.received_at = ` + received + `)
		UNION ALL
		(SELECT e.payload, e.trace_parent FROM events e WHERE e.id = ` + id + ` ORDER BY e.received_at DESC LIMIT 1)
		LIMIT 1`
}

// key is a delivery's primary key: its id and created_at (zero: unknown).
type key struct {
	id      uuid.UUID
	created time.Time
}

// createdAts returns the created_at of each key, formatted as keyTime does, looking up those
// not known (an Update or Lease made without it) in one statement; a row that does not exist
// gets the zero time (and matches no row).
func createdAts(ctx context.Context, q sqlx.QueryerContext, keys []key) ([]string, error) {
	var missing []string
	for _, k := range keys {
		if k.created.IsZero() {
			missing = append(missing, k.id.String())
		}
	}
	found := map[uuid.UUID]time.Time{}
	if len(missing) > 0 {
		rows, err := q.QueryxContext(ctx, `SELECT id, created_at FROM deliveries WHERE id = ANY($1::uuid[])`, pq.Array(missing))
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var id uuid.UUID
			var at time.Time
			if err := rows.Scan(&id, &at); err != nil {
				return nil, err
			}
			found[id] = at
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		at := k.created
		if at.IsZero() {
			at = found[k.id]
		}
		if at.IsZero() {
			at = time.Unix(0, 0)
		}
		out[i] = keyTime(at, at)
	}
	return out, nil
}

// Claimed is a delivery claimed for an attempt, leased until LeaseUntil.
type Claimed struct {
	ID         uuid.UUID `db:"id"`
	WebhookID  uuid.UUID `db:"webhook_id"`
	EventID    string    `db:"event_id"`
	EventType  string    `db:"event_type"`
	Status     string    `db:"status"`
	Attempts   int       `db:"attempts"`
	LeaseToken uuid.UUID `db:"lease_token"`
	LeaseUntil time.Time `db:"due_at"`
	// Superseded: an ordered delivery whose subject has a later delivery already attempted
	// (its event was stored late): it must not be sent after it (see Claim).
	Superseded bool      `db:"superseded"`
	Ordered    bool      `db:"ordered"` // it has an order_key
	CreatedAt  time.Time `db:"created_at"`
	Payload    []byte    `db:"payload"` // sealed event JSON; nil when the event was pruned
	// TraceParent is the trace context the event was consumed in (retries continue its trace).
	TraceParent sql.NullString `db:"trace_parent"`
	// SuppressedSinceLast: under a repeat limit, how many of its type and key were suppressed
	// since the previous one sent (the message says so).
	SuppressedSinceLast int `db:"suppressed_since_last"`
}

// Claim leases up to limit due deliveries (oldest due first) for lease. Rows locked by another
// replica's claim are skipped, so replicas share the work and never claim a row twice at once;
// a crashed replica's claims return when their lease ends.
func (db *DB) Claim(ctx context.Context, limit int, lease time.Duration) ([]Claimed, error) {
	out := []Claimed{}
	err := db.SelectContext(ctx, &out, `WITH due AS (
			SELECT d.id, d.created_at, d.event_id, `+supersededSQL+` AS superseded FROM deliveries d
			WHERE d.due_at <= now() AND `+inOrderSQL+`
			ORDER BY d.due_at
			LIMIT $1
			FOR UPDATE SKIP LOCKED
		)
		UPDATE deliveries d SET due_at = now() + make_interval(secs => $2), lease_token = gen_random_uuid(), updated_at = now()
		FROM due LEFT JOIN LATERAL (`+eventOf("due.event_id", "due.created_at")+`) e ON true
		WHERE d.id = due.id AND d.created_at = due.created_at
		RETURNING d.id, d.webhook_id, d.event_id, d.event_type, d.status, d.attempts, d.lease_token, d.due_at, d.created_at, e.payload, e.trace_parent,
			d.suppressed_since_last, due.superseded, d.order_key IS NOT NULL AS ordered`,
		limit, lease.Seconds())
	return out, err
}

// ReserveRate takes the next slot of a webhook sending at perSecond, for every replica at once
// (GCRA: the row holds the theoretical arrival time of the next slot), if that slot begins no
// later than notAfter; it returns when the slot begins and whether it was taken. A slot that is
// not taken is not consumed, so that callers who would have to wait too long cannot starve the
// others. One statement; the row is created on first use.
func (db *DB) ReserveRate(ctx context.Context, webhook uuid.UUID, perSecond float64, notAfter time.Time) (time.Time, bool, error) {
	var at []time.Time
	err := db.SelectContext(ctx, &at, `INSERT INTO webhook_rate (webhook_id, tat) VALUES ($1, now() + make_interval(secs => 1 / $2::float8))
		ON CONFLICT (webhook_id) DO UPDATE SET tat = greatest(webhook_rate.tat, now()) + make_interval(secs => 1 / $2::float8)
			WHERE greatest(webhook_rate.tat, now()) <= $3
		RETURNING tat - make_interval(secs => 1 / $2::float8)`, webhook, perSecond, notAfter)
	if err != nil || len(at) == 0 {
		return time.Time{}, false, err
	}
	return at[0], true, nil
}

// RenewLeases extends, to now + lease, the leases of rows still held with their token (and not
// final); it returns the ids renewed. One statement for all of a replica's leases.
func (db *DB) RenewLeases(ctx context.Context, ls []Lease, lease time.Duration) ([]uuid.UUID, error) {
	ids, tokens := make([]uuid.UUID, len(ls)), make([]uuid.UUID, len(ls))
	keys := make([]key, len(ls))
	for i, l := range ls {
		ids[i], tokens[i], keys[i] = l.ID, l.Token, key{l.ID, l.CreatedAt}
	}
	created, err := createdAts(ctx, db, keys)
	if err != nil {
		return nil, err
	}
	var out []uuid.UUID
	err = db.SelectContext(ctx, &out, `UPDATE deliveries d SET due_at = now() + make_interval(secs => $3)
		FROM unnest($1::uuid[], $2::uuid[], $4::timestamptz[]) AS u(id, token, created)
		WHERE d.id = u.id AND d.created_at = u.created AND d.lease_token = u.token AND d.due_at IS NOT NULL
		RETURNING d.id`, pq.Array(uuidStrings(ids)), pq.Array(uuidStrings(tokens)), lease.Seconds(), pq.Array(created))
	return out, err
}

// Lease identifies a leased delivery (and, to release it, when it may be claimed again).
type Lease struct {
	ID        uuid.UUID
	Token     uuid.UUID
	After     time.Duration
	CreatedAt time.Time // the row's created_at (finds its partition); zero: looked up
}

// Release gives leased deliveries back, each claimable again after its After (work this
// replica took but will not do: shutting down, or the webhook's queue is full).
func (db *DB) Release(ctx context.Context, ls []Lease) error {
	if len(ls) == 0 {
		return nil
	}
	ids, tokens, after := make([]string, len(ls)), make([]string, len(ls)), make([]float64, len(ls))
	keys := make([]key, len(ls))
	for i, l := range ls {
		ids[i], tokens[i], after[i], keys[i] = l.ID.String(), l.Token.String(), l.After.Seconds(), key{l.ID, l.CreatedAt}
	}
	created, err := createdAts(ctx, db, keys)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `UPDATE deliveries d SET due_at = now() + make_interval(secs => u.after), lease_token = NULL
		FROM unnest($1::uuid[], $2::uuid[], $3::float8[], $4::timestamptz[]) AS u(id, lease, after, created)
		WHERE d.id = u.id AND d.created_at = u.created AND d.lease_token = u.lease`, pq.Array(ids), pq.Array(tokens), pq.Array(after), pq.Array(created))
	return err
}

// Backlog is the size of the retry backlog.
type Backlog struct {
	Retrying      int64        `db:"retrying"`       // deliveries waiting for a retry
	Pending       int64        `db:"pending"`        // not final (pending or retrying)
	OldestPending sql.NullTime `db:"oldest_pending"` // creation of the oldest non-final delivery
}

// RetryBacklog counts the deliveries that are not final.
func (db *DB) RetryBacklog(ctx context.Context) (Backlog, error) {
	var b Backlog
	err := db.GetContext(ctx, &b, `SELECT
		(SELECT count(*) FROM deliveries WHERE status = 'retrying') AS retrying,
		(SELECT count(*) FROM deliveries WHERE due_at IS NOT NULL) AS pending,
		(SELECT min(created_at) FROM deliveries WHERE due_at IS NOT NULL) AS oldest_pending`)
	return b, err
}
