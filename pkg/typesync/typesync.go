// Package typesync carries the custom event types from the dispatcher (which stores them in
// PostgreSQL) to every service's catalog through a JetStream key-value bucket: one key per type,
// its definition as JSON. The dispatcher writes the bucket; every ingest (and every dispatcher
// replica) watches it, so a change reaches them within moments, without polling, and an ingest
// that starts while no dispatcher runs still finds the last catalog in the bucket. Built-in
// families need no bucket. Works with NATS 2.9 and current servers.
package typesync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/retry"
)

// Bucket is the key-value bucket of the custom event types.
const Bucket = "TASKHOOK_EVENT_TYPES"

// ErrNotReady is Watcher.Ready's error until the bucket's content has been read once.
var ErrNotReady = errors.New("custom event types not loaded yet")

// EnsureBucket binds to the bucket, creating it when missing (both services may: the first
// wins, the others bind).
func EnsureBucket(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("key-value bucket %s: %w", bucket, err)
	}
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "Taskhook custom event types (written by the dispatcher, watched by ingest)",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
	if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return js.KeyValue(ctx, bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("create key-value bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// Put writes one definition under its type.
func Put(ctx context.Context, kv jetstream.KeyValue, def event.Custom) error {
	b, err := json.Marshal(def)
	if err != nil {
		return err
	}
	_, err = kv.Put(ctx, def.Type, b)
	return err
}

// Sync makes the bucket hold exactly defs: newer definitions written (a version the bucket
// already holds, or a newer one, is left as it is), others deleted.
func Sync(ctx context.Context, kv jetstream.KeyValue, defs []event.Custom) error {
	want := map[string]event.Custom{}
	for _, d := range defs {
		want[d.Type] = d
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return err
	}
	var stale []string
	for k := range lister.Keys() {
		if _, ok := want[k]; !ok {
			stale = append(stale, k)
		}
	}
	for _, k := range stale {
		if err := kv.Delete(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return err
		}
	}
	for _, d := range defs {
		if cur, err := kv.Get(ctx, d.Type); err == nil {
			var have event.Custom
			if json.Unmarshal(cur.Value(), &have) == nil && have.Version >= d.Version {
				continue
			}
		}
		if err := Put(ctx, kv, d); err != nil {
			return err
		}
	}
	return nil
}

// Watcher keeps a catalog's custom types equal to the bucket's content.
type Watcher struct {
	JS       jetstream.JetStream
	Bucket   string // "" is Bucket
	Replicas int
	Catalog  *event.Catalog
	// Summarizers gives custom families their chat summary (the dispatcher; nil in ingest).
	Summarizers event.Summarizers
	Log         *zap.Logger
	// Applied, when set, is told after each change is installed (tests, metrics).
	Applied func(types int)

	loaded atomic.Bool
	failed atomic.Bool // a first attempt failed: the built-in families must not wait for the bucket
}

// Ready is nil once the bucket's content was read (the catalog holds the custom types), or once
// a first attempt to read it failed: the built-in families work without the bucket, and the
// custom types follow when a retry succeeds.
func (w *Watcher) Ready() error {
	if !w.loaded.Load() && !w.failed.Load() {
		return ErrNotReady
	}
	return nil
}

// Run watches the bucket until ctx ends, binding (or creating) it first and watching again
// after any interruption.
func (w *Watcher) Run(ctx context.Context) {
	bucket := w.Bucket
	if bucket == "" {
		bucket = Bucket
	}
	b := retry.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}
	for ctx.Err() == nil {
		started := time.Now()
		err := w.watch(ctx, bucket)
		if ctx.Err() != nil {
			return
		}
		if refused(err) {
			w.failed.Store(true)
		}
		if time.Since(started) > time.Minute { // it had been watching: start the backoff again
			b.Reset()
		}
		wait := b.Next()
		w.Log.Warn("watching the custom event types failed; retrying", zap.String("bucket", bucket), zap.Error(err), zap.Duration("retry_in", wait))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// refused reports whether the server answered that there can be no bucket (no JetStream, no
// permission, a limit), as opposed to not answering yet (NATS still connecting).
func refused(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount)
}

func (w *Watcher) watch(ctx context.Context, bucket string) error {
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	kv, err := EnsureBucket(bctx, w.JS, bucket, w.Replicas)
	cancel()
	if err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	watcher, err := kv.WatchAll(wctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", bucket, err)
	}
	defer func() { _ = watcher.Stop() }()
	defs := map[string]event.Custom{}
	initial := true
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-watcher.Updates():
			if !ok {
				return errors.New("the watch ended")
			}
			if e == nil { // every current value has been delivered
				initial = false
				w.apply(defs)
				continue
			}
			switch e.Operation() {
			case jetstream.KeyValuePut:
				var d event.Custom
				if err := json.Unmarshal(e.Value(), &d); err != nil || d.Type != e.Key() {
					w.Log.Error("a custom event type in the bucket cannot be read; ignored", zap.String("key", e.Key()), zap.Error(err))
					continue
				}
				defs[d.Type] = d
			default: // deleted or purged
				delete(defs, e.Key())
			}
			if !initial {
				w.apply(defs)
			}
		}
	}
}

func (w *Watcher) apply(defs map[string]event.Custom) {
	list := make([]event.Custom, 0, len(defs))
	for _, d := range defs {
		list = append(list, d)
	}
	if err := w.Catalog.SetCustom(list, w.Summarizers); err != nil {
		w.Log.Error("custom event types left out of the catalog", zap.Error(err))
	}
	w.loaded.Store(true)
	w.Log.Debug("custom event types applied", zap.Int("types", len(list)))
	if w.Applied != nil {
		w.Applied(len(list))
	}
}
