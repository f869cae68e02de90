package webhooks

import (
	"context"
	"errors"
	"testing"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/pgtest"
)

// TestPGStore: the service on PostgreSQL: a create stores the row, opens the window of a daily
// digest that sends empty days and audits, in one transaction; an update that removes the
// digest closes its window; a delete removes the row and audits.
func TestPGStore(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, pgtest.NewDatabase(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s := newService(t, PG{DB: db})
	s.Now = nil // the window is compared with PostgreSQL's now()
	v, err := s.Create(ctx, "token:ab12", body(t, `{"name": "Ward 3", "url": "https://hooks.example/in", "provider": "generic",
		"digest": {"daily_at": "08:00", "send_empty": true}}`))
	if err != nil {
		t.Fatal(err)
	}
	var open int
	if err := db.GetContext(ctx, &open, `SELECT count(*) FROM digest_windows WHERE webhook_id = $1 AND closes_at > now()`, v.ID); err != nil || open != 1 {
		t.Fatalf("open digest windows: %d (%v), want 1", open, err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != v.ID || list[0].Digest == nil {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if _, err := s.Update(ctx, "token:ab12", v.ID, body(t, `{"digest": null}`)); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(ctx, &open, `SELECT count(*) FROM digest_windows WHERE webhook_id = $1 AND closes_at > now()`, v.ID); err != nil || open != 0 {
		t.Fatalf("open digest windows after the digest was removed: %d (%v)", open, err)
	}
	if err := s.Delete(ctx, "token:ab12", v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, v.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after delete: %v", err)
	}
	var actions []string
	if err := db.SelectContext(ctx, &actions, `SELECT action FROM audit_log WHERE actor = 'token:ab12' ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(actions) != 3 || actions[0] != "webhook.create" || actions[1] != "webhook.update" || actions[2] != "webhook.delete" {
		t.Fatalf("audit: %v", actions)
	}
}
