package slack

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/families/battery"
	"github.com/taskhook/taskhook/pkg/families/report"
)

func seedRaw(t *testing.T) []byte {
	b, err := os.ReadFile("../../../../examples/seed-task-created.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func render(t *testing.T, raw []byte, tgt notify.Target) Message {
	t.Helper()
	return renderMessage(t, notifytest.Published(t, raw), tgt)
}

func renderMessage(t *testing.T, msg *notify.Message, tgt notify.Target) Message {
	t.Helper()
	if tgt.URL == "" {
		tgt.URL = "https://hooks.slack.com/services/T0/B0/X"
	}
	req, err := New(notifytest.Catalog(t)).Render(context.Background(), &tgt, msg)
	if err != nil {
		t.Fatal(err)
	}
	if req.ContentType != "application/json" || req.URL != tgt.URL {
		t.Fatalf("%+v", req)
	}
	var m Message
	if err := json.Unmarshal(req.Body, &m); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return m
}

func TestSeedMessage(t *testing.T) {
	m := render(t, seedRaw(t), notify.Target{})
	want := "📋 New Task Created\nTitle: Follow up with patient\nDue: January 15, 2024 at 10:00 AM\n" +
		"Patient: John Doe (DOB: 05/15/1980, Male)\nCreated by: Dr. Jane Smith\nAssigned to: Nurse Johnson"
	if m.Text != want {
		t.Fatalf("fallback text\n%s\nwant\n%s", m.Text, want)
	}
	if len(m.Blocks) != 2 || m.Blocks[0].Type != "header" || m.Blocks[0].Text.Text != "📋 New Task Created" || m.Blocks[0].Text.Type != "plain_text" {
		t.Fatalf("header %+v", m.Blocks)
	}
	sec := m.Blocks[1].Text
	if m.Blocks[1].Type != "section" || sec.Type != "mrkdwn" || !strings.HasPrefix(sec.Text, "*Title:* Follow up with patient\n*Due:* January 15, 2024 at 10:00 AM\n") ||
		!strings.HasSuffix(sec.Text, "*Assigned to:* Nurse Johnson") {
		t.Fatalf("section %q", sec.Text)
	}
}

func TestTitlesPerEvent(t *testing.T) {
	for name, want := range map[string]string{"updated": "Task Updated", "due": "Task Due", "overdue": "Task Overdue"} {
		raw := []byte(`{"event_id":"e","task_id":"1","event":"` + name + `","title":"x"}`)
		m := render(t, raw, notify.Target{})
		if m.Blocks[0].Text.Text != want || !strings.HasPrefix(m.Text, want+"\nTitle: x\nAssigned to: Unassigned") {
			t.Errorf("%s: %+v", name, m)
		}
	}
}

func TestLimitsAndEscaping(t *testing.T) {
	huge := strings.Repeat("é<&>", 2500) // 10,000 runes
	raw, _ := json.Marshal(map[string]any{"event_id": "e", "task_id": "1", "event": "created", "title": huge,
		"creator": map[string]any{"id": "c", "first_name": strings.Repeat("x", 5000)}})
	// Longer than the schema allows, as a stored event might be under a future schema.
	m := renderMessage(t, &notify.Message{Type: "task.created", Event: event.NewLazy(raw)}, notify.Target{})
	if n := utf8.RuneCountInString(m.Blocks[0].Text.Text); n > MaxHeader {
		t.Errorf("header %d runes", n)
	}
	if n := utf8.RuneCountInString(m.Blocks[1].Text.Text); n > MaxSection {
		t.Errorf("section %d runes", n)
	}
	if len(m.Blocks) > 50 || utf8.RuneCountInString(m.Text) > MaxText {
		t.Errorf("blocks %d, text %d", len(m.Blocks), utf8.RuneCountInString(m.Text))
	}
	if !json.Valid(mustJSON(m)) {
		t.Fatal("invalid JSON after truncation")
	}
	esc := render(t, []byte(`{"event_id":"e","task_id":"1","event":"due","title":"<script>&<!channel>"}`), notify.Target{})
	if !strings.Contains(esc.Text, "Title: &lt;script&gt;&amp;&lt;!channel&gt;") || strings.Contains(esc.Blocks[1].Text.Text, "<!channel>") {
		t.Fatalf("not escaped: %q / %q", esc.Text, esc.Blocks[1].Text.Text)
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func TestRedactAndTimeZone(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	m := render(t, seedRaw(t), notify.Target{Redact: true, Location: ny})
	if !strings.Contains(m.Text, "Patient: 67890\n") || strings.Contains(m.Text, "John Doe") || strings.Contains(m.Text, "1980") ||
		!strings.Contains(m.Text, "Due: January 15, 2024 at 5:00 AM") {
		t.Fatalf("%s", m.Text)
	}
}

func TestClassify(t *testing.T) {
	p := New(notifytest.Catalog(t))
	cases := []struct {
		code    int
		body    string
		result  notify.Result
		reason  string
		disable bool
	}{
		{200, "ok", notify.Success, "", false},
		{400, "invalid_payload", notify.Fail, "slack: invalid_payload", false},
		{400, "invalid_blocks", notify.Fail, "slack: invalid_blocks", false},
		{403, "action_prohibited", notify.Fail, "slack: action_prohibited", false},
		{404, "channel_not_found", notify.Fail, "slack: channel_not_found", false},
		{404, "no_active_hooks", notify.Fail, "slack: no_active_hooks", false},
		{410, "channel_is_archived", notify.Fail, "slack: channel_is_archived; webhook deactivated", true},
		{404, "channel_is_archived", notify.Fail, "slack: channel_is_archived; webhook deactivated", true},
		{429, "rate_limited", notify.Retry, "slack: rate_limited", false},
		{500, "rollup_error", notify.Retry, "slack: rollup_error", false},
		{500, "<html>Patient John Doe</html>", notify.Retry, "HTTP 500", false},
	}
	for _, c := range cases {
		h := http.Header{}
		if c.code == 429 {
			h.Set("Retry-After", "3")
		}
		o := p.Classify(&notify.Response{StatusCode: c.code, Header: h, Body: []byte(c.body)})
		if o.Result != c.result || o.Reason != c.reason || o.Disable != c.disable {
			t.Errorf("%d %q: %+v", c.code, c.body, o)
		}
		if c.code == 429 && o.RetryAfter != 3*time.Second {
			t.Errorf("429 Retry-After: %v", o.RetryAfter)
		}
	}
	if New(notifytest.Catalog(t)).DefaultRateLimit() != 1 {
		t.Fatal("Slack's default rate")
	}
}

// TestPostsToARealServer: the rendered body is what a Slack-like server can decode.
func TestPostsToARealServer(t *testing.T) {
	var got Message
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &got) != nil {
			w.WriteHeader(400)
			io.WriteString(w, "invalid_payload")
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	req, _ := New(notifytest.Catalog(t)).Render(context.Background(), &notify.Target{URL: srv.URL}, notifytest.Published(t, seedRaw(t)))
	hr, _ := http.NewRequest("POST", req.URL, strings.NewReader(string(req.Body)))
	hr.Header.Set("Content-Type", req.ContentType)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if o := New(notifytest.Catalog(t)).Classify(&notify.Response{StatusCode: resp.StatusCode, Body: body}); o.Result != notify.Success || got.Blocks[0].Text.Text != "📋 New Task Created" {
		t.Fatalf("%+v %+v", o, got)
	}
}

// TestGoReporterEvents: each report and battery type has its own header and facts; redact
// leaves the patient's id only; a report's link is a Slack link.
func TestGoReporterEvents(t *testing.T) {
	m := render(t, []byte(battery.Example), notify.Target{Redact: true})
	if m.Blocks[0].Text.Text != "Battery Critical" || !strings.Contains(m.Text, "Battery: 4 % (ERI, about 3 months left)") ||
		!strings.Contains(m.Text, "Device: Medtronic Azure XT DR\n") || !strings.Contains(m.Text, "Patient: 67890") {
		t.Fatalf("battery message %+v", m)
	}
	for _, phi := range []string{"John", "Doe", "1980", "RNB123456"} {
		if strings.Contains(m.Text, phi) || strings.Contains(m.Blocks[1].Text.Text, phi) {
			t.Errorf("redacted battery message carries %q", phi)
		}
	}
	m = render(t, []byte(report.Example), notify.Target{})
	if m.Blocks[0].Text.Text != "Report Completed" || !strings.HasSuffix(m.Blocks[1].Text.Text, "\n<https://goreporter.example.org/reports/R-2024-0042|View report>") ||
		!strings.Contains(m.Text, "Conclusion: Normal device function.") {
		t.Fatalf("report message %+v", m)
	}
	low := strings.Replace(battery.Example, "battery.critical", "battery.low", 1)
	if m := render(t, []byte(low), notify.Target{}); m.Blocks[0].Text.Text != "Battery Low" {
		t.Fatalf("low: %+v", m.Blocks[0])
	}
	// A "|" in the URL cannot choose the link's text.
	spoof := strings.Replace(report.Example, "R-2024-0042\",\"patient\"", "R-2024-0042|Click-here\",\"patient\"", 1)
	if m := render(t, []byte(spoof), notify.Target{}); !strings.HasSuffix(m.Blocks[1].Text.Text, "<https://goreporter.example.org/reports/R-2024-0042%7CClick-here|View report>") {
		t.Fatalf("link %q", m.Blocks[1].Text.Text)
	}
}

// TestPublisherTextIsNotFormatted: what a publisher sends is shown as sent: *bold*, _italic_,
// ~struck~, `code` and ``` fences do not form in the message's mrkdwn.
func TestPublisherTextIsNotFormatted(t *testing.T) {
	m := render(t, []byte("{\"event_id\":\"e\",\"task_id\":\"1\",\"event\":\"due\",\"title\":\"*bold* _it_ ~s~ `c` ```fence``` [md](https://evil.example)\"}"), notify.Target{})
	for _, text := range []string{m.Text, m.Blocks[1].Text.Text} {
		for _, formed := range []string{"*bold*", "_it_", "~s~", "`c`", "```"} {
			if strings.Contains(text, formed) {
				t.Errorf("%q forms in %q", formed, text)
			}
		}
		if plain := strings.ReplaceAll(text, "\u200b", ""); !strings.Contains(plain, "*bold* _it_ ~s~ `c` ```fence```") {
			t.Errorf("the text changed: %q", plain)
		}
	}
}
