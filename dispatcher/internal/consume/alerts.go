package consume

import (
	"time"

	"github.com/google/uuid"

	"github.com/taskhook/taskhook/dispatcher/internal/alert"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

// held is a delivery the consumer writes pending, due at once, for the poller: a delivery that
// opens an alert, or the fallback of an inactive webhook; with its mark (and its alert).
type held struct {
	row   store.NewDelivery
	mark  store.Mark
	alert *store.NewAlert
}

// openAlert prepares the delivery of it to w, whose escalation policy makes it open an alert
// (a new token each time; a redelivered event's is dropped with its delivery, recorded already).
func (c *Consumer) openAlert(it *item, w *subscription.Compiled) {
	id := DeliveryID(it.eventID, w.ID)
	ttl := c.cfg.AckLinkTTL
	if ttl <= 0 {
		ttl = 168 * time.Hour
	}
	a, m := alert.Open(c.box, w.ID, w.Escalation, it.eventID, it.subject, id, time.Now(), ttl)
	it.held = append(it.held, held{row: pendingNow(id, w.ID, it), mark: m, alert: &a})
}

// fallBack prepares the delivery of it to the fallback of w, an inactive webhook that would
// have received it.
func (c *Consumer) fallBack(it *item, w *subscription.Compiled) {
	if c.cache.Get(w.Fallback) == nil {
		return // the fallback was deleted since
	}
	id := alert.FallbackDeliveryID(DeliveryID(it.eventID, w.ID))
	it.held = append(it.held, held{row: pendingNow(id, w.Fallback, it),
		mark: store.Mark{DeliveryID: id, Kind: store.MarkFallback, Reason: alert.InactiveReason(w.DisabledReason), FromWebhookID: w.ID}})
}

// pendingNow is a pending delivery row of it to webhook, due at once (the poller claims it).
func pendingNow(id, webhook uuid.UUID, it *item) store.NewDelivery {
	return store.NewDelivery{ID: id, WebhookID: webhook, EventID: it.eventID, EventType: it.subject, CreatedAt: it.received,
		State: store.State{Status: store.StatusPending, DueAt: time.Now()}}
}

// unrecordedHeld is hs without those recorded already (a redelivered event), in place.
func unrecordedHeld(hs []held, existing map[uuid.UUID]bool) []held {
	kept := hs[:0]
	for _, h := range hs {
		if !existing[h.row.ID] {
			kept = append(kept, h)
		}
	}
	return kept
}

// countHeld counts the fallbacks of inactive webhooks a batch created and has the poller claim
// the held deliveries at once.
func (c *Consumer) countHeld(items []*item, w *store.Written) {
	n := 0
	for _, it := range items {
		for _, h := range it.held {
			if !w.Inserted[h.row.ID] {
				continue
			}
			n++
			if h.mark.Kind == store.MarkFallback {
				c.metrics.AlertFallbacks.WithLabelValues(h.mark.Reason).Inc()
			}
		}
	}
	if n > 0 {
		c.engine.Poke()
	}
}
