package alert

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
)

// Open is the alert an event delivered through webhook opens at now under p, with a fresh
// token (sealed; only its hash findable) valid for ttl, and the mark of its delivery.
func Open(box *secretbox.Box, webhook uuid.UUID, p *Policy, eventID, eventType string, delivery uuid.UUID, now time.Time, ttl time.Duration) (store.NewAlert, store.Mark) {
	id := ID(webhook, eventID)
	token, hash := NewToken()
	policy, _ := json.Marshal(p) // a Policy always marshals
	a := store.NewAlert{ID: id, WebhookID: webhook, DeliveryID: delivery, EventID: eventID, EventType: eventType,
		TokenHash: hash, TokenSealed: box.Seal([]byte(token), TokenAAD(id)), TokenExpiresAt: now.Add(ttl), Policy: policy,
		OpenedAt: now, AcknowledgeBy: now.Add(p.AcknowledgeWithin)}
	return a, store.Mark{DeliveryID: delivery, Kind: store.MarkAlert, AlertID: id}
}
