package subscription

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// FilterErrorKind classifies an evaluation error of a filter: "" for what the filter's
// documented semantics make false (a field the event lacks, a null in the path, a type
// mismatch), else the kind of a failure that drops the event: "cost limit", "division by
// zero", "overflow", "conversion" or "error". The kind never quotes the event (CEL's own
// messages may: invalid RFC 3339 timestamp "…").
func FilterErrorKind(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	for _, silent := range []string{"no such key", "no such attribute", "no such field", "no such overload", "no matching overload"} {
		if strings.Contains(msg, silent) {
			return ""
		}
	}
	switch {
	case OverCost(err):
		return "cost limit"
	case strings.Contains(msg, "by zero"):
		return "division by zero"
	case strings.Contains(msg, "overflow"):
		return "overflow"
	case strings.Contains(msg, "conversion"), strings.Contains(msg, "invalid"):
		return "conversion"
	}
	return "error"
}

// FilterErrorWindow is how long a webhook's filter errors are remembered for its health hint.
const FilterErrorWindow = 24 * time.Hour

// FilterErrors remembers, per webhook, the filter errors this replica met (for the health hint
// of GET /v1/webhooks/{id}); safe for concurrent use.
type FilterErrors struct {
	mu sync.Mutex
	m  map[uuid.UUID]*filterErrorStat
}

type filterErrorStat struct {
	count       int
	kind        string
	first, last time.Time
	logged      time.Time
}

// NewFilterErrors returns an empty record.
func NewFilterErrors() *FilterErrors { return &FilterErrors{m: map[uuid.UUID]*filterErrorStat{}} }

// Record counts one error of kind for webhook at now; it says whether to log it (the first of
// a minute per webhook, so that a filter failing on every event does not flood the log).
func (f *FilterErrors) Record(webhook uuid.UUID, kind string, now time.Time) (log bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.m[webhook]
	if s == nil || now.Sub(s.last) > FilterErrorWindow {
		s = &filterErrorStat{first: now}
		f.m[webhook] = s
	}
	s.count, s.kind, s.last = s.count+1, kind, now
	if now.Sub(s.logged) >= time.Minute {
		s.logged = now
		return true
	}
	return false
}

// Hint is the health hint of webhook: empty without filter errors in FilterErrorWindow.
func (f *FilterErrors) Hint(webhook uuid.UUID, now time.Time) string {
	if f == nil {
		return ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.m[webhook]
	if s == nil || now.Sub(s.last) > FilterErrorWindow {
		return ""
	}
	return fmt.Sprintf("the filter failed (%s) %d times since %s on this replica; those events were not delivered: fix the filter",
		s.kind, s.count, s.first.UTC().Format(time.RFC3339))
}
