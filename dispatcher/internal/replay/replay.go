// Package replay re-queues a webhook's deliveries over a time window: deliveries that ended
// (failed, or succeeded when asked) are attempted again with the same webhook-id, and events of
// the window that matched the webhook but have no delivery (they arrived while the webhook was
// deactivated) are read back from the JetStream stream and get one. The work is bounded: one
// call creates or re-queues at most Limit deliveries and reads at most MaxScan stream messages;
// the answer says when it stopped early and where to continue.
package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhook/taskhook/dispatcher/internal/deliver"
	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/event"
	opsfam "github.com/taskhook/taskhook/pkg/families/ops"
)

// Which deliveries a replay takes.
const (
	Failed    = "failed"    // deliveries that failed
	Succeeded = "succeeded" // deliveries that succeeded (sent again)
	Missing   = "missing"   // events that matched but were never delivered (webhook deactivated)
	Undone    = ""          // the default: failed and missing
)

// Request is one replay.
type Request struct {
	Webhook *subscription.Compiled
	Since   time.Time
	Until   time.Time
	Status  string
	Limit   int // most deliveries re-queued or created
	MaxScan int // most stream messages read
}

// Result says what a replay did.
type Result struct {
	Requeued  int       `json:"requeued"`
	Created   int       `json:"created"`
	Scanned   int       `json:"scanned"`
	Capped    bool      `json:"capped"`
	NextSince time.Time `json:"next_since,omitzero"` // when capped: replay again from here
}

// DeliveryID derives a delivery's id (consume.DeliveryID; passed in to avoid an import cycle).
type DeliveryID func(eventID string, webhook uuid.UUID) uuid.UUID

// Replayer runs replays.
type Replayer struct {
	js     jetstream.JetStream
	stream string
	db     *store.DB
	box    *secretbox.Box
	id     DeliveryID
}

// New returns a replayer over stream.
func New(js jetstream.JetStream, stream string, db *store.DB, box *secretbox.Box, id DeliveryID) *Replayer {
	return &Replayer{js: js, stream: stream, db: db, box: box, id: id}
}

// Replay runs req.
func (r *Replayer) Replay(ctx context.Context, req Request) (Result, error) {
	var res Result
	wid := req.Webhook.ID
	if req.Status != Missing {
		ids, err := r.db.FinalDeliveries(ctx, wid, req.Since, req.Until, finalStatus(req.Status), req.Limit+1)
		if err != nil {
			return res, err
		}
		if len(ids) > req.Limit {
			ids, res.Capped = ids[:req.Limit], true
		}
		done, err := store.Requeue(ctx, r.db, ids)
		if err != nil {
			return res, err
		}
		res.Requeued = len(done)
	}
	// A digest webhook's events are collected, not delivered one by one: none is "missing".
	// Its digests are deliveries like any other and are re-queued above.
	if (req.Status == Undone || req.Status == Missing) && req.Webhook.Webhook.Digest == nil {
		if err := r.createMissing(ctx, req, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

func finalStatus(s string) string {
	if s == Undone {
		return store.StatusFailed
	}
	return s
}

// createMissing reads the stream over the window and creates the deliveries that never were.
func (r *Replayer) createMissing(ctx context.Context, req Request, res *Result) error {
	since := req.Since
	cons, err := r.js.OrderedConsumer(ctx, r.stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since})
	if err != nil {
		return fmt.Errorf("read the stream: %w", err)
	}
	w := req.Webhook
	for res.Created+res.Requeued < req.Limit {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("read the stream: %w", err)
		}
		var events []store.Event
		var news []store.NewDelivery
		var ids []uuid.UUID
		last := false
		n := 0
		for m := range batch.Messages() {
			n++
			res.Scanned++
			meta, err := m.Metadata()
			if err != nil {
				continue
			}
			if !meta.Timestamp.Before(req.Until) {
				last = true
				break
			}
			if meta.NumPending == 0 {
				last = true
			}
			if res.Scanned >= req.MaxScan {
				res.Capped, res.NextSince, last = true, meta.Timestamp, true
			}
			head, err := event.ParseHead(m.Data())
			if err != nil || !w.Active || !w.Wants(m.Subject()) || aboutItself(m.Subject(), m.Data(), w.ID) {
				continue
			}
			if w.HasFilter() {
				var doc map[string]any
				if json.Unmarshal(m.Data(), &doc) != nil || !w.Match(m.Subject(), doc) {
					continue
				}
			}
			id := head.EventID
			if id == "" {
				id = m.Headers().Get(jetstream.MsgIDHeader)
			}
			if id == "" {
				continue
			}
			did := r.id(id, w.ID)
			ids = append(ids, did)
			// Keyed by the message's stream timestamp, as the consumer keys them.
			events = append(events, store.Event{ID: id, Subject: m.Subject(), Payload: r.box.Seal(m.Data(), deliver.EventAAD(id)), ReceivedAt: meta.Timestamp})
			news = append(news, store.NewDelivery{ID: did, WebhookID: w.ID, EventID: id, EventType: m.Subject(), CreatedAt: meta.Timestamp,
				State: store.State{Status: store.StatusPending, DueAt: time.Now()}})
			if last {
				break
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && n == 0 {
			return fmt.Errorf("read the stream: %w", err)
		}
		if len(news) > 0 {
			existing, err := r.db.ExistingDeliveries(ctx, ids)
			if err != nil {
				return err
			}
			var b store.Batch
			for i, nd := range news {
				if existing[nd.ID] || res.Created+res.Requeued+len(b.New) >= req.Limit {
					if !existing[nd.ID] {
						res.Capped = true
					}
					continue
				}
				b.New = append(b.New, nd)
				b.Events = append(b.Events, events[i])
			}
			written, err := r.db.Write(ctx, &b)
			if err != nil {
				return err
			}
			res.Created += len(written.Inserted)
		}
		if last || n == 0 {
			return nil
		}
	}
	res.Capped = true
	return nil
}

// aboutItself reports whether an event is an operational event about the webhook itself, which
// that webhook never receives (not even by a replay).
func aboutItself(subject string, data []byte, webhook uuid.UUID) bool {
	return opsfam.IsType(subject) && opsfam.About(data) == webhook.String()
}
