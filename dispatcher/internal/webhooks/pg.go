package webhooks

import (
	"context"

	"github.com/google/uuid"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
)

// PG is the Store in PostgreSQL.
type PG struct{ DB *store.DB }

// List implements Store.
func (p PG) List(ctx context.Context) ([]store.WebhookWithHealth, error) {
	return store.ListWebhooks(ctx, p.DB)
}

// Get implements Store.
func (p PG) Get(ctx context.Context, id uuid.UUID) (*store.WebhookWithHealth, error) {
	return store.GetWebhook(ctx, p.DB, id)
}

// Retrying implements Store.
func (p PG) Retrying(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	return p.DB.HasRetrying(ctx, ids)
}

// Save implements Store: the row, its digest window and the audit entry in one transaction.
func (p PG) Save(ctx context.Context, s Save) error {
	tx, err := p.DB.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if s.Insert {
		err = store.InsertWebhook(ctx, tx, s.Row)
	} else {
		err = store.UpdateWebhook(ctx, tx, s.Row)
	}
	if err != nil {
		return err
	}
	if s.Digest.Close {
		if err := store.CloseDigestWindow(ctx, tx, s.Row.ID); err != nil {
			return err
		}
	}
	if s.Digest.Open {
		if err := store.OpenDigestWindow(ctx, tx, s.Row.ID, s.Digest.OpenAt, s.Digest.Closes); err != nil {
			return err
		}
	}
	e := s.Audit
	if err := store.Audit(ctx, tx, e.Actor, e.Action, e.Webhook, e.Target, e.Details); err != nil {
		return err
	}
	return tx.Commit()
}

// Delete implements Store.
func (p PG) Delete(ctx context.Context, id uuid.UUID, e Entry) error {
	if err := p.DB.DeleteWebhook(ctx, id); err != nil {
		return err
	}
	return p.Audit(ctx, e)
}

// Audit implements Store.
func (p PG) Audit(ctx context.Context, e Entry) error {
	return store.Audit(ctx, p.DB, e.Actor, e.Action, e.Webhook, e.Target, e.Details)
}

// Peers implements Store.
func (p PG) Peers(ctx context.Context) ([]store.WebhookPeer, error) {
	return store.WebhookPeers(ctx, p.DB)
}
