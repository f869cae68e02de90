package quiet

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/retry"
)

// Loader is what the set needs of the database (*store.DB).
type Loader interface {
	LoadSilences(ctx context.Context) ([]store.Silence, int64, error)
	SilenceGeneration(ctx context.Context) (int64, error)
}

// Set is every silence not yet ended, each compiled once, as the consumer matches deliveries
// against them. Like the webhook cache it compares the database's silence generation (bumped
// by a trigger on every change) with its own and reloads when they differ; the consumer reads
// the generation with the webhooks' before each batch, so a silence created or ended on any
// replica applies to the next batch everywhere. Reading it is one atomic load: with no silence,
// matching costs a length check.
type Set struct {
	db      Loader
	filters *subscription.Filters
	log     *zap.Logger

	mu   sync.Mutex // serializes reloads
	snap atomic.Pointer[snapshot]
}

type snapshot struct {
	gen  int64
	list []*compiled // oldest first
	// byID keeps compiled matchers across reloads (a silence's matcher never changes).
	byID map[uuid.UUID]*compiled
}

type compiled struct {
	id       uuid.UUID
	starts   time.Time
	ends     time.Time
	webhooks map[uuid.UUID]bool // nil: every webhook
	matcher  *subscription.Filter
}

// NewSet returns an empty set; call Refresh before use.
func NewSet(db Loader, filters *subscription.Filters, log *zap.Logger) *Set {
	s := &Set{db: db, filters: filters, log: log}
	s.snap.Store(&snapshot{gen: -1, byID: map[uuid.UUID]*compiled{}})
	return s
}

// Refresh reloads the silences when the database generation changed.
func (s *Set) Refresh(ctx context.Context) error {
	gen, err := s.db.SilenceGeneration(ctx)
	if err != nil {
		return err
	}
	return s.RefreshTo(ctx, gen)
}

// RefreshTo reloads the silences when gen (read by the caller) differs from the set's.
func (s *Set) RefreshTo(ctx context.Context, gen int64) error {
	if gen == s.snap.Load().gen {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	if gen == old.gen {
		return nil
	}
	rows, loaded, err := s.db.LoadSilences(ctx)
	if err != nil {
		return err
	}
	next := &snapshot{gen: loaded, byID: make(map[uuid.UUID]*compiled, len(rows))}
	for i := range rows {
		r := &rows[i]
		c := old.byID[r.ID]
		if c == nil {
			flt, err := s.filters.Compile(r.Matcher)
			if err != nil { // refused at create: only a CEL upgrade could make this happen
				s.log.Error("silence matcher does not compile; the silence is ignored", zap.String("silence_id", r.ID.String()), zap.Error(err))
				continue
			}
			c = &compiled{id: r.ID, matcher: flt}
			if len(r.WebhookIDs) > 0 {
				c.webhooks = map[uuid.UUID]bool{}
				for _, w := range r.WebhookIDs {
					if id, err := uuid.Parse(w); err == nil {
						c.webhooks[id] = true
					}
				}
			}
		}
		cc := *c
		cc.starts, cc.ends = r.StartsAt, r.EndsAt // ending early changes ends
		next.byID[r.ID] = &cc
		next.list = append(next.list, &cc)
	}
	s.snap.Store(next)
	s.log.Debug("silences reloaded", zap.Int64("generation", loaded), zap.Int("silences", len(next.list)))
	return nil
}

// Watch refreshes every interval until ctx ends (the consumer refreshes before each batch too).
func (s *Set) Watch(ctx context.Context, interval time.Duration) {
	retry.Every(ctx, interval, func(ctx context.Context) {
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("silence refresh failed", zap.Error(err))
		}
	})
}

// Len is how many silences are loaded (pending or active).
func (s *Set) Len() int { return len(s.snap.Load().list) }

// Match returns the oldest silence active at now that covers webhook and whose matcher
// matches the event (doc decodes it, nil when it cannot), or uuid.Nil. With no silence loaded
// it returns at once without decoding anything.
func (s *Set) Match(now time.Time, webhook uuid.UUID, subject string, doc func() map[string]any) uuid.UUID {
	list := s.snap.Load().list
	if len(list) == 0 {
		return uuid.Nil
	}
	for _, c := range list {
		if State(c.starts, c.ends, now) != StateActive || (c.webhooks != nil && !c.webhooks[webhook]) {
			continue
		}
		ev := doc()
		if ev == nil {
			return uuid.Nil
		}
		if c.matcher.Match(subject, ev) {
			return c.id
		}
	}
	return uuid.Nil
}
