package deliver

import (
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
