package digest

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/metrics"
	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/retry"
)

// Target is what the flusher needs of a webhook.
type Target struct {
	Spec     *Spec          // nil: the digest was turned off (what waits is still sent, once)
	Location *time.Location // the webhook's zone
	Preview  int            // > 0: the provider lists only the first events (notify.DigestPolicy)
}

// Webhooks finds webhooks for the flusher (the dispatcher's webhook cache).
type Webhooks interface {
	// Refresh brings the webhooks up to date (a webhook changed on another replica).
	Refresh(ctx context.Context) error
	// Digest is the webhook's target; false when it no longer exists.
	Digest(id uuid.UUID) (Target, bool)
}

// Store is what the flusher needs of PostgreSQL (*store.DB).
type Store interface {
	FlushDigests(ctx context.Context, limit int, build func(store.DigestWindow, *store.WindowTx) (*store.DigestFlush, error)) (int, error)
	DigestBacklog(ctx context.Context) (store.DigestBacklog, error)
}

// Flusher turns closed windows into digest deliveries. Every replica runs one; a window is
// claimed by one of them (SKIP LOCKED) and its deliveries written in the transaction that
// closes it, with ids derived from the webhook and the window: one message per window.
type Flusher struct {
	DB       Store
	Webhooks Webhooks
	Box      *secretbox.Box
	// EventAAD binds a digest's sealed payload to its event id, as for any event.
	EventAAD func(eventID string) []byte
	// Delivered is told after digests were written, so that the engine claims them at once.
	Delivered func()
	Every     time.Duration // how often closed windows are looked for (default 1 s)
	// MaxBytes bounds one message's body (default DefaultMaxBytes); a window holding more
	// becomes further parts. The flush holds one part's items at a time.
	MaxBytes int
	Metrics  *metrics.Metrics
	Log      *zap.Logger
}

// Run flushes until ctx ends.
func (f *Flusher) Run(ctx context.Context) {
	every := f.Every
	if every <= 0 {
		every = time.Second
	}
	gauge := time.Now()
	retry.Every(ctx, every, func(ctx context.Context) {
		if err := f.FlushOnce(ctx); err != nil && ctx.Err() == nil {
			f.Metrics.WriteErrors.WithLabelValues("flush digests").Inc()
			f.Log.Warn("flushing digests failed; retrying", zap.Error(err))
		}
		if time.Since(gauge) >= 5*time.Second {
			gauge = time.Now()
			if b, err := f.DB.DigestBacklog(ctx); err == nil {
				f.Metrics.DigestWaiting.Set(float64(b.Waiting))
			}
		}
	})
}

// FlushOnce flushes every window closed by now. The webhooks are brought up to date once, when
// the first closed window is found (most polls find none and cost one query).
func (f *Flusher) FlushOnce(ctx context.Context) error {
	const limit = 16
	refreshed := false
	for {
		sent := 0
		n, err := f.DB.FlushDigests(ctx, limit, func(w store.DigestWindow, tx *store.WindowTx) (*store.DigestFlush, error) {
			if !refreshed {
				if err := f.Webhooks.Refresh(ctx); err != nil {
					return nil, err
				}
				refreshed = true
			}
			fl, parts, err := f.build(w, tx, time.Now())
			sent += parts
			return fl, err
		})
		if err != nil {
			return err
		}
		if sent > 0 {
			f.Metrics.DigestsSent.Add(float64(sent))
			if f.Delivered != nil {
				f.Delivered()
			}
		}
		if n < limit {
			return nil
		}
	}
}

// WindowReader is a claimed window's items and where its messages go (*store.WindowTx).
type WindowReader interface {
	Waiting() ([]store.WaitingSize, error)
	Items(first, last int64) ([]store.WaitingItem, error)
	Write(ev store.Event, d store.NewDelivery, first, last int64) error
}

// build makes a closed window's messages, writing them part by part (it holds one part's
// items at a time), and says how many it wrote; nil drops the window (its webhook is gone).
func (f *Flusher) build(w store.DigestWindow, tx WindowReader, now time.Time) (*store.DigestFlush, int, error) {
	t, ok := f.Webhooks.Digest(w.WebhookID)
	if !ok {
		return nil, 0, nil
	}
	waiting, err := tx.Waiting()
	if err != nil {
		return nil, 0, err
	}
	out := &store.DigestFlush{}
	if t.Spec != nil && t.Spec.Daily() && t.Spec.SendEmpty {
		out.Next = &store.DigestWindow{WebhookID: w.WebhookID, OpenedAt: w.ClosesAt, ClosesAt: t.Spec.Closes(now, t.Location)}
	}
	if len(waiting) == 0 && out.Next == nil {
		return out, 0, nil // nothing to send: a day without events, or a window turned off empty
	}
	sized := make([]Sized, len(waiting))
	for i, it := range waiting {
		sized[i] = Sized{Type: it.EventType, Size: it.Size}
	}
	base := header(Window{Start: w.OpenedAt, End: w.ClosesAt}, sized)
	var pages []Page
	if t.Preview > 0 {
		// One message: the counts of all, the first events listed; it carries every item.
		pages = []Page{{0, len(sized)}}
	} else {
		maxBytes := f.MaxBytes
		if maxBytes <= 0 {
			maxBytes = DefaultMaxBytes
		}
		pages = Plan(sized, HeaderBytes(base), MaxPerMessage, maxBytes)
	}
	for i, p := range pages {
		d := base
		d.Part, d.Parts, d.Count = i+1, len(pages), p.To-p.From
		var first, last int64
		if p.To > p.From {
			first, last = waiting[p.From].Seq, waiting[p.To-1].Seq
			read := last
			if t.Preview > 0 {
				read = waiting[min(p.To, p.From+t.Preview)-1].Seq
			}
			items, err := tx.Items(first, read)
			if err != nil {
				return nil, 0, err
			}
			d.Events = f.open(w.WebhookID, items)
		}
		raw, err := Encode(d)
		if err != nil {
			return nil, 0, err // a Doc always encodes
		}
		eventID := EventID(w.WebhookID, w.OpenedAt, i+1)
		id := DeliveryID(w.WebhookID, eventID)
		if i == 0 {
			out.DigestID = id
		}
		ev := store.Event{ID: eventID, Subject: Type, Payload: f.Box.Seal(raw, f.EventAAD(eventID))}
		del := store.NewDelivery{ID: id, WebhookID: w.WebhookID, EventID: eventID, EventType: Type,
			State: store.State{Status: store.StatusPending, DueAt: now}}
		if err := tx.Write(ev, del, first, last); err != nil {
			return nil, 0, err
		}
	}
	return out, len(pages), nil
}

// open opens a page's sealed items.
func (f *Flusher) open(webhook uuid.UUID, waiting []store.WaitingItem) []Item {
	items := make([]Item, 0, len(waiting))
	for _, it := range waiting {
		raw, err := f.Box.Open(it.Payload, ItemAAD(webhook, it.EventID))
		if err != nil {
			// Never expected (the key that sealed it is configured, or the re-seal moved it):
			// the digest goes out without it rather than never.
			f.Log.Error("digest item cannot be opened; left out", zap.String("webhook_id", webhook.String()), zap.String("event_id", it.EventID))
			continue
		}
		items = append(items, Item{Type: it.EventType, Timestamp: it.OccurredAt, Data: raw})
	}
	return items
}

// EventID is the id of part (1-based) of the digest of webhook's window opened at opened.
func EventID(webhook uuid.UUID, opened time.Time, part int) string {
	return fmt.Sprintf("digest:%s:%d:%s", webhook, opened.UnixMicro(), strconv.Itoa(part))
}

// deliveryNamespace derives digest delivery ids.
var deliveryNamespace = uuid.MustParse("0d7f0a8e-5b8f-4a57-9a3e-6c2b1d4e9f10")

// DeliveryID is the delivery id (and webhook-id header) of a digest message: derived from the
// webhook and the window's part, the same however often the window is flushed.
func DeliveryID(webhook uuid.UUID, eventID string) uuid.UUID {
	return uuid.NewSHA1(deliveryNamespace, []byte(eventID+"\x00"+webhook.String()))
}
