package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/families/battery"
	"github.com/taskhook/taskhook/pkg/families/report"
)

func cardSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/adaptive-card-1.4.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("adaptive-card-1.4.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("adaptive-card-1.4.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func seedRaw(t *testing.T) []byte {
	b, err := os.ReadFile("../../../../examples/seed-task-created.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// render returns the body and its card, after validating the card against the schema.
func render(t *testing.T, s *jsonschema.Schema, raw []byte, tgt notify.Target) ([]byte, map[string]any) {
	return renderMessage(t, s, notifytest.Published(t, raw), tgt)
}

func renderMessage(t *testing.T, s *jsonschema.Schema, m *notify.Message, tgt notify.Target) ([]byte, map[string]any) {
	t.Helper()
	tgt.URL = "https://prod.westeurope.logic.azure.com/workflows/x"
	req, err := New(notifytest.Catalog(t)).Render(context.Background(), &tgt, m)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Type        string
		Attachments []struct {
			ContentType string          `json:"contentType"`
			Content     json.RawMessage `json:"content"`
		}
	}
	if err := json.Unmarshal(req.Body, &env); err != nil || env.Type != "message" || len(env.Attachments) != 1 ||
		env.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("envelope %s (%v)", req.Body, err)
	}
	card, err := jsonschema.UnmarshalJSON(bytes.NewReader(env.Attachments[0].Content))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(card); err != nil {
		t.Fatalf("card does not validate against Adaptive Card 1.4: %v\n%s", err, env.Attachments[0].Content)
	}
	return req.Body, card.(map[string]any)
}

func facts(card map[string]any) map[string]string {
	out := map[string]string{}
	for _, f := range card["body"].([]any)[1].(map[string]any)["facts"].([]any) {
		m := f.(map[string]any)
		out[m["title"].(string)] = m["value"].(string)
	}
	return out
}

func TestCardsPerEvent(t *testing.T) {
	s := cardSchema(t)
	_, card := render(t, s, seedRaw(t), notify.Target{})
	title := card["body"].([]any)[0].(map[string]any)
	if card["version"] != "1.4" || title["text"] != "📋 New Task Created" || title["color"] != "Good" {
		t.Fatalf("%v", card)
	}
	f := facts(card)
	want := map[string]string{"Title": "Follow up with patient", "Due": "January 15, 2024 at 10:00 AM",
		"Patient": "John Doe (DOB: 05/15/1980, Male)", "Created by": "Dr. Jane Smith", "Assigned to": "Nurse Johnson"}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q", k, f[k], v)
		}
	}
	for name, color := range map[string]string{"overdue": "Attention", "due": "Warning", "created": "Good", "updated": "Default"} {
		raw := []byte(`{"event_id":"e","task_id":"1","event":"` + name + `","title":"x","assignee":{"team":{"id":"t","name":"Cardiology"}}}`)
		_, c := render(t, s, raw, notify.Target{})
		if got := c["body"].([]any)[0].(map[string]any)["color"]; got != color {
			t.Errorf("%s: colour %v, want %s", name, got, color)
		}
		if facts(c)["Assigned to"] != "Cardiology" {
			t.Errorf("%s: %v", name, facts(c))
		}
	}
}

func TestSizeLimitAndRedact(t *testing.T) {
	s := cardSchema(t)
	raw, _ := json.Marshal(map[string]any{"event_id": "e", "task_id": "1", "event": "overdue", "title": strings.Repeat("日本語", 33334),
		"patient": map[string]any{"id": "p", "first_name": strings.Repeat("ж", 5000)}, "creator": map[string]any{"id": "c", "last_name": strings.Repeat("é", 9000)}})
	// Longer than the schema allows, as a stored event might be under a future schema.
	body, _ := renderMessage(t, s, &notify.Message{Type: "task.overdue", Event: event.NewLazy(raw)}, notify.Target{})
	if len(body) > MaxBody {
		t.Fatalf("body %d bytes > %d", len(body), MaxBody)
	}
	body, card := render(t, s, seedRaw(t), notify.Target{Redact: true})
	if facts(card)["Patient"] != "67890" || bytes.Contains(body, []byte("John Doe")) || bytes.Contains(body, []byte("1980")) {
		t.Fatalf("redacted card %s", body)
	}
}

// TestPostsToARealServer: a Workflows-like server decodes the card and answers 202 Accepted.
func TestPostsToARealServer(t *testing.T) {
	var got Envelope
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if json.Unmarshal(b, &got) != nil || len(got.Attachments) != 1 {
			w.WriteHeader(400)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	req, _ := New(notifytest.Catalog(t)).Render(context.Background(), &notify.Target{URL: srv.URL}, notifytest.Published(t, seedRaw(t)))
	resp, err := http.Post(req.URL, req.ContentType, bytes.NewReader(req.Body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if o := New(notifytest.Catalog(t)).Classify(&notify.Response{StatusCode: resp.StatusCode}); o.Result != notify.Success || got.Attachments[0].Content.Version != "1.4" {
		t.Fatalf("%+v", o)
	}
}

// TestSchemaCatchesBadCards: the validation above can fail.
func TestSchemaCatchesBadCards(t *testing.T) {
	s := cardSchema(t)
	for _, bad := range []string{
		`{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock"}]}`,
		`{"type":"AdaptiveCard","version":"1.4","msteams":{"width":"Full"},"body":[]}`,
		`{"type":"AdaptiveCard","version":"1.4","body":[{"type":"FactSet","facts":[{"title":"x"}]}]}`,
		`{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"x","color":"Purple"}]}`,
	} {
		doc, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if s.Validate(doc) == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// TestGoReporterCards: colours per type, facts, and a report's link as an Action.OpenUrl, every
// card valid Adaptive Card 1.4.
func TestGoReporterCards(t *testing.T) {
	s := cardSchema(t)
	low := strings.Replace(battery.Example, "battery.critical", "battery.low", 1)
	created := strings.Replace(report.Example, "report.completed", "report.created", 1)
	for raw, color := range map[string]string{battery.Example: "Attention", low: "Warning", report.Example: "Good", created: "Default"} {
		_, card := render(t, s, []byte(raw), notify.Target{})
		if got := card["body"].([]any)[0].(map[string]any)["color"]; got != color {
			t.Errorf("colour %v, want %s for %.40s", got, color, raw)
		}
	}
	_, card := render(t, s, []byte(report.Example), notify.Target{})
	action := card["actions"].([]any)[0].(map[string]any)
	if action["type"] != "Action.OpenUrl" || action["url"] != "https://goreporter.example.org/reports/R-2024-0042" || facts(card)["Device"] != "Medtronic Azure XT DR (SN RNB123456)" {
		t.Fatalf("report card %v", card)
	}
	body, card := render(t, s, []byte(battery.Example), notify.Target{Redact: true})
	if facts(card)["Battery"] != "4 % (ERI, about 3 months left)" || facts(card)["Patient"] != "67890" || bytes.Contains(body, []byte("Doe")) {
		t.Fatalf("battery card %s", body)
	}
}

// TestPublisherTextIsNotFormatted: a publisher's title is shown as sent in the card's
// Markdown: no link from [md](url), no bold from **x** or _x_.
func TestPublisherTextIsNotFormatted(t *testing.T) {
	s := cardSchema(t)
	body, card := render(t, s, []byte(`{"event_id":"e","task_id":"1","event":"due","title":"[md](https://evil.example) **b** _i_ `+"`c`"+`"}`), notify.Target{})
	for _, text := range []string{facts(card)["Title"], card["fallbackText"].(string)} {
		for _, formed := range []string{"](", "**b**", "_i_", "`c`"} {
			if strings.Contains(text, formed) {
				t.Errorf("%q forms in %q", formed, text)
			}
		}
		if !strings.Contains(strings.ReplaceAll(text, "\u200b", ""), "[md](https://evil.example) **b** _i_ `c`") {
			t.Errorf("the text changed: %q", text)
		}
	}
	if !json.Valid(body) {
		t.Fatal("invalid JSON")
	}
}
