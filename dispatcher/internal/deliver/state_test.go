package deliver

import (
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
)

func TestNextState(t *testing.T) {
	at := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	rt := Retries{Schedule: Schedule{10 * time.Second, time.Minute}, MaxAttempts: 3, RetryAfterMax: 5 * time.Minute}
	cases := []struct {
		name       string
		n          int
		out        notify.Outcome
		status     string
		delay      [2]time.Duration // bounds of the retry's delay (retrying only)
		errPrefix  string
		maxAttempt int // 0: rt's
	}{
		{"success", 1, notify.Outcome{Result: notify.Success}, store.StatusSucceeded, [2]time.Duration{}, "", 0},
		{"retryable, first attempt: the first delay ±20%", 1, notify.Outcome{Result: notify.Retry, Reason: "status 503"},
			store.StatusRetrying, [2]time.Duration{8 * time.Second, 12 * time.Second}, "status 503", 0},
		{"retryable, second attempt: the second delay ±20%", 2, notify.Outcome{Result: notify.Retry, Reason: "status 503"},
			store.StatusRetrying, [2]time.Duration{48 * time.Second, 72 * time.Second}, "status 503", 0},
		{"Retry-After wins over the schedule", 1, notify.Outcome{Result: notify.Retry, RetryAfter: 90 * time.Second},
			store.StatusRetrying, [2]time.Duration{90 * time.Second, 90 * time.Second}, "", 0},
		{"Retry-After capped", 1, notify.Outcome{Result: notify.Retry, RetryAfter: time.Hour},
			store.StatusRetrying, [2]time.Duration{5 * time.Minute, 5 * time.Minute}, "", 0},
		{"retryable, attempts used up: gave up", 3, notify.Outcome{Result: notify.Retry, Reason: "status 503"},
			store.StatusFailed, [2]time.Duration{}, "gave up after 3 attempts: status 503", 0},
		{"one attempt allowed", 1, notify.Outcome{Result: notify.Retry, Reason: "timeout"},
			store.StatusFailed, [2]time.Duration{}, "gave up after 1 attempts: timeout", 1},
		{"permanent failure at once", 1, notify.Outcome{Result: notify.Fail, Reason: "status 400"},
			store.StatusFailed, [2]time.Duration{}, "status 400", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rt
			if c.maxAttempt > 0 {
				r.MaxAttempts = c.maxAttempt
			}
			s := nextState(r, c.n, c.out, 503, at)
			if s.Status != c.status || s.Attempts != c.n || s.LastStatusCode != 503 {
				t.Fatalf("state %+v, want status %s after %d attempts", s, c.status, c.n)
			}
			if !strings.HasPrefix(s.LastError, c.errPrefix) {
				t.Fatalf("last error %q, want %q", s.LastError, c.errPrefix)
			}
			if c.status != store.StatusRetrying {
				if !s.NextAttemptAt.IsZero() || !s.DueAt.IsZero() {
					t.Fatalf("a final state is scheduled: %+v", s)
				}
				return
			}
			d := s.NextAttemptAt.Sub(at)
			if d < c.delay[0] || d > c.delay[1] || !s.DueAt.Equal(s.NextAttemptAt) {
				t.Fatalf("next attempt in %s (due %s), want within %v", d, s.DueAt, c.delay)
			}
		})
	}
}

func TestLaneShape(t *testing.T) {
	lease := 16 * time.Second // an attempt may start in the first 12 s
	cases := []struct {
		name      string
		perSecond float64
		want      shape
	}{
		{"unlimited: the webhook's concurrency and the whole queue", 0, shape{workers: 8, queue: 10000}},
		{"1/s (Slack): one worker, what fits in half the usable lease", 1, shape{workers: 1, queue: 6}},
		{"2.5/s: workers rounded up", 2.5, shape{workers: 3, queue: 15}},
		{"0.1/s: at least one queued", 0.1, shape{workers: 1, queue: 1}},
		{"high rate: capped by concurrency and queue", 1e6, shape{workers: 8, queue: 10000}},
	}
	for _, c := range cases {
		if got := laneShape(c.perSecond, 8, 10000, lease); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestDrainTime(t *testing.T) {
	cases := []struct {
		queued    int
		perSecond float64
		want      time.Duration
	}{
		{100, 0, time.Second},
		{0, 1, time.Second},
		{30, 1, 30 * time.Second},
		{30, 10, 3 * time.Second},
		{1e6, 1, 5 * time.Minute},
	}
	for _, c := range cases {
		if got := drainTime(c.queued, c.perSecond); got != c.want {
			t.Errorf("drainTime(%d, %g) = %s, want %s", c.queued, c.perSecond, got, c.want)
		}
	}
}

func TestLeaseMaths(t *testing.T) {
	cases := []struct {
		lease, renew time.Duration
	}{
		{3 * time.Second, 500 * time.Millisecond},
		{2 * time.Minute, 20 * time.Second},
		{500 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, c := range cases {
		if got := RenewEvery(c.lease); got != c.renew {
			t.Errorf("RenewEvery(%s) = %s, want %s", c.lease, got, c.renew)
		}
	}
	// A live replica's attempts survive two late renewals: after the latest renewal, three
	// renewal periods still leave more than the guard.
	for _, lease := range []time.Duration{time.Second, 3 * time.Second, 16 * time.Second, time.Minute} {
		if left := lease - 3*RenewEvery(lease); left <= Guard(lease) {
			t.Errorf("lease %s: %s left after three renewal periods, not more than the guard %s", lease, left, Guard(lease))
		}
	}
	// The minimum lease of an unrenewed attempt covers the attempt and the margin.
	for _, timeout := range []time.Duration{time.Second, 10 * time.Second, time.Minute} {
		if lease := MinLease(timeout); lease < timeout+LeaseMargin {
			t.Errorf("MinLease(%s) = %s, less than the attempt and the margin", timeout, lease)
		}
	}
}

func TestSchedule(t *testing.T) {
	s, err := ParseSchedule("5s, 5m,30m")
	if err != nil || len(s) != 3 || s[1] != 5*time.Minute || s.DefaultAttempts() != 4 {
		t.Fatalf("ParseSchedule = %v, %v", s, err)
	}
	for _, bad := range []string{"", "5s,,1m", "-5s", "0s", "soon"} {
		if _, err := ParseSchedule(bad); err == nil || !strings.Contains(err.Error(), "TASKHOOK_RETRY_SCHEDULE") {
			t.Errorf("ParseSchedule(%q) = %v, want an error naming the variable", bad, err)
		}
	}
	// The last delay repeats for attempts past the schedule; jitter stays within ±20%.
	for n := 1; n <= 10; n++ {
		base := s[min(n-1, len(s)-1)]
		for range 50 {
			d := s.Delay(n, 0, time.Hour)
			if d < time.Duration(float64(base)*(1-Jitter)) || d > time.Duration(float64(base)*(1+Jitter)) {
				t.Fatalf("Delay(%d) = %s, outside ±20%% of %s", n, d, base)
			}
		}
	}
}
