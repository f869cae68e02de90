package quiet

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/families"
)

func TestState(t *testing.T) {
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	end := start.Add(2 * time.Hour)
	paris, _ := time.LoadLocation("Europe/Paris")
	cases := []struct {
		name string
		now  time.Time
		want string
	}{
		{"a second before the start", start.Add(-time.Second), StatePending},
		{"a nanosecond before the start", start.Add(-1), StatePending},
		{"at the start (inclusive)", start, StateActive},
		{"the start seen from another zone", start.In(paris), StateActive},
		{"in the middle", start.Add(time.Hour), StateActive},
		{"a nanosecond before the end", end.Add(-1), StateActive},
		{"at the end (exclusive)", end, StateExpired},
		{"the end seen from another zone", end.In(paris), StateExpired},
		{"long after", end.Add(24 * time.Hour), StateExpired},
	}
	for _, c := range cases {
		if got := State(start, end, c.now); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	// Ended before it started: ends_at is then before starts_at, and it is expired.
	if got := State(start, start.Add(-time.Hour), start.Add(-30*time.Minute)); got != StateExpired {
		t.Errorf("ended before its start: %s", got)
	}
}

func rules(t testing.TB) Rules {
	t.Helper()
	f, err := subscription.NewFilters()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	return Rules{Filters: f, Catalog: cat, Max: 168 * time.Hour}
}

func ptr(s string) *string { return &s }

func TestCheck(t *testing.T) {
	r := rules(t)
	now := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	ok := func() Input {
		return Input{Matcher: ptr(`event.device.id == "D-991"`), EndsAt: ptr("2026-12-03T16:00:00Z"), Reason: ptr("firmware update in clinic")}
	}
	cases := []struct {
		name    string
		change  func(*Input)
		pointer string // "" : valid
		starts  string // when valid, the starts_at expected (RFC 3339)
		ends    string
	}{
		{"defaults: starts now", func(*Input) {}, "", "2026-12-03T14:00:00Z", "2026-12-03T16:00:00Z"},
		{"offsets: 15:00+01:00 is 14:00Z", func(in *Input) {
			in.StartsAt, in.EndsAt = ptr("2026-12-03T15:30:00+01:00"), ptr("2026-12-03T10:00:00-05:00")
		},
			"", "2026-12-03T14:30:00Z", "2026-12-03T15:00:00Z"},
		{"exactly the maximum", func(in *Input) { in.EndsAt = ptr("2026-12-10T14:00:00Z") }, "", "2026-12-03T14:00:00Z", "2026-12-10T14:00:00Z"},
		{"a second beyond the maximum", func(in *Input) { in.EndsAt = ptr("2026-12-10T14:00:01Z") }, "/ends_at", "", ""},
		{"the maximum counts from starts_at", func(in *Input) { in.StartsAt, in.EndsAt = ptr("2026-12-04T14:00:00Z"), ptr("2026-12-11T14:00:00Z") },
			"", "2026-12-04T14:00:00Z", "2026-12-11T14:00:00Z"},
		{"end equal to the start", func(in *Input) {
			in.StartsAt, in.EndsAt = ptr("2026-12-03T15:00:00Z"), ptr("2026-12-03T16:00:00+01:00")
		}, "/ends_at", "", ""},
		{"end before the start across zones", func(in *Input) {
			in.StartsAt, in.EndsAt = ptr("2026-12-03T15:00:00Z"), ptr("2026-12-03T15:30:00+01:00")
		}, "/ends_at", "", ""},
		{"end in the past", func(in *Input) { in.StartsAt, in.EndsAt = ptr("2026-12-03T12:00:00Z"), ptr("2026-12-03T13:59:59Z") }, "/ends_at", "", ""},
		{"end now", func(in *Input) { in.StartsAt, in.EndsAt = ptr("2026-12-03T12:00:00Z"), ptr("2026-12-03T14:00:00Z") }, "/ends_at", "", ""},
		{"started earlier, ends later", func(in *Input) { in.StartsAt = ptr("2026-12-03T12:00:00Z") }, "", "2026-12-03T12:00:00Z", "2026-12-03T16:00:00Z"},
		{"no offset", func(in *Input) { in.EndsAt = ptr("2026-12-03T16:00:00") }, "/ends_at", "", ""},
		{"bad starts_at", func(in *Input) { in.StartsAt = ptr("now") }, "/starts_at", "", ""},
		{"no ends_at", func(in *Input) { in.EndsAt = nil }, "/ends_at", "", ""},
		{"no matcher", func(in *Input) { in.Matcher = nil }, "/matcher", "", ""},
		{"matcher not boolean", func(in *Input) { in.Matcher = ptr(`event.device.id`) }, "/matcher", "", ""},
		{"matcher an int", func(in *Input) { in.Matcher = ptr(`1 + 1`) }, "/matcher", "", ""},
		{"matcher does not parse", func(in *Input) { in.Matcher = ptr(`event.device.id ==`) }, "/matcher", "", ""},
		{"matcher too long", func(in *Input) { in.Matcher = ptr(strings.Repeat("true && ", 600) + "true") }, "/matcher", "", ""},
		{"reason of two characters", func(in *Input) { in.Reason = ptr("ok") }, "/reason", "", ""},
		{"reason of three characters", func(in *Input) { in.Reason = ptr("fix") }, "", "2026-12-03T14:00:00Z", "2026-12-03T16:00:00Z"},
		{"reason of three multibyte characters", func(in *Input) { in.Reason = ptr("été") }, "", "2026-12-03T14:00:00Z", "2026-12-03T16:00:00Z"},
		{"reason padded with spaces", func(in *Input) { in.Reason = ptr("  a ") }, "/reason", "", ""},
		{"webhook id not a UUID", func(in *Input) { in.WebhookIDs = []string{"x"} }, "/webhook_ids/0", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := ok()
			c.change(&in)
			s, ps := r.Check(in, now)
			if c.pointer != "" {
				for _, p := range ps {
					if p.Path == c.pointer {
						return
					}
				}
				t.Fatalf("want a problem at %s, got %+v", c.pointer, ps)
			}
			if len(ps) > 0 {
				t.Fatalf("problems: %+v", ps)
			}
			if got := s.StartsAt.UTC().Format(time.RFC3339); got != c.starts {
				t.Fatalf("starts_at %s, want %s", got, c.starts)
			}
			if got := s.EndsAt.UTC().Format(time.RFC3339); got != c.ends {
				t.Fatalf("ends_at %s, want %s", got, c.ends)
			}
		})
	}
}

func TestUnknownWebhooks(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	ps := UnknownWebhooks(Input{WebhookIDs: []string{a.String(), "bad", b.String()}}, map[uuid.UUID]bool{a: true})
	if len(ps) != 1 || ps[0].Path != "/webhook_ids/2" {
		t.Fatalf("%+v", ps)
	}
}

// loader is a fixed set of silences (the Set's database, for its pure tests; the real database
// is exercised through the dispatcher's tests).
type loader struct {
	rows []store.Silence
	gen  int64
}

func (l *loader) LoadSilences(context.Context) ([]store.Silence, int64, error) {
	return l.rows, l.gen, nil
}
func (l *loader) SilenceGeneration(context.Context) (int64, error) { return l.gen, nil }

func eventDoc(t testing.TB, s string) func() map[string]any {
	var ev map[string]any
	if err := json.Unmarshal([]byte(s), &ev); err != nil {
		t.Fatal(err)
	}
	return func() map[string]any { return ev }
}

func TestSetMatch(t *testing.T) {
	r := rules(t)
	now := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	wa, wb := uuid.New(), uuid.New()
	all, onlyA, later := uuid.New(), uuid.New(), uuid.New()
	l := &loader{gen: 1, rows: []store.Silence{
		{ID: onlyA, Matcher: `event.device.id == "D-991"`, WebhookIDs: []string{wa.String()}, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour)},
		{ID: all, Matcher: `type == "battery.critical" && event.device.id == "D-1"`, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour)},
		{ID: later, Matcher: `true`, StartsAt: now.Add(time.Hour), EndsAt: now.Add(2 * time.Hour)},
	}}
	s := NewSet(l, r.Filters, zap.NewNop())
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	d991, d1 := eventDoc(t, `{"device":{"id":"D-991"}}`), eventDoc(t, `{"device":{"id":"D-1"}}`)
	cases := []struct {
		name    string
		now     time.Time
		webhook uuid.UUID
		typ     string
		doc     func() map[string]any
		want    uuid.UUID
	}{
		{"the device at the named webhook", now, wa, "battery.low", d991, onlyA},
		{"the device at another webhook", now, wb, "battery.low", d991, uuid.Nil},
		{"another device", now, wa, "battery.low", d1, uuid.Nil},
		{"all webhooks, matching type", now, wb, "battery.critical", d1, all},
		{"all webhooks, other type", now, wb, "battery.low", d1, uuid.Nil},
		{"the pending one starts", now.Add(time.Hour), wb, "battery.low", d1, later},
		{"after every end", now.Add(3 * time.Hour), wa, "battery.low", d991, uuid.Nil},
		{"undecodable event", now, wa, "battery.low", func() map[string]any { return nil }, uuid.Nil},
	}
	for _, c := range cases {
		if got := s.Match(c.now, c.webhook, c.typ, c.doc); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// Ending one early (a new generation with its ends_at moved) applies at once.
	l.rows[0].EndsAt, l.gen = now, 2
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.Match(now, wa, "battery.low", d991); got != uuid.Nil {
		t.Fatalf("ended silence still matches: %v", got)
	}
	// With no silence the event is never decoded.
	empty := NewSet(&loader{gen: 3}, r.Filters, zap.NewNop())
	_ = empty.Refresh(context.Background())
	if got := empty.Match(now, wa, "battery.low", func() map[string]any { t.Fatal("decoded"); return nil }); got != uuid.Nil {
		t.Fatal(got)
	}
}

func TestSimilar(t *testing.T) {
	r := rules(t)
	cases := []struct {
		name, typ, body, matcher, subject string
	}{
		{"a device's battery", "battery.low", `{"device":{"id":"D-991"},"patient":{"id":"P-1"}}`,
			`type == "battery.low" && event.device.id == "D-991"`, "device D-991"},
		{"a task", "task.updated", `{"task_id":"T-7","patient":{"id":"P-1"}}`, `type == "task.updated" && event.task_id == "T-7"`, "task T-7"},
		{"a report with a patient only", "report.final", `{"report_id":"R-1","patient":{"id":"P-1"}}`,
			`type == "report.final" && event.patient.id == "P-1"`, "patient P-1"},
		{"a report without a patient", "report.final", `{"report_id":"R-1","patient":null}`, `type == "report.final" && event.report_id == "R-1"`, "report R-1"},
		{"quotes are escaped", "battery.low", `{"device":{"id":"D\"1\\"}}`, `type == "battery.low" && event.device.id == "D\"1\\"`, `device D"1\`},
		{"no subject", "webhook.disabled", `{"webhook_id":"x"}`, `type == "webhook.disabled"`, ""},
	}
	for _, c := range cases {
		var ev map[string]any
		if err := json.Unmarshal([]byte(c.body), &ev); err != nil {
			t.Fatal(err)
		}
		m, s := Similar(c.typ, ev)
		if m != c.matcher || s != c.subject {
			t.Errorf("%s: %q %q", c.name, m, s)
			continue
		}
		flt, err := r.Filters.Compile(m)
		if err != nil || !flt.Match(c.typ, ev) {
			t.Errorf("%s: the matcher does not compile or does not match its own event: %v", c.name, err)
		}
	}
}
