package digest

import (
	"bytes"
	"encoding/json"
)

// DefaultMaxBytes is the largest digest body by default (TASKHOOK_DIGEST_MAX_BYTES): four
// events of ingest's largest body, far above what a receiver sees from a window of ordinary
// events (a task event is about 1 KB).
const DefaultMaxBytes = 4 << 20

// Sized is what planning a window's parts needs of an item: its type and an upper bound of
// the bytes it adds to a body.
type Sized struct {
	Type string
	Size int // the sealed payload's length, at least its JSON's
}

// itemOverhead bounds what one item adds to a body besides its data: {"type":"…",
// "timestamp":"2006-01-02T15:04:05.999999999-07:00","data":…}, its comma.
const itemOverhead = 80

// ItemBytes is an upper bound of the bytes one item adds to a body (Encode neither escapes
// HTML nor re-indents, so data is never larger than its JSON).
func ItemBytes(it Sized) int { return len(it.Type) + it.Size + itemOverhead }

// Page is a run of items (indexes [From, To)) sent as one message.
type Page struct{ From, To int }

// Plan splits a window's items, in order, into messages of at most per items and at most
// maxBytes of body, header (the body without events) included. An item that alone exceeds
// maxBytes is a message of its own rather than never sent. An empty window is one empty page.
func Plan(items []Sized, header, per, maxBytes int) []Page {
	per = max(per, 1)
	var out []Page
	from, size := 0, header
	for i, it := range items {
		n := ItemBytes(it)
		if i > from && (i-from >= per || size+n > maxBytes) {
			out = append(out, Page{from, i})
			from, size = i, header
		}
		size += n
	}
	return append(out, Page{from, len(items)})
}

// HeaderBytes is an upper bound of a body without its events: d marshalled with no events,
// plus room for the part numbers and counts to grow and for times in any zone.
func HeaderBytes(d Doc) int {
	d.Events = []Item{}
	b, _ := Encode(d)
	return len(b) + 64
}

// Encode is a digest's JSON body. Unlike json.Marshal it leaves <, > and & as they are, so
// that a body is never larger than the events it carries (a body of < would grow sixfold).
func Encode(d Doc) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Counts counts items by type.
func Counts(items []Sized) map[string]int {
	out := map[string]int{}
	for _, it := range items {
		out[it.Type]++
	}
	return out
}

// header is the part of every message of a window: its time span, total and counts.
func header(w Window, items []Sized) Doc {
	return Doc{Type: Type, Timestamp: w.End, Window: w, Total: len(items), Counts: Counts(items), Events: []Item{}}
}
