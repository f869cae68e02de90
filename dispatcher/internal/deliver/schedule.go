package deliver

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Schedule is the delay before each retry: Schedule[0] after the first attempt, and so on; the
// last delay repeats when a webhook allows more attempts than the schedule is long.
type Schedule []time.Duration

// ParseSchedule parses TASKHOOK_RETRY_SCHEDULE ("5s,5m,30m,...").
func ParseSchedule(s string) (Schedule, error) {
	var out Schedule
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		d, err := time.ParseDuration(part)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("TASKHOOK_RETRY_SCHEDULE: item %d (%q) is not a positive Go duration", i+1, part)
		}
		out = append(out, d)
	}
	return out, nil
}

// DefaultAttempts is the number of attempts the schedule implies: one plus one per delay.
func (s Schedule) DefaultAttempts() int { return len(s) + 1 }

// Jitter is the ±fraction applied to every scheduled delay, so that retries of a burst spread.
const Jitter = 0.2

// Delay returns the wait after attempt n (1-based) failed: the scheduled delay with ±20% jitter,
// or, when the receiver sent Retry-After, that delay capped at maxRetryAfter.
func (s Schedule) Delay(n int, retryAfter, maxRetryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, maxRetryAfter)
	}
	i := min(max(n-1, 0), len(s)-1)
	base := float64(s[i])
	return time.Duration(base * (1 - Jitter + 2*Jitter*rand.Float64()))
}
