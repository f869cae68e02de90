package digest

import (
	"context"
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
		fl := f.build(w, waiting(c.webhook, c.items), now)
		if c.nilResult {
			if fl != nil {
				t.Errorf("%s: %+v", c.name, fl)
			}
			continue
		}
		if fl == nil || len(fl.Deliveries) != c.deliveries || len(fl.Events) != c.deliveries {
			t.Fatalf("%s: %+v", c.name, fl)
		}
		switch {
		case c.next.IsZero() && fl.Next != nil:
			t.Errorf("%s: next window %+v", c.name, fl.Next)
		case !c.next.IsZero() && (fl.Next == nil || !fl.Next.ClosesAt.Equal(c.next) || !fl.Next.OpenedAt.Equal(closes)):
			t.Errorf("%s: next window %+v, want one closing %s", c.name, fl.Next, c.next)
		}
		seen := map[uuid.UUID]bool{}
		for i, d := range fl.Deliveries {
			if d.EventType != Type || d.Status != store.StatusPending || seen[d.ID] || d.EventID != fl.Events[i].ID {
				t.Fatalf("%s: delivery %+v", c.name, d)
			}
			seen[d.ID] = true
			// The same window always yields the same ids: one message per window.
			if again := f.build(w, waiting(c.webhook, c.items), now.Add(time.Minute)); again.Deliveries[i].ID != d.ID {
				t.Fatalf("%s: ids differ between two flushes of one window", c.name)
			}
			if _, err := box.Open(fl.Events[i].Payload, f.EventAAD(d.EventID)); err != nil {
				t.Fatalf("%s: digest payload: %v", c.name, err)
			}
		}
		if c.deliveries > 0 && fl.DigestID != fl.Deliveries[0].ID {
			t.Errorf("%s: digest id %s", c.name, fl.DigestID)
		}
	}
}
