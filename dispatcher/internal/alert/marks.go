package alert

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
)

// MarkStore reads delivery marks (*store.DB).
type MarkStore interface {
	AlertMarks(ctx context.Context, ids []uuid.UUID) ([]store.AlertMark, error)
}

// Marks tells the delivery engine how to render claimed deliveries that belong to an alert
// (the acknowledge link; an escalation step's marking) or are fallbacks.
type Marks struct {
	Store     MarkStore
	Box       *secretbox.Box
	PublicURL string
	// Active reports whether any webhook has an escalation policy or a fallback (else no
	// delivery can have a mark, and the lookup is skipped); nil: always look.
	Active func() bool
}

// Lookup returns the message annotation of each delivery among ids that has a mark.
func (m *Marks) Lookup(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*notify.Alert, error) {
	if len(ids) == 0 || m.Active != nil && !m.Active() {
		return nil, nil
	}
	rows, err := m.Store.AlertMarks(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]*notify.Alert, len(rows))
	for _, r := range rows {
		out[r.DeliveryID] = m.annotate(&r)
	}
	return out, nil
}

func (m *Marks) annotate(r *store.AlertMark) *notify.Alert {
	a := &notify.Alert{}
	if r.AlertID.Valid {
		a.ID = r.AlertID.UUID.String()
		a.AcknowledgeBy = r.AcknowledgeBy.Time
		if tok, err := m.Box.Open(r.TokenSealed, TokenAAD(r.AlertID.UUID)); err == nil && m.PublicURL != "" {
			a.AcknowledgeURL = Link(m.PublicURL, string(tok))
		}
	}
	switch r.Kind {
	case store.MarkEscalation:
		e := &notify.Escalation{Step: r.Step, Reason: r.Reason}
		var p Policy
		if json.Unmarshal(r.Policy, &p) == nil {
			e.After = p.AcknowledgeWithin * time.Duration(r.Step)
		}
		if r.FromWebhookID.Valid {
			e.FromWebhookID, e.FromName = r.FromWebhookID.UUID.String(), r.FromName.String
		}
		a.Escalation = e
	case store.MarkFallback:
		a.Fallback = &notify.Fallback{Reason: r.Reason}
		if r.FromWebhookID.Valid {
			a.Fallback.FromWebhookID = r.FromWebhookID.UUID.String()
			a.Fallback.FromName = r.FromName.String
		}
	}
	return a
}
