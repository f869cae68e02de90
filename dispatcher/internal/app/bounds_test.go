package app

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestTemplateBudget: a template that builds a huge value without writing it is refused at
// save time (it exceeds its budget on the catalog's examples) and stopped at once by the test
// endpoint; one that exceeds the budget only on a real event fails that delivery permanently,
// with the reason in the log.
func TestTemplateBudget(t *testing.T) {
	h := start(t)
	hook := newReceiver(t)
	doubling := func(n string) string {
		return `{{ $x := printf "%999999s" "x" }}{{ range ` + n + ` }}{{ $x = printf "%s%s" $x $x }}{{ end }}{{ len $x }}`
	}
	began := time.Now()
	r := h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "x", "url": hook.URL, "template": doubling("30"), "template_content_type": "text/plain"})
	var eb struct {
		Details []struct{ Path, Message string }
	}
	r.decode(t, &eb)
	if r.Status != 422 || len(eb.Details) != 1 || eb.Details[0].Path != "/template" || !strings.Contains(eb.Details[0].Message, "budget") {
		t.Fatalf("save: %d %s", r.Status, r.Body)
	}
	r = h.do("POST", "/v1/webhooks/test", adminToken, map[string]any{"name": "x", "url": hook.URL, "template": doubling("8"), "template_content_type": "text/plain"})
	if r.Status != 422 && !strings.Contains(string(r.Body), "budget") {
		t.Fatalf("test endpoint: %d %s", r.Status, r.Body)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("took %s", took)
	}
	// Within budget on the examples (short titles), over it on a long title.
	wh := h.createWebhook(map[string]any{"url": hook.URL, "template_content_type": "text/plain",
		"template": `{{ if gt (len .event.title) 200 }}{{ $x := .event.title }}{{ range 20 }}{{ $x = print $x $x }}{{ end }}{{ end }}ok`})
	h.publish(`{"event_id":"long","task_id":"t-long","event":"created","title":"` + strings.Repeat("t", 300) + `"}`)
	h.publish(taskEvent("short", "created", ""))
	hook.waitFor(t, 1, 10*time.Second)
	var d delivery
	eventually(t, 10*time.Second, "the long title's delivery fails", func() bool {
		for _, d = range h.deliveries(wh.ID) {
			if d.EventID == "long" && d.Status == "failed" {
				return true
			}
		}
		return false
	})
	if d.Attempts != 1 || d.EventID != "long" || !strings.Contains(d.LastError, "budget") || !strings.Contains(d.LastError, "bytes") {
		t.Fatalf("%+v", d)
	}
}

// TestDigestSplitByBytes: events of ~9 KB into one window become generic messages of at most
// TASKHOOK_DIGEST_MAX_BYTES each (numbered part of parts), every event in exactly one of them.
func TestDigestSplitByBytes(t *testing.T) {
	const maxBytes = 64 << 10
	h := start(t, "TASKHOOK_DIGEST_MAX_BYTES=64KiB")
	gen := newReceiver(t)
	h.createWebhook(map[string]any{"url": gen.URL + "/hook", "events": []string{"task.*"}, "digest": map[string]any{"window": "5s"}})
	const n = 30
	for i := 0; i < n; i++ {
		// < is what json.Marshal would write as six bytes.
		h.publish(fmt.Sprintf(`{"event_id":"big-%02d","task_id":"t-%02d","event":"created","title":%q}`, i, i, strings.Repeat("<", 9000)))
	}
	reqs := gen.waitFor(t, 4, 20*time.Second)
	time.Sleep(time.Second)
	reqs = gen.requests()
	seen := map[string]bool{}
	for _, r := range reqs {
		var d struct {
			Part, Parts, Count, Total int
			Events                    []struct{ Data struct{ EventID string `json:"event_id"` } }
		}
		if err := json.Unmarshal(r.Body, &d); err != nil {
			t.Fatal(err)
		}
		if len(r.Body) > maxBytes || d.Parts != len(reqs) || d.Total != n || d.Count != len(d.Events) {
			t.Errorf("part %d/%d of %d messages: %d bytes, count %d, total %d", d.Part, d.Parts, len(reqs), len(r.Body), d.Count, d.Total)
		}
		for _, e := range d.Events {
			if seen[e.Data.EventID] {
				t.Errorf("%s twice", e.Data.EventID)
			}
			seen[e.Data.EventID] = true
		}
	}
	if len(seen) != n || len(reqs) < 4 {
		t.Fatalf("%d events in %d messages", len(seen), len(reqs))
	}
}
