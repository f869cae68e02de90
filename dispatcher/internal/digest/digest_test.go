package digest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/pkg/families"
)

func TestSpecCheck(t *testing.T) {
	cases := []struct {
		name string
		spec Spec
		path string // "" when valid
	}{
		{"window", Spec{Window: Duration(15 * time.Minute)}, ""},
		{"shortest window", Spec{Window: Duration(5 * time.Second)}, ""},
		{"longest window", Spec{Window: Duration(24 * time.Hour)}, ""},
		{"window too short", Spec{Window: Duration(4 * time.Second)}, "/digest/window"},
		{"window too long", Spec{Window: Duration(25 * time.Hour)}, "/digest/window"},
		{"daily", Spec{DailyAt: "08:00"}, ""},
		{"daily, send empty", Spec{DailyAt: "23:59", SendEmpty: true}, ""},
		{"daily at 24:00", Spec{DailyAt: "24:00"}, "/digest/daily_at"},
		{"daily without leading zero", Spec{DailyAt: "8:00"}, "/digest/daily_at"},
		{"daily with seconds", Spec{DailyAt: "08:00:00"}, "/digest/daily_at"},
		{"daily, minutes out of range", Spec{DailyAt: "08:60"}, "/digest/daily_at"},
		{"both", Spec{Window: Duration(time.Minute), DailyAt: "08:00"}, "/digest"},
		{"neither", Spec{}, "/digest"},
		{"send_empty with a window", Spec{Window: Duration(time.Minute), SendEmpty: true}, "/digest/send_empty"},
	}
	for _, c := range cases {
		ps := c.spec.Check()
		switch {
		case c.path == "" && len(ps) > 0:
			t.Errorf("%s: refused: %+v", c.name, ps)
		case c.path != "" && (len(ps) != 1 || ps[0].Path != c.path):
			t.Errorf("%s: problems %+v, want one at %s", c.name, ps, c.path)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	var s Spec
	if err := json.Unmarshal([]byte(`{"window":"15m"}`), &s); err != nil || time.Duration(s.Window) != 15*time.Minute {
		t.Fatalf("%+v %v", s, err)
	}
	b, _ := json.Marshal(s)
	if string(b) != `{"window":"15m0s"}` {
		t.Fatalf("marshal: %s", b)
	}
	for _, bad := range []string{`{"window":900}`, `{"window":"soon"}`} {
		if err := json.Unmarshal([]byte(bad), &s); err == nil || !strings.Contains(err.Error(), "duration string") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// TestNextDaily: the injected clock crosses days, months and daylight saving time.
func TestNextDaily(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(loc *time.Location, s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name         string
		loc          *time.Location
		now          string
		hour, minute int
		want         string // in loc
	}{
		{"later today", ny, "2026-06-01 07:00", 8, 0, "2026-06-01 08:00"},
		{"exactly at the time: tomorrow", ny, "2026-06-01 08:00", 8, 0, "2026-06-02 08:00"},
		{"past today: tomorrow", ny, "2026-06-01 09:30", 8, 0, "2026-06-02 08:00"},
		{"month end", ny, "2026-06-30 22:00", 8, 0, "2026-07-01 08:00"},
		{"spring forward: 08:00 exists", ny, "2026-03-07 09:00", 8, 0, "2026-03-08 08:00"},
		{"spring forward: 02:30 does not exist, clock jumped to 03:30", ny, "2026-03-07 09:00", 2, 30, "2026-03-08 03:30"},
		{"fall back: 08:00 after the change", berlin, "2026-10-24 09:00", 8, 0, "2026-10-25 08:00"},
	}
	for _, c := range cases {
		got := NextDaily(at(c.loc, c.now), c.hour, c.minute, c.loc)
		if want := at(c.loc, c.want); !got.Equal(want) {
			t.Errorf("%s: %s, want %s", c.name, got.In(c.loc), want)
		}
	}
	// Across the spring-forward day, consecutive daily times are 23 hours apart, once; never
	// twice on one day, never a day skipped.
	t0 := at(ny, "2026-03-06 08:00")
	var gaps []time.Duration
	for i := 0; i < 4; i++ {
		t1 := NextDaily(t0, 8, 0, ny)
		gaps = append(gaps, t1.Sub(t0))
		t0 = t1
	}
	if fmt.Sprint(gaps) != "[24h0m0s 23h0m0s 24h0m0s 24h0m0s]" {
		t.Fatalf("gaps across spring forward: %v", gaps)
	}
}

func TestCloses(t *testing.T) {
	opened := time.Date(2026, 12, 2, 7, 59, 0, 0, time.UTC)
	if got := (&Spec{Window: Duration(15 * time.Minute)}).Closes(opened, time.UTC); !got.Equal(opened.Add(15 * time.Minute)) {
		t.Fatalf("window: %s", got)
	}
	if got := (&Spec{DailyAt: "08:00"}).Closes(opened, time.UTC); !got.Equal(opened.Add(time.Minute)) {
		t.Fatalf("daily: %s", got)
	}
}

func items(n int) []Item {
	out := make([]Item, n)
	for i := range out {
		typ := "task.created"
		if i%4 == 3 {
			typ = "battery.critical"
		}
		out[i] = Item{Type: typ, Timestamp: time.Unix(int64(i), 0).UTC(), Data: json.RawMessage(`{}`)}
	}
	return out
}

func TestBuild(t *testing.T) {
	w := Window{Start: time.Unix(0, 0).UTC(), End: time.Unix(900, 0).UTC()}
	cases := []struct {
		name       string
		n, shown   int
		wantCounts []int // events per message
	}{
		{"one message", 200, 0, []int{200}},
		{"exactly the limit", 1000, 0, []int{1000}},
		{"split", 2500, 0, []int{1000, 1000, 500}},
		{"empty window", 0, 0, []int{0}},
		{"chat: the first events", 2500, 10, []int{10}},
		{"chat: fewer than shown", 3, 10, []int{3}},
	}
	for _, c := range cases {
		docs := Build(w, items(c.n), MaxPerMessage, c.shown)
		if len(docs) != len(c.wantCounts) {
			t.Fatalf("%s: %d messages, want %d", c.name, len(docs), len(c.wantCounts))
		}
		seen := 0
		for i, d := range docs {
			if len(d.Events) != c.wantCounts[i] || d.Total != c.n || d.Part != i+1 || d.Parts != len(docs) || d.Type != Type {
				t.Fatalf("%s: message %d: %d events, total %d, part %d/%d", c.name, i, len(d.Events), d.Total, d.Part, d.Parts)
			}
			if c.shown == 0 && d.Count != len(d.Events) || c.shown > 0 && d.Count != c.n {
				t.Fatalf("%s: count %d", c.name, d.Count)
			}
			if d.Counts["task.created"]+d.Counts["battery.critical"] != c.n {
				t.Fatalf("%s: counts %v", c.name, d.Counts)
			}
			for _, e := range d.Events {
				if c.shown == 0 && !e.Timestamp.Equal(time.Unix(int64(seen), 0)) {
					t.Fatalf("%s: events out of order at %d", c.name, seen)
				}
				seen++
			}
		}
		b, _ := json.Marshal(docs[0])
		if !strings.Contains(string(b), `"events":[`) {
			t.Fatalf("%s: events not an array: %s", c.name, b)
		}
	}
}

func TestSummarize(t *testing.T) {
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	seed := `{"event_id":"e1","task_id":"t1","event":"created","title":"Call back","patient":{"id":"p1","first_name":"Jane","last_name":"Roe"}}`
	its := []Item{}
	for i := 0; i < 25; i++ {
		its = append(its, Item{Type: "task.created", Timestamp: time.Date(2026, 12, 2, 9, i, 0, 0, time.UTC), Data: json.RawMessage(seed)})
	}
	w := Window{Start: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC)}
	d := Build(w, its, MaxPerMessage, ChatItems)[0]
	s := Summarize(&d, cat, time.UTC, false)
	text := strings.Join(s.Lines(), "\n")
	for _, want := range []string{"Digest: 25 events", "task.created: 25", "and 15 more", "Jane Roe", "2026-12-02 09:00 – 09:30 UTC"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	redacted := strings.Join(Summarize(&d, cat, time.UTC, true).Lines(), "\n")
	if strings.Contains(redacted, "Jane") || strings.Contains(redacted, "Roe") {
		t.Errorf("redacted summary names the patient:\n%s", redacted)
	}
	empty := Build(w, nil, MaxPerMessage, ChatItems)[0]
	if got := strings.Join(Summarize(&empty, cat, time.UTC, false).Lines(), "\n"); !strings.Contains(got, "Digest: 0 events") || !strings.Contains(got, "none in this window") {
		t.Errorf("empty digest: %s", got)
	}
}
