// Package retry runs an operation until it succeeds or its context ends, waiting a doubling,
// capped delay between failures: the one loop behind "start before NATS or PostgreSQL is
// reachable" and "keep writing outcomes while PostgreSQL is down".
package retry

import (
	"context"
	"errors"
	"time"
)

// Backoff is a delay that doubles from Initial up to Max with each failure. The zero value of
// its state starts at Initial; Reset starts over after a success.
type Backoff struct {
	Initial, Max time.Duration
	cur          time.Duration
}

// Next is the delay to wait after one more failure.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.Initial
	} else {
		b.cur = min(2*b.cur, b.Max)
	}
	return min(b.cur, b.Max)
}

// Reset starts over from Initial (after a success).
func (b *Backoff) Reset() { b.cur = 0 }

// Sleep waits d, or less when ctx ends first; false when ctx ended.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// permanent marks an error that no retry can mend.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err so that Until returns it at once instead of retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// Until calls fn until it succeeds, returns a Permanent error, or ctx ends, waiting b between
// calls. onRetry, when not nil, is told each failure and the wait before the next call (to log
// it). When ctx ends, the error joins ctx's error and fn's last one.
func Until[T any](ctx context.Context, b Backoff, fn func(context.Context) (T, error), onRetry func(err error, wait time.Duration)) (T, error) {
	for {
		v, err := fn(ctx)
		if err == nil {
			return v, nil
		}
		var p permanent
		if errors.As(err, &p) {
			return v, p.err
		}
		wait := b.Next()
		if ctx.Err() == nil && onRetry != nil {
			onRetry(err, wait)
		}
		if !Sleep(ctx, wait) {
			var zero T
			return zero, errors.Join(ctx.Err(), err)
		}
	}
}

// Every calls fn every d until ctx ends, the first time after d: the loop of a periodic job
// (flushers, observers, refreshes) that handles its own errors.
func Every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn(ctx)
	}
}
