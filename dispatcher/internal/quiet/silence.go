// Package quiet holds the quiet rules that are not part of a webhook: silences. A silence is a
// CEL matcher over the event (as webhook filters), optionally limited to some webhooks, active
// from starts_at (inclusive) to ends_at (exclusive), with a required reason. Deliveries it
// matches are recorded as silenced, never attempted. This package validates silences (pure
// rules, table tested), compiles them once each, and keeps every replica's set in step with
// the database (Set).
package quiet

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/event"
)

// Silence states.
const (
	StatePending = "pending" // starts later
	StateActive  = "active"
	StateExpired = "expired" // ended (at its end or early)
)

// Bounds of a silence.
const (
	MinReason     = 3
	MaxReason     = 500
	MaxMatcherLen = subscription.MaxFilterLen
	MaxWebhookIDs = 100
	// DefaultMax is TASKHOOK_SILENCE_MAX's default: the longest silence.
	DefaultMax = 168 * time.Hour
)

// Silence is a stored silence.
type Silence struct {
	ID         uuid.UUID
	Matcher    string
	WebhookIDs []uuid.UUID // empty: every webhook
	StartsAt   time.Time
	EndsAt     time.Time
	Reason     string
	CreatedBy  string
	CreatedAt  time.Time
	EndedBy    string    // "" unless ended early
	EndedAt    time.Time // zero unless ended early
}

// State is the silence's state at now: expired from ends_at on (a silence ended before it
// started has an ends_at before its starts_at), else pending before starts_at, else active.
func State(starts, ends, now time.Time) string {
	switch {
	case !now.Before(ends):
		return StateExpired
	case now.Before(starts):
		return StatePending
	}
	return StateActive
}

// ValidState reports whether s names a state (for ?state=).
func ValidState(s string) bool {
	return s == StatePending || s == StateActive || s == StateExpired
}

// Input is the body of POST /v1/silences (pointers: absent fields are nil).
type Input struct {
	Matcher    *string  `json:"matcher"`
	WebhookIDs []string `json:"webhook_ids"`
	StartsAt   *string  `json:"starts_at"`
	EndsAt     *string  `json:"ends_at"`
	Reason     *string  `json:"reason"`
}

// Rules are what checking a silence needs besides its body.
type Rules struct {
	Filters *subscription.Filters
	Catalog *event.Catalog // the matcher must finish within its cost limit on every example
	Max     time.Duration  // TASKHOOK_SILENCE_MAX
}

// Check validates in at now and returns the silence it describes (ID, CreatedBy and CreatedAt
// left to the caller) or every problem found, each with the JSON pointer of its field. Whether
// the webhook ids exist is the caller's question (it needs the database): see UnknownWebhooks.
func (r Rules) Check(in Input, now time.Time) (*Silence, []subscription.Problem) {
	var ps []subscription.Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, subscription.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	s := &Silence{}
	switch {
	case in.Matcher == nil || strings.TrimSpace(*in.Matcher) == "":
		add("/matcher", `is required: a CEL expression over event and type, e.g. event.device.id == "D-991"`)
	case len(*in.Matcher) > MaxMatcherLen:
		add("/matcher", "must be at most %d characters", MaxMatcherLen)
	default:
		s.Matcher = *in.Matcher
		if flt, err := r.Filters.Compile(s.Matcher); err != nil {
			msg := oneLine(err.Error())
			if rest, ok := strings.CutPrefix(msg, "filter must"); ok {
				msg = "must" + rest
			} else {
				msg = "does not compile: " + msg
			}
			add("/matcher", "%s", msg)
		} else if typ, over := overCost(flt, r.Catalog); over {
			add("/matcher", "does not finish within the cost limit of %d on the example %s event (GET /v1/event-types): simplify it", subscription.CostLimit, typ)
		}
	}
	if len(in.WebhookIDs) > MaxWebhookIDs {
		add("/webhook_ids", "must name at most %d webhooks (omit it for every webhook)", MaxWebhookIDs)
	} else {
		seen := map[uuid.UUID]bool{}
		for i, raw := range in.WebhookIDs {
			id, err := uuid.Parse(raw)
			if err != nil {
				add(fmt.Sprintf("/webhook_ids/%d", i), "must be a webhook id (a UUID), got %q", raw)
				continue
			}
			if !seen[id] {
				seen[id] = true
				s.WebhookIDs = append(s.WebhookIDs, id)
			}
		}
	}
	s.StartsAt = now.Truncate(time.Microsecond) // as PostgreSQL stores it (it would round up)
	startsOK := true
	if in.StartsAt != nil {
		t, err := parseTime(*in.StartsAt)
		if err != nil {
			add("/starts_at", "%v", err)
			startsOK = false
		} else {
			s.StartsAt = t
		}
	}
	max := r.Max
	if max <= 0 {
		max = DefaultMax
	}
	switch {
	case in.EndsAt == nil || *in.EndsAt == "":
		add("/ends_at", "is required: an RFC 3339 time such as %s", now.Add(2*time.Hour).UTC().Format(time.RFC3339))
	default:
		t, err := parseTime(*in.EndsAt)
		switch {
		case err != nil:
			add("/ends_at", "%v", err)
		case !startsOK:
		case !t.After(s.StartsAt):
			add("/ends_at", "must be after starts_at (%s)", s.StartsAt.UTC().Format(time.RFC3339))
		case !t.After(now):
			add("/ends_at", "is in the past: a silence must end in the future")
		case t.Sub(s.StartsAt) > max:
			add("/ends_at", "makes the silence %s long; the longest allowed is %s (TASKHOOK_SILENCE_MAX)", t.Sub(s.StartsAt).Round(time.Second), max)
		default:
			s.EndsAt = t
		}
	}
	if in.Reason == nil {
		add("/reason", "is required: say why (at least %d characters), e.g. \"firmware update in clinic\"", MinReason)
	} else {
		reason := strings.TrimSpace(*in.Reason)
		n := utf8.RuneCountInString(reason)
		switch {
		case n < MinReason:
			add("/reason", "must be at least %d characters: say why", MinReason)
		case n > MaxReason:
			add("/reason", "must be at most %d characters", MaxReason)
		default:
			s.Reason = reason
		}
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return s, nil
}

// UnknownWebhooks are the problems of webhook ids that exist is false for.
func UnknownWebhooks(in Input, exists map[uuid.UUID]bool) []subscription.Problem {
	var ps []subscription.Problem
	for i, raw := range in.WebhookIDs {
		if id, err := uuid.Parse(raw); err == nil && !exists[id] {
			ps = append(ps, subscription.Problem{Path: fmt.Sprintf("/webhook_ids/%d", i), Message: fmt.Sprintf("no webhook with id %s", id)})
		}
	}
	return ps
}

// parseTime reads an RFC 3339 time; its offset is required (a time without one is ambiguous).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be an RFC 3339 time with an offset, such as 2026-12-03T14:00:00Z or 2026-12-03T15:00:00+01:00, got %q", s)
	}
	return t, nil
}

// overCost runs flt on the catalog's example of every type: a matcher that exceeds its cost
// limit there would silently match nothing.
func overCost(flt *subscription.Filter, cat *event.Catalog) (string, bool) {
	if cat == nil {
		return "", false
	}
	for _, t := range cat.Types() {
		var ev map[string]any
		if json.Unmarshal(t.Example, &ev) != nil {
			continue
		}
		if _, err := flt.Eval(t.Type, ev); subscription.OverCost(err) {
			return t.Type, true
		}
	}
	return "", false
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
