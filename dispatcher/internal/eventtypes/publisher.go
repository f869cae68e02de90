package eventtypes

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/natsx"
	"github.com/taskhook/taskhook/pkg/retry"
	"github.com/taskhook/taskhook/pkg/typesync"
)

// Publisher installs the stored custom types in the dispatcher's catalog and hands them to
// ingest: the stream gains each custom family's subjects first, then the key-value bucket gets
// the definitions (so that no ingest accepts a type the stream cannot store).
type Publisher struct {
	DB      *store.DB
	JS      jetstream.JetStream
	Stream  natsx.StreamConfig
	Bucket  string // "" is typesync.Bucket
	Catalog *event.Catalog
	Log     *zap.Logger
	// Every is how often the bucket is compared with the database again (a replica that
	// started with an older read converges).
	Every time.Duration

	poke chan struct{}
}

// Defs converts stored rows into definitions (a row whose summary is not JSON is skipped and
// logged).
func Defs(rows []store.EventType, log *zap.Logger) []event.Custom {
	out := make([]event.Custom, 0, len(rows))
	for _, r := range rows {
		d, err := FromRow(r)
		if err != nil {
			log.Error("a stored custom event type cannot be read; left out", zap.String("type", r.Type), zap.Error(err))
			continue
		}
		out = append(out, d)
	}
	return out
}

// Load installs the stored custom types in the catalog.
func (p *Publisher) Load(ctx context.Context) ([]event.Custom, error) {
	rows, err := p.DB.ListEventTypes(ctx)
	if err != nil {
		return nil, fmt.Errorf("load custom event types: %w", err)
	}
	defs := Defs(rows, p.Log)
	if err := p.Catalog.SetCustom(defs, Summarizers); err != nil {
		p.Log.Error("custom event types left out of the catalog", zap.Error(err))
	}
	return defs, nil
}

// Publish loads the stored types, adds their families' subjects to the stream and makes the
// bucket hold them.
func (p *Publisher) Publish(ctx context.Context) error {
	defs, err := p.Load(ctx)
	if err != nil {
		return err
	}
	s, err := p.JS.Stream(ctx, p.Stream.Name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", p.Stream.Name, err)
	}
	cfg := s.CachedInfo().Config
	if want := natsx.MergeSubjects(cfg.Subjects, p.Catalog.Subjects()); len(want) != len(cfg.Subjects) {
		cfg.Subjects = want
		if _, err := p.JS.UpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("add the custom families' subjects to stream %s: %w", p.Stream.Name, err)
		}
		p.Log.Info("the stream gains subjects", zap.String("stream", cfg.Name), zap.Strings("subjects", cfg.Subjects))
	}
	bucket := p.Bucket
	if bucket == "" {
		bucket = typesync.Bucket
	}
	kv, err := typesync.EnsureBucket(ctx, p.JS, bucket, p.Stream.Replicas)
	if err != nil {
		return err
	}
	return typesync.Sync(ctx, kv, defs)
}

// Poke asks Run to publish again soon (after a change whose publish failed).
func (p *Publisher) Poke() {
	select {
	case p.poke <- struct{}{}:
	default:
	}
}

// Init prepares Poke; call it before Run and before the API serves.
func (p *Publisher) Init() { p.poke = make(chan struct{}, 1) }

// Run publishes at start, when poked, and every Every, retrying failures with a backoff, until
// ctx ends.
func (p *Publisher) Run(ctx context.Context) {
	every := p.Every
	if every <= 0 {
		every = 30 * time.Second
	}
	b := retry.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.poke:
		case <-time.After(wait):
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := p.Publish(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			wait = b.Next()
			p.Log.Warn("custom event types not handed to ingest yet; retrying", zap.Error(err), zap.Duration("retry_in", wait))
			continue
		}
		b.Reset()
		wait = every
	}
}
