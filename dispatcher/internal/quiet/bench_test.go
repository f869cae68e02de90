package quiet

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
)

// BenchmarkMatch measures what the fan-out pays per delivery for silences (go test -bench
// Match ./dispatcher/internal/quiet/; not part of make test). "none" is the case of almost
// every delivery: no silence loaded. For scale, "decode" is the JSON decoding a filter or an
// evaluated matcher needs once per event.
func BenchmarkMatch(b *testing.B) {
	r := rules(b)
	now := time.Now()
	raw := []byte(`{"type":"battery.low","event_id":"e-1","device":{"id":"D-7","kind":"pacemaker"},"battery":{"percent":12}}`)
	var ev map[string]any
	_ = json.Unmarshal(raw, &ev)
	doc := func() map[string]any { return ev }
	wh := uuid.New()
	set := func(rows ...store.Silence) *Set {
		s := NewSet(&loader{gen: 1, rows: rows}, r.Filters, zap.NewNop())
		if err := s.Refresh(context.Background()); err != nil {
			b.Fatal(err)
		}
		return s
	}
	run := func(name string, s *Set) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if s.Match(now, wh, "battery.low", doc) != uuid.Nil {
					b.Fatal("matched")
				}
			}
		})
	}
	run("none", set())
	run("pending_only", set(store.Silence{ID: uuid.New(), Matcher: `true`, StartsAt: now.Add(time.Hour), EndsAt: now.Add(2 * time.Hour)}))
	run("active_other_webhook", set(store.Silence{ID: uuid.New(), Matcher: `true`, WebhookIDs: []string{uuid.NewString()},
		StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour)}))
	run("active_evaluated", set(store.Silence{ID: uuid.New(), Matcher: `event.device.id == "D-991"`, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour)}))
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
		}
	})
}
