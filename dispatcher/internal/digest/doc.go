package digest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/taskhook/taskhook/pkg/event"
)

// MaxPerMessage is the most events one message carries (generic); a larger window is split.
const MaxPerMessage = 1000

// Item is one collected event.
type Item struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// Window is a digest's time span.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Doc is one digest message: what the generic provider sends, and what chat providers
// summarize. Count is the events in this message; a window split into several messages numbers
// them with Part of Parts, and every part carries the window's Total and Counts by type.
type Doc struct {
	Type      string         `json:"type"`
	Timestamp time.Time      `json:"timestamp"`
	Window    Window         `json:"window"`
	Count     int            `json:"count"`
	Total     int            `json:"total"`
	Counts    map[string]int `json:"counts"`
	Part      int            `json:"part"`
	Parts     int            `json:"parts"`
	Events    []Item         `json:"events"`
}

// Build turns a closed window's items (in arrival order) into its messages: parts of at most
// per events, or, when shown is above 0 (a chat provider shows only the first events), one
// message holding the first shown events and the counts of all. A window without items is one
// empty message (a daily digest with send_empty).
func Build(w Window, items []Item, per, shown int) []Doc {
	counts := map[string]int{}
	for _, it := range items {
		counts[it.Type]++
	}
	base := Doc{Type: Type, Timestamp: w.End, Window: w, Total: len(items), Counts: counts}
	if shown > 0 {
		d := base
		d.Count, d.Part, d.Parts = len(items), 1, 1
		d.Events = items[:min(shown, len(items))]
		if d.Events == nil {
			d.Events = []Item{}
		}
		return []Doc{d}
	}
	per = max(per, 1)
	parts := max(1, (len(items)+per-1)/per)
	out := make([]Doc, 0, parts)
	for p := 0; p < parts; p++ {
		d := base
		d.Events = items[min(p*per, len(items)):min((p+1)*per, len(items))]
		if d.Events == nil {
			d.Events = []Item{}
		}
		d.Count, d.Part, d.Parts = len(d.Events), p+1, parts
		out = append(out, d)
	}
	return out
}

// InTimeZone returns d with every time in loc (the generic body shows times in the webhook's
// zone, as for single events).
func (d Doc) InTimeZone(loc *time.Location) Doc {
	if loc == nil {
		return d
	}
	d.Timestamp, d.Window.Start, d.Window.End = d.Timestamp.In(loc), d.Window.Start.In(loc), d.Window.End.In(loc)
	evs := make([]Item, len(d.Events))
	for i, it := range d.Events {
		it.Timestamp = it.Timestamp.In(loc)
		evs[i] = it
	}
	d.Events = evs
	return d
}

// ChatItems is how many events a chat message lists before "and N more".
const ChatItems = 10

// Summarizer summarizes one event for chat (the event catalog).
type Summarizer interface {
	Summarize(typ string, raw []byte, loc *time.Location, redact bool) (event.Summary, error)
}

// Summarize is a digest as chat providers show it: a title with the count and the window,
// one fact with the counts by type, then one fact per listed event (its time, its title and
// its first two facts, such as the task's title and the patient, redacted as the webhook says), then "and N more".
func Summarize(d *Doc, cat Summarizer, loc *time.Location, redact bool) event.Summary {
	if loc == nil {
		loc = time.UTC
	}
	s := event.Summary{Title: fmt.Sprintf("Digest: %s", plural(d.Total, "event")), Severity: event.Neutral}
	s.Add("Window", d.Window.Start.In(loc).Format("2006-01-02 15:04")+" – "+d.Window.End.In(loc).Format("15:04 MST"))
	if d.Total == 0 {
		s.Add("Events", "none in this window")
		return s
	}
	types := make([]string, 0, len(d.Counts))
	for t := range d.Counts {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool {
		if d.Counts[types[i]] != d.Counts[types[j]] {
			return d.Counts[types[i]] > d.Counts[types[j]]
		}
		return types[i] < types[j]
	})
	var counts []string
	for _, t := range types {
		counts = append(counts, t+": "+strconv.Itoa(d.Counts[t]))
	}
	s.Add("By type", strings.Join(counts, " · "))
	for _, it := range d.Events[:min(len(d.Events), ChatItems)] {
		line := it.Type
		if es, err := cat.Summarize(it.Type, it.Data, loc, redact); err == nil {
			line = es.Title
			for _, f := range es.Facts[:min(2, len(es.Facts))] {
				line += " · " + f.Label + ": " + f.Value
			}
		}
		s.Add(it.Timestamp.In(loc).Format("15:04"), line)
	}
	if more := d.Total - min(len(d.Events), ChatItems); more > 0 {
		s.Add("More", fmt.Sprintf("and %d more", more))
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
