package eventtypes

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/pkg/event"
)

var builtin = []string{"task", "report", "battery", "webhook", "delivery"}

// Appointment is the definition of the tests: a missed appointment, with a patient, a clinic
// and a link.
func appointment() Definition {
	return Definition{
		Type:        "appointment.missed",
		Description: "A patient did not come to an appointment",
		Schema: json.RawMessage(`{"type":"object","required":["appointment_id","patient"],"properties":{
			"appointment_id":{"type":"string","minLength":1},"clinic":{"type":"string"},
			"scheduled_at":{"type":"string","format":"date-time"},"url":{"type":"string"},
			"patient":{"type":"object","required":["id"],"properties":{"id":{"type":"string"},"name":{"type":"string"}}}}}`),
		Example: json.RawMessage(`{"appointment_id":"A-77","clinic":"Cardiology North","scheduled_at":"2024-01-15T10:00:00Z",
			"url":"https://goreporter.example.org/appointments/A-77","patient":{"id":"P-1","name":"John Doe"}}`),
		Summary: event.CustomSummary{Title: "Missed appointment", Severity: "warning",
			Facts: []event.CustomFact{{Name: "Patient", Value: "{{.event.patient.name}}"}, {Name: "Clinic", Value: "{{.event.clinic}}"},
				{Name: "Scheduled", Value: `{{date "January 2, 2006 at 3:04 PM" .event.scheduled_at}}`}},
			Link: "{{.event.url}}"},
	}
}

func TestCheckAcceptsAndNormalizes(t *testing.T) {
	d, ps := Check(context.Background(), appointment(), builtin)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if !strings.HasPrefix(string(d.Example), `{"type":"appointment.missed","appointment_id":"A-77"`) || strings.Contains(string(d.Schema), "\n") {
		t.Fatalf("example %s schema %s", d.Example, d.Schema)
	}
	plain := appointment()
	plain.Summary.Severity = ""
	if d, ps := Check(context.Background(), plain, builtin); len(ps) > 0 || d.Summary.Severity != "info" {
		t.Fatalf("default severity: %+v %v", d.Summary, ps)
	}
}

// TestCheckBadInput: every kind of bad definition is refused with a pointer to what to fix.
func TestCheckBadInput(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Definition)
		path   string
		msg    string
	}{
		{"no type", func(d *Definition) { d.Type = "" }, "/type", "is required"},
		{"upper case", func(d *Definition) { d.Type = "Appointment.Missed" }, "/type", "lower case"},
		{"no event part", func(d *Definition) { d.Type = "appointment" }, "/type", "<family>.<event>"},
		{"built-in family", func(d *Definition) { d.Type = "battery.empty" }, "/type", "built in"},
		{"operational family", func(d *Definition) { d.Type = "delivery.late" }, "/type", "built in"},
		{"description too long", func(d *Definition) { d.Description = strings.Repeat("x", 2001) }, "/description", "at most 2000"},
		{"no schema", func(d *Definition) { d.Schema = nil }, "/schema", "is required"},
		{"schema not an object schema", func(d *Definition) { d.Schema = json.RawMessage(`{"type":"array"}`) }, "/schema/type", `"object"`},
		{"schema too large", func(d *Definition) {
			d.Schema = json.RawMessage(`{"type":"object","description":"` + strings.Repeat("x", 65<<10) + `"}`)
		}, "/schema", "64 KiB"},
		{"remote $ref", func(d *Definition) {
			d.Schema = json.RawMessage(`{"type":"object","properties":{"patient":{"$ref":"https://schemas.example.org/patient.json"}}}`)
		}, "/schema/properties/patient/$ref", "only local references"},
		{"schema does not compile", func(d *Definition) {
			d.Schema = json.RawMessage(`{"type":"object","properties":{"clinic":{"type":"text"}}}`)
		}, "/schema/properties/clinic/type", "does not compile"},
		{"no example", func(d *Definition) { d.Example = nil }, "/example", "is required"},
		{"example not an object", func(d *Definition) { d.Example = json.RawMessage(`[1]`) }, "/example", "JSON object"},
		{"example of another type", func(d *Definition) {
			d.Example = json.RawMessage(`{"type":"appointment.booked","appointment_id":"A","patient":{"id":"P"}}`)
		}, "/example/type", `"appointment.missed"`},
		{"example fails the schema", func(d *Definition) { d.Example = json.RawMessage(`{"appointment_id":"","patient":{"id":"P"}}`) }, "/example/appointment_id", "valid against the schema"},
		{"example misses a required field", func(d *Definition) { d.Example = json.RawMessage(`{"appointment_id":"A"}`) }, "/example/patient", "is required"},
		{"no title", func(d *Definition) { d.Summary.Title = " " }, "/summary/title", "is required"},
		{"title does not parse", func(d *Definition) { d.Summary.Title = "Missed {{.event.clinic" }, "/summary/title", "does not parse"},
		{"title with a template call", func(d *Definition) { d.Summary.Title = `{{template "x"}}` }, "/summary/title", "not supported"},
		{"bad severity", func(d *Definition) { d.Summary.Severity = "urgent" }, "/summary/severity", "info, warning, critical"},
		{"fact without name", func(d *Definition) { d.Summary.Facts[1].Name = "" }, "/summary/facts/1/name", "is required"},
		{"fact without value", func(d *Definition) { d.Summary.Facts[0].Value = "" }, "/summary/facts/0/value", "is required"},
		{"fact does not parse", func(d *Definition) { d.Summary.Facts[2].Value = "{{date}" }, "/summary/facts/2/value", "does not parse"},
		{"too many facts", func(d *Definition) {
			for len(d.Summary.Facts) <= MaxFacts {
				d.Summary.Facts = append(d.Summary.Facts, event.CustomFact{Name: "x", Value: "y"})
			}
		}, "/summary/facts", "at most 20"},
		{"link does not parse", func(d *Definition) { d.Summary.Link = "{{" }, "/summary/link", "does not parse"},
		{"link is not a URL on the example", func(d *Definition) { d.Summary.Link = "appointments/{{.event.appointment_id}}" }, "/summary/link", "absolute http or https URL"},
		{"fact fails on the example", func(d *Definition) { d.Summary.Facts[2].Value = `{{date "2006" .event.clinic}}` }, "/summary/facts/2/value", "fails on the example"},
		{"template over its iteration budget", func(d *Definition) { d.Summary.Title = `{{range 200000}}x{{end}}` }, "/summary/title", "fails on the example"},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			d := appointment()
			k.mutate(&d)
			_, ps := Check(context.Background(), d, builtin)
			if len(ps) == 0 {
				t.Fatal("accepted")
			}
			if ps[0].Path != k.path || !strings.Contains(ps[0].Message, k.msg) {
				t.Fatalf("got %+v, want %s: …%s…", ps, k.path, k.msg)
			}
		})
	}
}

func TestSummaryRendering(t *testing.T) {
	d, ps := Check(context.Background(), appointment(), builtin)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	fn, err := Summarizers(d)
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	cases := []struct {
		name, body string
		lines      string
	}{
		{"full", string(d.Example), "Missed appointment\nPatient: John Doe\nClinic: Cardiology North\nScheduled: January 15, 2024 at 5:00 AM\nOpen: https://goreporter.example.org/appointments/A-77"},
		{"only what the schema requires", `{"type":"appointment.missed","appointment_id":"A","patient":{"id":"P"}}`, "Missed appointment"},
		{"a link that is not a URL is left out", `{"type":"appointment.missed","appointment_id":"A","patient":{"id":"P"},"url":"javascript:alert(1)"}`, "Missed appointment"},
	}
	for _, k := range cases {
		s, err := fn("appointment.missed", []byte(k.body), ny, false)
		if err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
		if got := strings.Join(s.Lines(), "\n"); got != k.lines || s.Severity != event.Warning {
			t.Errorf("%s:\n%s (%s)\nwant\n%s", k.name, got, s.Severity, k.lines)
		}
	}
	// At delivery, an event that makes a template fail fails with the reason.
	if _, err := fn("appointment.missed", []byte(`{"type":"appointment.missed","patient":{"id":"P"},"scheduled_at":"soon"}`), ny, false); err == nil || !strings.Contains(err.Error(), "/summary/facts/2/value") {
		t.Fatalf("failing template: %v", err)
	}
}
