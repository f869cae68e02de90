package app

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// TestHostileEvents: what is validated is exactly what is delivered. A key sent twice (the last
// would be validated, both delivered), text that is not UTF-8 or holds a lone surrogate (decoded
// as U+FFFD, delivered as sent) and NUL are 422 with their pointer, in every family and in
// batches; an event larger than one event may be is 413, never a 503 to retry forever.
func TestHostileEvents(t *testing.T) {
	h := start(t, func(c *Config) { c.MaxBodyBytes = 4 << 20 })
	cases := []struct {
		name, body, path, substr string
	}{
		{"duplicate title", `{"task_id":"1","event":"created","title":{"x":1},"title":"ok"}`, "/title", "twice"},
		{"duplicate in a report", `{"type":"report.completed","report_id":"R","conclusion":"a","conclusion":"b"}`, "/conclusion", "twice"},
		{"duplicate nested in a battery event", `{"type":"battery.low","device":{"id":"a","id":"b"}}`, "/device/id", "twice"},
		{"lone surrogate", `{"task_id":"1","event":"created","title":"a\ud800b"}`, "/title", "surrogate"},
		{"invalid UTF-8", "{\"task_id\":\"1\",\"event\":\"created\",\"title\":\"caf\xe9\"}", "/title", "UTF-8"},
		{"NUL in a task id", `{"task_id":"1\u0000","event":"created","title":"t"}`, "/task_id", "NUL"},
	}
	for _, c := range cases {
		r := h.event([]byte(c.body))
		var e errBody
		r.json(t, &e)
		if r.Status != http.StatusUnprocessableEntity || len(e.Details) == 0 || e.Details[0].Path != c.path || !strings.Contains(e.Details[0].Message, c.substr) {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
		}
	}
	// Batches: each item judged alone, the same way.
	huge := `{"task_id":"2","event":"created","title":"` + strings.Repeat("x", 5<<20) + `"}`
	r := h.post("/v1/events/batch", "application/json", token, []byte(`[{"task_id":"1","event":"due","title":"t","title":"u"},`+huge+`,{"task_id":"3","event":"due","title":"t"}]`))
	var items []struct {
		Status  int
		Error   string
		Details []struct{ Path string }
	}
	r.json(t, &items)
	if r.Status != 200 || len(items) != 3 || items[0].Status != 422 || items[0].Details[0].Path != "/title" ||
		items[1].Status != 413 || !strings.Contains(items[1].Error, "TASKHOOK_MAX_BODY_BYTES") || items[2].Status != 202 {
		t.Fatalf("batch: %d %.600s", r.Status, r.Body)
	}
	// Within the body limit, over what NATS takes in one message (1 MiB here): 413, not 503.
	big := []byte(`{"task_id":"4","event":"created","title":"t","patient":{"id":"p","first_name":"` + strings.Repeat("x", 900) +
		`","notes":"` + strings.Repeat("y", 1100<<10) + `"}}`)
	if r := h.event(big); r.Status != http.StatusRequestEntityTooLarge || r.Header.Get("Retry-After") != "" || !bytes.Contains(r.Body, []byte("at most")) {
		t.Fatalf("event over the stream's max payload: %d %.300s", r.Status, r.Body)
	}
	r = h.post("/v1/events/batch", "application/json", token, append(append([]byte(`[`), big...), ']'))
	if r.Status != 200 || !bytes.Contains(r.Body, []byte(`"status":413`)) || r.Header.Get("Retry-After") != "" {
		t.Fatalf("batch item over the stream's max payload: %d %.300s", r.Status, r.Body)
	}
	for _, q := range []string{"?Token=x", "?ACCESS_TOKEN=x", "?a=1;b=2"} {
		if r := h.post("/v1/events"+q, "application/json", token, []byte(`{"task_id":"1","event":"due","title":"t"}`)); r.Status != 400 {
			t.Errorf("%s: %d %s", q, r.Status, r.Body)
		}
	}
	if n := len(h.streamMsgs()); n != 1 {
		t.Fatalf("%d events stored, want only the valid batch item", n)
	}
}
