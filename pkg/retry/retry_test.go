package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	cases := []struct {
		name         string
		initial, max time.Duration
		want         []time.Duration
	}{
		{"doubles to the cap", 100 * time.Millisecond, time.Second,
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}},
		{"initial above the cap", 10 * time.Second, time.Second, []time.Duration{time.Second, time.Second}},
		{"initial equals the cap", time.Second, time.Second, []time.Duration{time.Second, time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := Backoff{Initial: c.initial, Max: c.max}
			for i, want := range c.want {
				if got := b.Next(); got != want {
					t.Fatalf("delay %d = %s, want %s", i+1, got, want)
				}
			}
			b.Reset()
			if got := b.Next(); got != min(c.initial, c.max) {
				t.Fatalf("after Reset: %s, want %s", got, min(c.initial, c.max))
			}
		})
	}
}

func TestUntil(t *testing.T) {
	errDown := errors.New("down")
	t.Run("succeeds after failures, telling each", func(t *testing.T) {
		calls, told := 0, []time.Duration{}
		v, err := Until(context.Background(), Backoff{Initial: time.Millisecond, Max: 4 * time.Millisecond},
			func(context.Context) (int, error) {
				calls++
				if calls < 4 {
					return 0, errDown
				}
				return 42, nil
			}, func(err error, wait time.Duration) {
				if !errors.Is(err, errDown) {
					t.Errorf("told %v", err)
				}
				told = append(told, wait)
			})
		if err != nil || v != 42 || calls != 4 {
			t.Fatalf("v=%d err=%v calls=%d", v, err, calls)
		}
		want := []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}
		if len(told) != len(want) {
			t.Fatalf("told %v, want %v", told, want)
		}
		for i := range want {
			if told[i] != want[i] {
				t.Fatalf("told %v, want %v", told, want)
			}
		}
	})
	t.Run("permanent error returned at once", func(t *testing.T) {
		calls := 0
		_, err := Until(context.Background(), Backoff{Initial: time.Hour, Max: time.Hour},
			func(context.Context) (int, error) { calls++; return 0, Permanent(errDown) }, nil)
		if !errors.Is(err, errDown) || calls != 1 {
			t.Fatalf("err=%v calls=%d", err, calls)
		}
	})
	t.Run("context ends the wait", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := Until(ctx, Backoff{Initial: time.Hour, Max: time.Hour},
			func(context.Context) (int, error) { return 0, errDown }, nil)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errDown) {
			t.Fatalf("err = %v, want both the deadline and the last error", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("returned after %s", took)
		}
	})
}

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	if !Sleep(ctx, time.Millisecond) {
		t.Fatal("Sleep with a live context = false")
	}
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep with an ended context = true")
	}
	if Sleep(ctx, 0) {
		t.Fatal("Sleep(0) with an ended context = true")
	}
}

func TestEvery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	start := time.Now()
	Every(ctx, 5*time.Millisecond, func(context.Context) {
		calls++
		if calls == 3 {
			cancel()
		}
	})
	if calls != 3 {
		t.Fatalf("%d calls", calls)
	}
	if took := time.Since(start); took < 15*time.Millisecond {
		t.Fatalf("three calls 5 ms apart took %s: the first did not wait", took)
	}
}
