package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// MaxBatch is the most events one PublishBatch request may carry.
const MaxBatch = 1000

// Publisher publishes events to Taskhook's ingest API.
type Publisher struct{ b *base }

// NewPublisher returns a publisher for the ingest API at url (e.g. http://127.0.0.1:8080) with
// a publisher token (TASKHOOK_INGEST_TOKENS).
func NewPublisher(url, token string, opts ...Option) (*Publisher, error) {
	b, err := newBase(url, token, opts)
	if err != nil {
		return nil, err
	}
	return &Publisher{b: b}, nil
}

// Accepted is the answer to a stored event.
type Accepted struct {
	ID        string `json:"id"`        // the event id
	Subject   string `json:"subject"`   // its type, e.g. task.created
	Duplicate bool   `json:"duplicate"` // the id was seen within the duplicate window: nothing new stored
}

// PublishOption tunes one Publish or PublishBatch.
type PublishOption func(*publishOpts)

type publishOpts struct{ key string }

// IdempotencyKey sets the Idempotency-Key: the event id when the body has no event_id (in a
// batch, item i without an event_id gets the id <key>.<i>). Without it the client generates one,
// so that its own retries are safe.
func IdempotencyKey(key string) PublishOption { return func(o *publishOpts) { o.key = key } }

// NewKey returns a fresh idempotency key (a UUIDv7, sortable by time).
func NewKey() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(time.Now().UnixMilli()))
	copy(u[:6], ms[2:]) // 48 bits of unix milliseconds, then version 7 and random bits
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Publish publishes one event (any value that marshals to the event's JSON object, or its JSON
// as []byte or json.RawMessage). A 503 or a lost connection is retried with the same event id
// after Retry-After; a 4xx is returned at once as an *Error.
func (p *Publisher) Publish(ctx context.Context, event any, opts ...PublishOption) (*Accepted, error) {
	o := publishOpts{}
	for _, f := range opts {
		f(&o)
	}
	if o.key == "" {
		o.key = NewKey()
	}
	body, err := marshal(event)
	if err != nil {
		return nil, err
	}
	r, err := p.b.withRetries(ctx, func() (*response, error) {
		return p.b.do(ctx, http.MethodPost, "/v1/events", body, http.Header{"Idempotency-Key": {o.key}})
	})
	if err != nil {
		return nil, err
	}
	var a Accepted
	if err := r.decode(http.MethodPost, "/v1/events", &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// withRetries runs send until it answers something other than a 503 (or 502/504), the
// connection is not lost, or the retries are spent.
func (b *base) withRetries(ctx context.Context, send func() (*response, error)) (*response, error) {
	for attempt := 0; ; attempt++ {
		r, err := send()
		retry := false
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, err
			}
			retry = true
		case r.status == http.StatusServiceUnavailable || r.status == http.StatusBadGateway || r.status == http.StatusGatewayTimeout:
			retry, wait = true, retryAfter(r.header)
		}
		if !retry || attempt >= b.retries {
			return r, err
		}
		if wait == 0 {
			wait = 250 * time.Millisecond << attempt
		}
		wait = min(wait, b.maxWait)
		if serr := sleep(ctx, wait); serr != nil {
			if err == nil {
				err = serr
			}
			return nil, err
		}
	}
}

// BatchResult is the outcome of one item of a batch.
type BatchResult struct {
	Index     int      `json:"index"`  // the item's position in the batch
	Status    int      `json:"status"` // 202 stored, else the error's HTTP status
	ID        string   `json:"id,omitempty"`
	Subject   string   `json:"subject,omitempty"`
	Duplicate bool     `json:"duplicate,omitempty"`
	Error     string   `json:"error,omitempty"`
	Details   []Detail `json:"details,omitempty"`
}

// OK reports whether the item is stored (new or a duplicate).
func (r BatchResult) OK() bool { return r.Status == http.StatusAccepted }

// PublishBatch publishes up to MaxBatch events in one request and returns one result per
// event, in order. Items are independent: valid ones are stored even when others are refused
// (a result with Status 400, 413 or 422 and its Details). Items that got 503 are sent again,
// with the same event ids, after Retry-After; those still failing keep their 503. The error is
// non-nil only when the request as a whole failed.
func (p *Publisher) PublishBatch(ctx context.Context, events []json.RawMessage, opts ...PublishOption) ([]BatchResult, error) {
	if len(events) == 0 || len(events) > MaxBatch {
		return nil, fmt.Errorf("taskhook: a batch holds 1 to %d events, got %d", MaxBatch, len(events))
	}
	o := publishOpts{}
	for _, f := range opts {
		f(&o)
	}
	if o.key == "" {
		o.key = NewKey()
	}
	results, err := p.sendBatch(ctx, events, o.key)
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < p.b.retries; attempt++ {
		var again []int
		for i, r := range results {
			if r.Status == http.StatusServiceUnavailable && r.ID != "" {
				again = append(again, i)
			}
		}
		if len(again) == 0 {
			break
		}
		if err := sleep(ctx, min(2*time.Second<<attempt, p.b.maxWait)); err != nil {
			return results, nil //nolint:nilerr // cancelled while waiting to retry: the answers so far stand
		}
		// Each event goes again under the id it was given (its event_id, or <key>.<index>).
		items := make([]json.RawMessage, len(again))
		for j, i := range again {
			if items[j], err = withEventID(events[i], results[i].ID); err != nil {
				return nil, err
			}
		}
		rs, err := p.sendBatch(ctx, items, "")
		if err != nil {
			return results, nil //nolint:nilerr // the first answer stands
		}
		for j, i := range again {
			rs[j].Index = i
			results[i] = rs[j]
		}
	}
	return results, nil
}

func (p *Publisher) sendBatch(ctx context.Context, events []json.RawMessage, key string) ([]BatchResult, error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, e := range events {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(e)
	}
	buf.WriteByte(']')
	h := http.Header{}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	r, err := p.b.withRetries(ctx, func() (*response, error) {
		return p.b.do(ctx, http.MethodPost, "/v1/events/batch", buf.Bytes(), h)
	})
	if err != nil {
		return nil, err
	}
	var out []BatchResult
	if err := r.decode(http.MethodPost, "/v1/events/batch", &out); err != nil {
		return nil, err
	}
	if len(out) != len(events) {
		return nil, fmt.Errorf("taskhook: the batch answer holds %d results for %d events", len(out), len(events))
	}
	return out, nil
}

// withEventID returns the event with "event_id": id, added when it has none.
func withEventID(event json.RawMessage, id string) (json.RawMessage, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(event, &top); err != nil {
		return nil, errors.New("taskhook: a retried batch item is not a JSON object")
	}
	if _, ok := top["event_id"]; ok {
		return event, nil
	}
	idJSON, _ := json.Marshal(id)
	b := bytes.TrimLeft(event, " \t\r\n")
	out := make([]byte, 0, len(b)+len(idJSON)+16)
	out = append(out, `{"event_id":`...)
	out = append(out, idJSON...)
	rest := bytes.TrimLeft(b[1:], " \t\r\n")
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...), nil
}
