package admin

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/taskhook/taskhook/dispatcher/internal/alert"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

// alerting applies a body's "escalation" and "fallback" to w and validates them against the
// other webhooks and TASKHOOK_PUBLIC_URL (see alert.Check). Self-contained: it needs the body's
// two raw members, the webhook as it will be saved and a way to read the others.
func alerting(ctx context.Context, q store.Querier, escalation, fallback json.RawMessage, w *subscription.Webhook, publicURL string) ([]subscription.Problem, error) {
	var ps []alert.Problem
	var more []alert.Problem
	w.Escalation, more = alert.ParsePolicy(escalation, w.Escalation)
	ps = append(ps, more...)
	w.Fallback, more = alert.ParseFallback(fallback, w.Fallback)
	ps = append(ps, more...)
	if len(ps) == 0 && (w.Escalation != nil || w.Fallback != uuid.Nil) {
		peers, err := store.WebhookPeers(ctx, q)
		if err != nil {
			return nil, err
		}
		m := make(map[uuid.UUID]alert.Peer, len(peers))
		for _, p := range peers {
			m[p.ID] = alert.Peer{Provider: p.Provider, Fallback: p.FallbackID.UUID}
		}
		ps = alert.Check(alert.Subject{ID: w.ID, Provider: w.Provider, HasDigest: w.Digest != nil, Escalation: w.Escalation, Fallback: w.Fallback}, m, publicURL)
	}
	out := make([]subscription.Problem, len(ps))
	for i, p := range ps {
		out[i] = subscription.Problem{Path: p.Path, Message: p.Message}
	}
	return out, nil
}
