package consume

import (
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/deliver"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

// ordered takes the delivery of it to w when w has ordering "subject" and the event names what
// it is about: no first attempt here (an earlier event of the same subject may still be pending
// or in flight, on this replica or another); the row is stored pending with its subject and
// stream sequence, and the poller attempts it when its turn comes (store.Claim). It reports
// whether it took it.
func (c *Consumer) ordered(it *item, w *subscription.Compiled, leaseUntil time.Time) bool {
	if !w.Ordered {
		return false
	}
	if it.orderKey == "" {
		if it.orderKey = c.cfg.Catalog.SubjectOf(it.subject, it.raw); it.orderKey == "" {
			return false // about nothing in particular: nothing to order by
		}
	}
	it.ordered = append(it.ordered, &deliver.Job{DeliveryID: DeliveryID(it.eventID, w.ID), WebhookID: w.ID, EventID: it.eventID,
		EventType: it.subject, Attempt: 1, LeaseUntil: leaseUntil, Received: it.received, OccurredAt: it.occurred, Event: it.event})
	return true
}

// addOrdered adds it's ordered deliveries to b: pending, leased to nobody, in their subject's
// order, due after settle. The claim orders a subject's deliveries among those stored; settle
// gives the events of a subject consumed at about the same time by other workers or replicas
// (whose batches are stored within the ack window) the time to be stored before the first of
// them is attempted.
func addOrdered(b *store.Batch, it *item, now time.Time, settle time.Duration) {
	for _, j := range it.ordered {
		b.New = append(b.New, store.NewDelivery{ID: j.DeliveryID, WebhookID: j.WebhookID, EventID: j.EventID, EventType: j.EventType,
			CreatedAt: it.received, State: store.State{Status: store.StatusPending, DueAt: now.Add(settle)}})
		b.Ordered = append(b.Ordered, store.Ordered{ID: j.DeliveryID, Key: it.orderKey, Seq: it.seq})
	}
}
