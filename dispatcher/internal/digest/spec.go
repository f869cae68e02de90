// Package digest collects a webhook's matching events and sends them as one message per window
// instead of one per event: Spec (a webhook's setting and its validation), the window rules
// (when a window closes, including a daily time in the webhook's zone across daylight saving
// time), the message document and its chat summary (Doc), and the flusher that turns closed
// windows into deliveries, exactly once across replicas (Flusher).
package digest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Type is the event_type of a digest's deliveries and the "type" of its message.
const Type = "digest"

// Bounds of a window digest.
const (
	MinWindow = 5 * time.Second
	MaxWindow = 24 * time.Hour
)

// Spec is a webhook's digest: {"window": "15m"} (the first matching event opens a window; at
// its end one message carries every event of it) or {"daily_at": "08:00"} (one message a day
// at that time in the webhook's zone; none on a day without events unless send_empty).
type Spec struct {
	Window    Duration `json:"window,omitempty"`
	DailyAt   string   `json:"daily_at,omitempty"`
	SendEmpty bool     `json:"send_empty,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("15m").
type Duration time.Duration

// MarshalJSON writes "15m0s"-style strings.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "15m"; anything else (a number, "soon") is an error naming the form.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("must be a duration string such as \"15m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("must be a duration string such as \"15m\", got %q", s)
	}
	*d = Duration(v)
	return nil
}

// Problem is one validation failure located by a JSON pointer (into the webhook body).
type Problem struct{ Path, Message string }

// Check validates s as part of a webhook body (pointers under /digest).
func (s *Spec) Check() []Problem {
	var ps []Problem
	switch {
	case s.Window != 0 && s.DailyAt != "":
		ps = append(ps, Problem{"/digest", "set either window or daily_at, not both"})
	case s.Window == 0 && s.DailyAt == "":
		ps = append(ps, Problem{"/digest", `needs window (e.g. {"window": "15m"}) or daily_at (e.g. {"daily_at": "08:00"}); null turns digests off`})
	case s.Window != 0:
		if w := time.Duration(s.Window); w < MinWindow || w > MaxWindow {
			ps = append(ps, Problem{"/digest/window", fmt.Sprintf("must be between %s and %s, got %s", MinWindow, "24h", w)})
		}
		if s.SendEmpty {
			ps = append(ps, Problem{"/digest/send_empty", "applies only with daily_at (a window opens with its first event)"})
		}
	default:
		if _, _, err := ParseClock(s.DailyAt); err != nil {
			ps = append(ps, Problem{"/digest/daily_at", err.Error()})
		}
	}
	return ps
}

// ParseClock reads "HH:MM" (24-hour).
func ParseClock(s string) (hour, minute int, err error) {
	h, m, ok := strings.Cut(s, ":")
	bad := fmt.Errorf("must be a time of day as HH:MM (24-hour, e.g. \"08:00\"), got %q", s)
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, 0, bad
	}
	if hour, err = strconv.Atoi(h); err != nil || hour < 0 || hour > 23 {
		return 0, 0, bad
	}
	if minute, err = strconv.Atoi(m); err != nil || minute < 0 || minute > 59 {
		return 0, 0, bad
	}
	return hour, minute, nil
}

// Daily reports whether s sends once a day.
func (s *Spec) Daily() bool { return s.DailyAt != "" }

// Closes is when a window opened at opened closes: opened plus the window, or the next daily
// time (see NextDaily) after opened in loc.
func (s *Spec) Closes(opened time.Time, loc *time.Location) time.Time {
	if !s.Daily() {
		return opened.Add(time.Duration(s.Window))
	}
	h, m, _ := ParseClock(s.DailyAt)
	return NextDaily(opened, h, m, loc)
}

// NextDaily is the first hour:minute in loc strictly after t. On a day when that clock time
// does not exist (skipped by a daylight saving change) it is the instant the clock jumped to
// (02:30 becomes 03:30); when it exists twice, the first.
func NextDaily(t time.Time, hour, minute int, loc *time.Location) time.Time {
	lt := t.In(loc)
	for d := 0; d < 3; d++ {
		c := time.Date(lt.Year(), lt.Month(), lt.Day()+d, hour, minute, 0, 0, loc)
		if gap := (hour*60 + minute) - (c.Hour()*60 + c.Minute()); gap > 0 {
			c = c.Add(time.Duration(gap) * time.Minute) // Go chose the clock time before the jump
		}
		if c.After(t) {
			return c
		}
	}
	return t.Add(24 * time.Hour) // unreachable: one of three consecutive days is after t
}

// ItemAAD binds a collected event's sealed payload to its webhook and event.
func ItemAAD(webhook uuid.UUID, eventID string) []byte {
	return []byte("digest-item:" + webhook.String() + ":" + eventID)
}
