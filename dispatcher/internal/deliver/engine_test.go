package deliver

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAcquireNeverPastTheDeadline: a slot is waited for only until the attempt's deadline (the
// last moment it may start within its lease); a slot freed later is not taken.
func TestAcquireNeverPastTheDeadline(t *testing.T) {
	cases := []struct {
		name     string
		busy     bool          // the only slot is taken
		freeIn   time.Duration // it is given back after this (0: never)
		deadline time.Duration
		want     bool
	}{
		{"free slot", false, 0, time.Second, true},
		{"deadline passed", false, 0, -time.Millisecond, false},
		{"busy until after the deadline", true, 300 * time.Millisecond, 50 * time.Millisecond, false},
		{"busy, never freed", true, 0, 50 * time.Millisecond, false},
		{"freed before the deadline", true, 20 * time.Millisecond, time.Second, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sem := make(chan struct{}, 1)
			if c.busy {
				sem <- struct{}{}
				if c.freeIn > 0 {
					time.AfterFunc(c.freeIn, func() { <-sem })
				}
			}
			start := time.Now()
			got := acquire(sem, start.Add(c.deadline))
			if got != c.want {
				t.Fatalf("acquire = %v, want %v", got, c.want)
			}
			if waited := time.Since(start); !got && c.deadline > 0 && waited > c.deadline+100*time.Millisecond {
				t.Fatalf("waited %s past a deadline of %s", waited, c.deadline)
			}
			if got && len(sem) != 1 || !got && !c.busy && len(sem) != 0 {
				t.Fatalf("slots held: %d", len(sem))
			}
		})
	}
}

// TestFenceCancelsAtTheGuard: an attempt's context lasts while its lease does; without renewals
// it is cancelled (errLeaseLapsed) when only the guard is left, and renewals keep it running.
func TestFenceCancelsAtTheGuard(t *testing.T) {
	lease := 400 * time.Millisecond // guard 100 ms
	e := &Engine{cfg: Config{Lease: lease}, base: context.Background()}

	start := time.Now()
	lapsing := &Job{LeaseUntil: start.Add(lease)}
	ctx, stop := e.fence(lapsing)
	defer stop()
	<-ctx.Done()
	if took := time.Since(start); took < lease-Guard(lease)-10*time.Millisecond || took > lease {
		t.Fatalf("cancelled after %s, want about %s (the lease less the guard)", took, lease-Guard(lease))
	}
	if !errors.Is(context.Cause(ctx), errLeaseLapsed) {
		t.Fatalf("cause %v, want errLeaseLapsed", context.Cause(ctx))
	}

	renewed := &Job{LeaseUntil: time.Now().Add(lease)}
	ctx2, stop2 := e.fence(renewed)
	for range 10 { // a renewal every 100 ms for a second: more than twice the lease
		time.Sleep(100 * time.Millisecond)
		renewed.extend(time.Now().Add(lease))
	}
	if ctx2.Err() != nil {
		t.Fatalf("an attempt whose lease was renewed was cancelled: %v", context.Cause(ctx2))
	}
	stop2()
	if ctx2.Err() == nil || errors.Is(context.Cause(ctx2), errLeaseLapsed) {
		t.Fatalf("stop: %v, want a plain cancellation", context.Cause(ctx2))
	}

	// A job whose guard has passed already does not start.
	late := &Job{LeaseUntil: time.Now().Add(Guard(lease) / 2)}
	ctx3, stop3 := e.fence(late)
	defer stop3()
	if !errors.Is(context.Cause(ctx3), errLeaseLapsed) {
		t.Fatalf("a job past its guard: %v, want errLeaseLapsed at once", context.Cause(ctx3))
	}
}
