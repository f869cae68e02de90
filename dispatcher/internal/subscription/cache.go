package subscription

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/retry"
)

// Cache holds every webhook compiled, keyed by id and by subject. Refresh compares the
// database's webhook generation (bumped by a trigger on every change) with the cache's and
// reloads when they differ; the consumer calls it before matching each batch, so a change made
// through the API on any replica applies to the next events everywhere.
type Cache struct {
	db       *store.DB
	codec    Codec
	compiler *Compiler
	log      *zap.Logger

	mu   sync.Mutex // serializes reloads
	snap atomic.Pointer[snapshot]
}

type snapshot struct {
	gen       int64
	byID      map[uuid.UUID]*Compiled
	bySubject map[string][]*Compiled // active webhooks only
	// inactive: inactive webhooks with a fallback, by subject (their events go to it)
	inactive map[string][]*Compiled
	alerting bool // some webhook has an escalation policy or a fallback
}

// NewCache returns an empty cache; call Refresh before use.
func NewCache(db *store.DB, codec Codec, compiler *Compiler, log *zap.Logger) *Cache {
	c := &Cache{db: db, codec: codec, compiler: compiler, log: log}
	c.snap.Store(&snapshot{gen: -1, byID: map[uuid.UUID]*Compiled{}, bySubject: map[string][]*Compiled{}})
	return c
}

// Refresh reloads the webhooks when the database generation changed.
func (c *Cache) Refresh(ctx context.Context) error {
	gen, err := c.db.Generation(ctx)
	if err != nil {
		return err
	}
	if gen == c.snap.Load().gen {
		return nil
	}
	return c.reload(ctx)
}

func (c *Cache) reload(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.snap.Load()
	rows, gen, err := c.db.LoadWebhooks(ctx)
	if err != nil {
		return err
	}
	if gen == old.gen {
		return nil
	}
	next := &snapshot{gen: gen, byID: make(map[uuid.UUID]*Compiled, len(rows)), bySubject: map[string][]*Compiled{}, inactive: map[string][]*Compiled{}}
	for i := range rows {
		r := &rows[i]
		// An unchanged webhook keeps its compiled form (and any cached access token).
		if prev := old.byID[r.ID]; prev != nil && prev.UpdatedAt.Equal(r.UpdatedAt) {
			next.add(prev)
			continue
		}
		w, err := c.codec.FromRow(r)
		if err == nil {
			var cw *Compiled
			if cw, err = c.compiler.Compile(w); err == nil {
				next.add(cw)
				continue
			}
		}
		c.log.Error("webhook cannot be loaded; its deliveries fail until it is fixed", zap.String("webhook_id", r.ID.String()), zap.Error(err))
	}
	c.snap.Store(next)
	c.log.Debug("webhooks reloaded", zap.Int64("generation", gen), zap.Int("webhooks", len(next.byID)))
	return nil
}

func (s *snapshot) add(cw *Compiled) {
	s.byID[cw.ID] = cw
	s.alerting = s.alerting || cw.Escalation != nil || cw.Fallback != uuid.Nil
	if !cw.Active {
		if cw.Fallback != uuid.Nil {
			for subj := range cw.subjects {
				s.inactive[subj] = append(s.inactive[subj], cw)
			}
		}
		return
	}
	for subj := range cw.subjects {
		s.bySubject[subj] = append(s.bySubject[subj], cw)
	}
}

// Subscribed returns the active webhooks subscribed to subject (filters not applied).
func (c *Cache) Subscribed(subject string) []*Compiled { return c.snap.Load().bySubject[subject] }

// Inactive returns the inactive webhooks subscribed to subject that have a fallback (filters
// not applied): what they match goes to their fallback.
func (c *Cache) Inactive(subject string) []*Compiled { return c.snap.Load().inactive[subject] }

// Alerting reports whether any webhook has an escalation policy or a fallback.
func (c *Cache) Alerting() bool { return c.snap.Load().alerting }

// All returns every loaded webhook (active or not).
func (c *Cache) All() []*Compiled {
	snap := c.snap.Load()
	out := make([]*Compiled, 0, len(snap.byID))
	for _, w := range snap.byID {
		out = append(out, w)
	}
	return out
}

// Get returns a webhook by id (nil when unknown or not loadable).
func (c *Cache) Get(id uuid.UUID) *Compiled { return c.snap.Load().byID[id] }

// Generation is the generation the cache reflects.
func (c *Cache) Generation() int64 { return c.snap.Load().gen }

// Watch refreshes every interval until ctx ends (so that retries see changes even while no
// events arrive).
func (c *Cache) Watch(ctx context.Context, interval time.Duration) {
	retry.Every(ctx, interval, func(ctx context.Context) {
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("webhook cache refresh failed", zap.Error(err))
		}
	})
}

// Digest is what the digest flusher needs of webhook id (digest.Webhooks); false when the
// webhook no longer exists.
func (c *Cache) Digest(id uuid.UUID) (digest.Target, bool) {
	w := c.Get(id)
	if w == nil {
		return digest.Target{}, false
	}
	preview, _ := notify.DigestOf(w.Provider)
	return digest.Target{Spec: w.Webhook.Digest, Location: w.Target.Location, Preview: preview}, true
}
