package subscription

import (
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
)

// Health states.
const (
	Green    = "green"    // recent attempts succeed
	Yellow   = "yellow"   // some failures in the last 24 hours, retries pending, or a short failure streak
	Red      = "red"      // consecutive failures at or above the threshold
	Disabled = "disabled" // inactive (by an admin, after 410, or after failing too long)
)

// Health is a webhook's health as the API shows it.
type Health struct {
	State               string     `json:"state"`
	SuccessRate24h      *float64   `json:"success_rate_24h"` // null without attempts in 24 hours
	LastDeliveryAt      *time.Time `json:"last_delivery_at"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	FailingSince        *time.Time `json:"failing_since,omitempty"`
	// Hint says what needs the owner's attention besides failures (a filter that fails on
	// events: FilterErrors.Hint); empty when nothing.
	Hint string `json:"hint,omitempty"`
}

// HealthOf derives the health from the maintained counters; retrying says whether deliveries
// wait for a retry; redAfter is the number of consecutive failures that makes a webhook red.
func HealthOf(active bool, h store.Health, retrying bool, redAfter int) Health {
	out := Health{ConsecutiveFailures: h.ConsecutiveFailures}
	if total := h.Succeeded24h + h.Failed24h; total > 0 {
		r := float64(h.Succeeded24h) / float64(total)
		out.SuccessRate24h = &r
	}
	if h.LastDeliveryAt.Valid {
		t := h.LastDeliveryAt.Time
		out.LastDeliveryAt = &t
	}
	if h.FailingSince.Valid && h.ConsecutiveFailures > 0 {
		t := h.FailingSince.Time
		out.FailingSince = &t
	}
	switch {
	case !active:
		out.State = Disabled
	case h.ConsecutiveFailures >= redAfter:
		out.State = Red
	case h.ConsecutiveFailures > 0 || h.Failed24h > 0 || retrying:
		out.State = Yellow
	default:
		out.State = Green
	}
	return out
}
