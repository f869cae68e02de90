package tmpl

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/families/battery"
)

func msg(t *testing.T) *notify.Message {
	b, err := os.ReadFile("../../../../examples/seed-task-created.json")
	if err != nil {
		t.Fatal(err)
	}
	return &notify.Message{Type: "task.created", Timestamp: time.Date(2024, 1, 10, 9, 0, 0, 0, time.UTC), Event: event.NewLazy(b)}
}

func run(t *testing.T, text, ctype string, loc *time.Location) (string, error) {
	t.Helper()
	tp, err := Parse(text, ctype)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	out, err := tp.Render(context.Background(), &notify.Target{ID: "w1", Name: "Desk", Location: loc}, msg(t))
	return string(out), err
}

func TestFunctions(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	cases := []struct {
		text, ctype string
		loc         *time.Location
		want        string
	}{
		{`{"text": {{ json .event.title }}, "type": {{ json .type }}, "hook": {{ json .webhook.name }}}`, "", nil,
			`{"text": "Follow up with patient", "type": "task.created", "hook": "Desk"}`},
		{`{{ date "Jan 2, 2006 3:04 PM MST" .event.due_date }}`, "text/plain", ny, `Jan 15, 2024 5:00 AM EST`},
		{`{{ date "01/02/2006" .event.patient.birth_date }}`, "text/plain", ny, `05/15/1980`},
		{`{{ .timestamp }}`, "text/plain", ny, `2024-01-10T04:00:00-05:00`},
		{`{{ join " " .event.patient.first_name .event.patient.last_name }}`, "text/plain", nil, `John Doe`},
		{`{{ default "nobody" .event.assignee.team }}|{{ default "x" .event.status }}`, "text/plain", nil, `nobody|x`},
		{`{{ truncate 8 .event.title }}|{{ upper .event.event }}|{{ lower "AB" }}|{{ trim "  t  " }}`, "text/plain", nil, `Follow …|CREATED|ab|t`},
		{`[{{ .event.nosuch }}]`, "text/plain", nil, `[<no value>]`},
		{`[{{ get .event "assignee.team.name" }}][{{ get .event "patient.last_name" }}][{{ default "none" (get .event "a.b.c") }}]`, "text/plain", nil, `[<no value>][Doe][none]`},
		{`{"missing": {{ json .event.nosuch }}}`, "", nil, `{"missing": null}`},
	}
	for _, c := range cases {
		got, err := run(t, c.text, c.ctype, c.loc)
		if err != nil || got != c.want {
			t.Errorf("%s\n got %q (%v)\nwant %q", c.text, got, err, c.want)
		}
	}
}

func TestFailures(t *testing.T) {
	if _, err := Parse(`{{ nosuch .event }}`, ""); err == nil {
		t.Fatal("unknown function parsed")
	}
	if _, err := Parse(`{{ .event.title `, ""); err == nil {
		t.Fatal("unclosed action parsed")
	}
	// Invalid JSON for a JSON content type fails; text/plain takes anything.
	if _, err := run(t, `{"title": {{ .event.title }}}`, "application/json", nil); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("invalid JSON: %v", err)
	}
	if _, err := run(t, `{"title": {{ .event.title }}}`, "application/vnd.api+json", nil); err == nil {
		t.Fatal("+json content type not checked")
	}
	if out, err := run(t, `Title: {{ .event.title }}`, "text/plain", nil); err != nil || out != "Title: Follow up with patient" {
		t.Fatalf("%q %v", out, err)
	}
	if _, err := run(t, `{{ date "2006" .event.title }}`, "text/plain", nil); err == nil || !strings.Contains(err.Error(), "template") {
		t.Fatalf("execution error: %v", err)
	}
	// A field under a null fails at execution (permanently, with the reason); get does not.
	if _, err := run(t, `{{ .event.assignee.team.name }}`, "text/plain", nil); err == nil || !strings.Contains(err.Error(), "nil pointer") {
		t.Fatalf("field under null: %v", err)
	}
	big := `{{ range .event.title }}{{ end }}` // ranging over a string fails at execution
	if _, err := run(t, big, "text/plain", nil); err == nil {
		t.Fatal("range over a string")
	}
	long := strings.Repeat(`{{ .event.title }}`, 20000) // ~440 KB
	if _, err := run(t, long, "text/plain", nil); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("size limit: %v", err)
	}
}

func TestJSONOutputIsValid(t *testing.T) {
	out, err := run(t, `{"patient": {{ json .event.patient }}, "n": 1}`, "", nil)
	if err != nil || !json.Valid([]byte(out)) {
		t.Fatalf("%s %v", out, err)
	}
}

// TestEveryFamily: .event is the body of any family.
func TestEveryFamily(t *testing.T) {
	tp, err := Parse(`{"alert": {{ json .type }}, "device": {{ json .event.device.serial }}, "percent": {{ .event.battery.percent }}, "report": {{ json (get .event "report_id") }}}`, "")
	if err != nil {
		t.Fatal(err)
	}
	m := &notify.Message{Type: "battery.critical", Timestamp: time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC), Event: event.NewLazy([]byte(battery.Example))}
	out, err := tp.Render(context.Background(), &notify.Target{ID: "w1", Name: "Desk"}, m)
	if err != nil || string(out) != `{"alert": "battery.critical", "device": "RNB123456", "percent": 4, "report": null}` {
		t.Fatalf("%s %v", out, err)
	}
}

// TestHostileTemplatesAreBounded: what cannot be bounded is refused at save time; ranges stop
// at MaxIterations (all of them together, however nested) and at the attempt's deadline, long
// before they could hold a CPU.
func TestHostileTemplatesAreBounded(t *testing.T) {
	for _, text := range []string{`{{define "x"}}a{{end}}{{template "x"}}`, `{{block "b" .}}x{{end}}`, `{{template "body" .}}`} {
		if _, err := Parse(text, "text/plain"); err == nil {
			t.Errorf("%s: accepted", text)
		}
	}
	items := make([]any, 1000)
	for i := range items {
		items[i] = i
	}
	raw, _ := json.Marshal(map[string]any{"task_id": "1", "event": "created", "title": "t", "items": items})
	m := &notify.Message{Type: "task.created", Timestamp: time.Now(), Event: event.NewLazy(raw)}
	cases := []struct {
		text string
		ctx  func() (context.Context, context.CancelFunc)
		want string
	}{
		{`{{range 100000000}}{{end}}`, nil, "iterations"},
		{`{{range $i := 100000000}}x{{end}}`, nil, "iterations"},
		{`{{range .event.items}}{{range $.event.items}}{{range $.event.items}}{{end}}{{end}}{{end}}`, nil, "iterations"},
		{`{{range .event.items}}{{if true}}{{range $.event.items}}{{with 1}}{{range $.event.items}}{{end}}{{end}}{{end}}{{end}}{{end}}`, nil, "iterations"},
		{`{{range .event.items}}` + strings.Repeat("x", 300) + `{{end}}`, nil, "exceeds"}, // 300 KB of output
		{`{{range .event.items}}{{.}}{{end}}`, func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		}, "deadline"},
	}
	for _, c := range cases {
		tp, err := Parse(c.text, "text/plain")
		if err != nil {
			t.Fatalf("%s: %v", c.text, err)
		}
		ctx, cancel := context.Background(), func() {}
		if c.ctx != nil {
			ctx, cancel = c.ctx()
		}
		start := time.Now()
		_, err = tp.Render(ctx, &notify.Target{ID: "w", Name: "n"}, m)
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error about %s", c.text, err, c.want)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: stopped after %s", c.text, took)
		}
	}
	// Ordinary ranges are untouched.
	tp, _ := Parse(`{{range $i, $v := .event.items}}{{if lt $i 3}}{{$v}},{{end}}{{end}}`, "text/plain")
	out, err := tp.Render(context.Background(), &notify.Target{}, m)
	if err != nil || string(out) != "0,1,2," {
		t.Fatalf("%q %v", out, err)
	}
}
