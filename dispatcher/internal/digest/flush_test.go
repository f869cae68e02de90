package digest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
)

type hooks map[uuid.UUID]Target

func (h hooks) Refresh(context.Context) error { return nil }
func (h hooks) Digest(id uuid.UUID) (Target, bool) {
	t, ok := h[id]
	return t, ok
}

// window is a WindowReader over items in memory; it records what was written and the most
// payload bytes one read returned.
type memWindow struct {
	items   []store.WaitingItem
	events  []store.Event
	deliv   []store.NewDelivery
	marked  map[int64]uuid.UUID
	maxRead int
}

func (w *memWindow) Waiting() ([]store.WaitingSize, error) {
	out := make([]store.WaitingSize, len(w.items))
	for i, it := range w.items {
		out[i] = store.WaitingSize{Seq: it.Seq, EventType: it.EventType, Size: len(it.Payload)}
	}
	return out, nil
}

func (w *memWindow) Items(first, last int64) ([]store.WaitingItem, error) {
	var out []store.WaitingItem
	n := 0
	for _, it := range w.items {
		if it.Seq >= first && it.Seq <= last {
			out = append(out, it)
			n += len(it.Payload)
		}
	}
	w.maxRead = max(w.maxRead, n)
	return out, nil
}

func (w *memWindow) Write(ev store.Event, d store.NewDelivery, first, last int64) error {
	w.events, w.deliv = append(w.events, ev), append(w.deliv, d)
	if w.marked == nil {
		w.marked = map[int64]uuid.UUID{}
	}
	for _, it := range w.items {
		if it.Seq >= first && it.Seq <= last {
			if _, dup := w.marked[it.Seq]; dup {
				return fmt.Errorf("item %d sent twice", it.Seq)
			}
			w.marked[it.Seq] = d.ID
		}
	}
	return nil
}

// TestBuildWindow: what a closed window becomes, with an injected clock.
func TestBuildWindow(t *testing.T) {
	box, err := secretbox.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	daily := &Spec{DailyAt: "08:00", SendEmpty: true}
	window, gone := uuid.New(), uuid.New()
	dailyHook, dailyQuiet, chat := uuid.New(), uuid.New(), uuid.New()
	f := &Flusher{Box: box, EventAAD: func(id string) []byte { return []byte("event:" + id) }, Log: zap.NewNop(),
		Webhooks: hooks{
			window:     {Spec: &Spec{Window: Duration(15 * time.Minute)}, Location: time.UTC},
			dailyHook:  {Spec: daily, Location: ny},
			dailyQuiet: {Spec: &Spec{DailyAt: "08:00"}, Location: ny},
			chat:       {Spec: &Spec{Window: Duration(time.Hour)}, Location: time.UTC, Preview: ChatItems},
		}}
	// 08:00 in New York on the day daylight saving time begins (2026-03-08), just flushed.
	closes := time.Date(2026, 3, 8, 8, 0, 0, 0, ny)
	now := closes.Add(200 * time.Millisecond)
	waiting := func(webhook uuid.UUID, n int) []store.WaitingItem {
		out := make([]store.WaitingItem, n)
		for i := range out {
			id := uuid.NewString()
			out[i] = store.WaitingItem{EventID: id, EventType: "task.created", OccurredAt: closes.Add(-time.Minute),
				Payload: box.Seal([]byte(`{"event_id":"`+id+`"}`), ItemAAD(webhook, id)), Seq: int64(i + 1)}
		}
		return out
	}
	cases := []struct {
		name       string
		webhook    uuid.UUID
		items      int
		nilResult  bool
		deliveries int
		next       time.Time // zero: no next window
	}{
		{"a window's events", window, 200, false, 1, time.Time{}},
		{"over 1,000 events: split", window, 2500, false, 3, time.Time{}},
		{"chat: one message", chat, 2500, false, 1, time.Time{}},
		{"the webhook is gone: dropped", gone, 3, true, 0, time.Time{}},
		{"daily, empty day, send_empty: an empty digest and tomorrow's window", dailyHook, 0, false, 1,
			time.Date(2026, 3, 9, 8, 0, 0, 0, ny)},
		{"daily, a day with events", dailyHook, 5, false, 1, time.Date(2026, 3, 9, 8, 0, 0, 0, ny)},
		{"daily without send_empty, empty: nothing", dailyQuiet, 0, false, 0, time.Time{}},
	}
	for _, c := range cases {
		w := store.DigestWindow{WebhookID: c.webhook, OpenedAt: closes.Add(-time.Hour), ClosesAt: closes}
		win := &memWindow{items: waiting(c.webhook, c.items)}
		fl, _, err := f.build(w, win, now)
		if err != nil {
			t.Fatal(err)
		}
		if c.nilResult {
			if fl != nil {
				t.Errorf("%s: %+v", c.name, fl)
			}
			continue
		}
		if fl == nil || len(win.deliv) != c.deliveries || len(win.events) != c.deliveries || len(win.marked) != c.items {
			t.Fatalf("%s: %+v, %d deliveries, %d of %d items sent", c.name, fl, len(win.deliv), len(win.marked), c.items)
		}
		switch {
		case c.next.IsZero() && fl.Next != nil:
			t.Errorf("%s: next window %+v", c.name, fl.Next)
		case !c.next.IsZero() && (fl.Next == nil || !fl.Next.ClosesAt.Equal(c.next) || !fl.Next.OpenedAt.Equal(closes)):
			t.Errorf("%s: next window %+v, want one closing %s", c.name, fl.Next, c.next)
		}
		seen := map[uuid.UUID]bool{}
		for i, d := range win.deliv {
			if d.EventType != Type || d.Status != store.StatusPending || seen[d.ID] || d.EventID != win.events[i].ID {
				t.Fatalf("%s: delivery %+v", c.name, d)
			}
			seen[d.ID] = true
			// The same window always yields the same ids: one message per window.
			again := &memWindow{items: waiting(c.webhook, c.items)}
			if _, _, err := f.build(w, again, now.Add(time.Minute)); err != nil || again.deliv[i].ID != d.ID {
				t.Fatalf("%s: ids differ between two flushes of one window", c.name)
			}
			if _, err := box.Open(win.events[i].Payload, f.EventAAD(d.EventID)); err != nil {
				t.Fatalf("%s: digest payload: %v", c.name, err)
			}
		}
		if c.deliveries > 0 && fl.DigestID != win.deliv[0].ID {
			t.Errorf("%s: digest id %s", c.name, fl.DigestID)
		}
	}
}

// TestWindowSplitByBytes: a window of large events becomes parts of at most MaxBytes of body
// each (and of at most MaxPerMessage events), every event in exactly one part, in order; the
// flush never reads more than one part's payloads at once.
func TestWindowSplitByBytes(t *testing.T) {
	box, err := secretbox.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	hook := uuid.New()
	const maxBytes = 256 << 10
	f := &Flusher{Box: box, EventAAD: func(id string) []byte { return []byte("event:" + id) }, Log: zap.NewNop(), MaxBytes: maxBytes,
		Webhooks: hooks{hook: {Spec: &Spec{Window: Duration(15 * time.Minute)}, Location: time.UTC}}}
	closes := time.Date(2026, 3, 8, 8, 0, 0, 0, time.UTC)
	w := store.DigestWindow{WebhookID: hook, OpenedAt: closes.Add(-15 * time.Minute), ClosesAt: closes}
	var items []store.WaitingItem
	for i := range 105 {
		id := fmt.Sprintf("e%03d", i)
		// ~9.5 KB of '<' each (json.Marshal would write six bytes for each), one of 300 KB.
		n := 9500
		if i == 50 {
			n = 300 << 10
		}
		raw := []byte(`{"event_id":"` + id + `","note":"` + strings.Repeat("<", n) + `"}`)
		items = append(items, store.WaitingItem{EventID: id, EventType: "battery.low", OccurredAt: closes.Add(-time.Minute),
			Payload: box.Seal(raw, ItemAAD(hook, id)), Seq: int64(i + 1)})
	}
	win := &memWindow{items: items}
	_, parts, err := f.build(w, win, closes)
	if err != nil {
		t.Fatal(err)
	}
	if parts < 4 || parts != len(win.events) || len(win.marked) != len(items) {
		t.Fatalf("%d parts, %d events, %d items sent", parts, len(win.events), len(win.marked))
	}
	next := 0
	for i, ev := range win.events {
		raw, err := box.Open(ev.Payload, f.EventAAD(ev.ID))
		if err != nil {
			t.Fatal(err)
		}
		var d Doc
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		single := d.Count == 1 && strings.Contains(string(d.Events[0].Data), "e050")
		if len(raw) > maxBytes && !single {
			t.Errorf("part %d: %d bytes", i+1, len(raw))
		}
		if d.Part != i+1 || d.Parts != parts || d.Total != len(items) || d.Count != len(d.Events) {
			t.Errorf("part %d: %d/%d, count %d, total %d", i+1, d.Part, d.Parts, d.Count, d.Total)
		}
		for _, e := range d.Events {
			if want := fmt.Sprintf(`"e%03d"`, next); !strings.Contains(string(e.Data), want) {
				t.Fatalf("part %d: out of order, want %s", i+1, want)
			}
			next++
		}
	}
	if win.maxRead > maxBytes+(300<<10) {
		t.Errorf("one read held %d bytes", win.maxRead)
	}
}

func TestPlan(t *testing.T) {
	sized := func(sizes ...int) []Sized {
		out := make([]Sized, len(sizes))
		for i, n := range sizes {
			out[i] = Sized{Type: "t", Size: n - itemOverhead - 1}
		}
		return out
	}
	cases := []struct {
		name  string
		items []Sized
		per   int
		want  []Page
	}{
		{"empty", nil, 10, []Page{{0, 0}}},
		{"fits", sized(100, 100, 100), 10, []Page{{0, 3}}},
		{"by bytes", sized(400, 400, 400), 10, []Page{{0, 2}, {2, 3}}},
		{"by count", sized(10, 10, 10, 10, 10), 2, []Page{{0, 2}, {2, 4}, {4, 5}}},
		{"an item alone over the limit", sized(100, 5000, 100), 10, []Page{{0, 1}, {1, 2}, {2, 3}}},
		{"exactly the limit", sized(450, 450), 10, []Page{{0, 2}}},
	}
	for _, c := range cases {
		got := Plan(c.items, 100, c.per, 1000)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
