// Package natsx connects to NATS and declares Taskhook's JetStream stream. Both services call
// EnsureStream at start; it is idempotent and works with NATS 2.9 and current servers.
package natsx

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/pkg/families"
	"github.com/taskhook/taskhook/pkg/retry"
)

// StreamName is the JetStream stream holding every event (the name predates the other families).
const StreamName = "TASK_EVENTS"

// StreamConfig is the part of the stream configuration Taskhook lets operators set.
type StreamConfig struct {
	Name       string
	Subjects   []string
	Replicas   int
	Duplicates time.Duration // de-duplication window for Nats-Msg-Id
	MaxAge     time.Duration // how long events stay in the stream (0 = forever)
}

// DefaultStream is TASK_EVENTS on every family's subjects (task.created, …, report.*,
// battery.*). A stream declared by an earlier release, with the task subjects only, gains the
// others in place when a service starts.
func DefaultStream(replicas int, duplicates, maxAge time.Duration) StreamConfig {
	return StreamConfig{Name: StreamName, Subjects: families.Subjects(), Replicas: replicas, Duplicates: duplicates, MaxAge: maxAge}
}

func (c StreamConfig) jetstream() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        c.Name,
		Description: "Taskhook events: tasks, device reports, device batteries",
		Subjects:    c.Subjects,
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Replicas:    max(c.Replicas, 1),
		Duplicates:  c.Duplicates,
		MaxAge:      c.MaxAge,
	}
}

// EnsureStream creates the stream or updates it to cfg.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, cfg.jetstream())
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// EnsureStreamLoop calls EnsureStream until it succeeds or ctx ends, backing off up to 5 s, so
// that a service can start before NATS is reachable. Subjects the stream has and cfg lacks are
// kept: a service of an older release (fewer families) restarting beside newer ones must not
// take a family's subjects away from the stream.
func EnsureStreamLoop(ctx context.Context, js jetstream.JetStream, cfg StreamConfig, log *zap.Logger) (jetstream.Stream, error) {
	return retry.Until(ctx, retry.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second},
		func(ctx context.Context) (jetstream.Stream, error) {
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			want := cfg
			if cur, err := js.Stream(actx, cfg.Name); err == nil {
				want.Subjects = MergeSubjects(cfg.Subjects, cur.CachedInfo().Config.Subjects)
				warnOnChange(log, cur.CachedInfo().Config, want.jetstream())
			}
			return EnsureStream(actx, js, want)
		},
		func(err error, wait time.Duration) {
			log.Warn("stream not ready; retrying", zap.String("stream", cfg.Name), zap.Error(err), zap.Duration("retry_in", wait))
		})
}

// MergeSubjects is want followed by the subjects of have that want lacks.
func MergeSubjects(want, have []string) []string {
	out := slices.Clone(want)
	for _, s := range have {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// warnOnChange logs when declaring the stream changes settings an operator chose: both
// services declare it, so two services configured differently undo each other's settings.
// New subjects (a new event family) are logged at info.
func warnOnChange(log *zap.Logger, cur, want jetstream.StreamConfig) {
	if cur.Replicas != want.Replicas || cur.Duplicates != want.Duplicates || cur.MaxAge != want.MaxAge {
		log.Warn("the stream's settings differ from this service's; updating them (configure ingest and dispatcher alike)",
			zap.String("stream", cur.Name), zap.Int("replicas_was", cur.Replicas), zap.Int("replicas", want.Replicas),
			zap.Duration("duplicate_window_was", cur.Duplicates), zap.Duration("duplicate_window", want.Duplicates),
			zap.Duration("max_age_was", cur.MaxAge), zap.Duration("max_age", want.MaxAge))
	}
	if added := slices.DeleteFunc(slices.Clone(want.Subjects), func(s string) bool { return slices.Contains(cur.Subjects, s) }); len(added) > 0 {
		log.Info("the stream gains subjects", zap.String("stream", cur.Name), zap.Strings("subjects", added))
	}
}

// Connect dials the servers in url (comma-separated) and keeps reconnecting forever. It returns
// at once even when no server is reachable yet (callers report readiness from Status).
// Publishes are never buffered while disconnected: they fail at once, so that ingest can answer
// 503 instead of accepting an event it cannot store.
func Connect(url, name string, log *zap.Logger, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectBufSize(-1),
		nats.Timeout(2 * time.Second),
		nats.PingInterval(10 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", zap.String("server", nc.ConnectedUrlRedacted()))
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			log.Info("nats connected", zap.String("server", nc.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("nats async error", zap.String("subject", subj), zap.Error(err))
		}),
	}
	nc, err := nats.Connect(url, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("NATS_URL %s: %w", url, err)
	}
	return nc, nil
}

// Ready reports whether nc is connected.
func Ready(nc *nats.Conn) error {
	if s := nc.Status(); s != nats.CONNECTED {
		return fmt.Errorf("nats %s", s)
	}
	return nil
}

// Drain drains nc (pending publishes flushed, subscriptions finished) and waits until it is
// closed or ctx ends.
func Drain(ctx context.Context, nc *nats.Conn) error {
	if nc.IsClosed() {
		return nil
	}
	if nc.Status() != nats.CONNECTED {
		nc.Close()
		return nil
	}
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return err
	}
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		nc.Close()
		return ctx.Err()
	}
}

// ConsumerConfig is the durable consumer the dispatcher replicas share.
type ConsumerConfig struct {
	Durable       string
	AckWait       time.Duration
	MaxAckPending int
}

// EnsureConsumer creates or updates the durable pull consumer on stream: explicit acks, every
// subject, from the start of the stream, redelivered without limit (poison messages are
// terminated by the dispatcher, never dropped by a delivery count).
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, c ConsumerConfig) (jetstream.Consumer, error) {
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       c.Durable,
		Description:   "Taskhook dispatchers (shared by every replica)",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxAckPending: c.MaxAckPending,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update consumer %s on %s: %w", c.Durable, stream, err)
	}
	return cons, nil
}
