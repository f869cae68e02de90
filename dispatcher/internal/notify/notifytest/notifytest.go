// Package notifytest holds what the providers' tests share: the events every provider is
// rendered for (each type of each family, with and without patient, creator, staff, team,
// device, battery), the catalog, and golden files (go test -update rewrites them).
package notifytest

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/eventtypes"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/families"
	"github.com/taskhook/taskhook/pkg/families/battery"
	"github.com/taskhook/taskhook/pkg/families/ops"
	"github.com/taskhook/taskhook/pkg/families/report"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Case is a named event of a type.
type Case struct {
	Name  string
	Type  string
	Event []byte
}

// Cases are every task event type crossed with the shapes a task takes, then every report and
// battery type crossed with theirs, then every operational event type.
func Cases() []Case {
	shapes := []struct {
		name   string
		fields string
	}{
		{"full", `"due_date":"2024-01-15T10:00:00Z","status":"open","occurred_at":"2024-01-10T09:00:00Z",` +
			`"patient":{"id":"67890","first_name":"John","last_name":"Doe","birth_date":"1980-05-15","sex_at_birth":"Male"},` +
			`"creator":{"id":"11111","first_name":"Dr. Jane","last_name":"Smith"},` +
			`"assignee":{"staff":{"id":"22222","first_name":"Nurse","last_name":"Johnson"},"team":null}`},
		{"no-patient", `"due_date":"2024-01-15T10:00:00Z","patient":null,"creator":{"id":"11111","first_name":"Dr. Jane","last_name":"Smith"},` +
			`"assignee":{"staff":{"id":"22222","first_name":"Nurse","last_name":"Johnson"}}`},
		{"no-creator", `"due_date":null,"patient":{"id":"67890","first_name":"John","last_name":"Doe"},"creator":null,` +
			`"assignee":{"staff":{"id":"22222","first_name":"Nurse","last_name":"Johnson"}}`},
		{"team", `"status":"completed","patient":{"id":"67890","first_name":"John","last_name":"Doe","birth_date":"1980-05-15"},` +
			`"creator":{"id":"11111","first_name":"Dr. Jane","last_name":"Smith"},"assignee":{"staff":null,"team":{"id":"t1","name":"Cardiology"}}`},
		{"unassigned", `"status":"closed","patient":{"id":"67890","sex_at_birth":"Female"},"assignee":null`},
	}
	var out []Case
	for _, ev := range event.Names() {
		for _, s := range shapes {
			out = append(out, Case{Name: ev + "-" + s.name, Type: "task." + ev,
				Event: fmt.Appendf(nil, `{"event_id":"evt-%s-%s","task_id":"12345","event":%q,"title":"Follow up with patient",%s}`, ev, s.name, ev, s.fields)})
		}
	}
	out = append(out, goReporterCases()...)
	return append(out, opsCases()...)
}

// opsCases are every operational event type, as the flusher publishes it (full) and with only
// what the schema requires (minimal).
func opsCases() []Case {
	examples := map[string]string{ops.Disabled: ops.ExampleDisabled, ops.HealthChanged: ops.ExampleHealthChanged,
		ops.Exhausted: ops.ExampleExhausted, ops.Recovered: ops.ExampleRecovered}
	var out []Case
	for _, typ := range ops.Types() {
		name := strings.ReplaceAll(strings.ReplaceAll(typ, ".", "-"), "_", "-")
		out = append(out, Case{Name: name + "-full", Type: typ, Event: []byte(examples[typ])},
			Case{Name: name + "-minimal", Type: typ, Event: fmt.Appendf(nil, `{"type":%q,"event_id":"ops:%s:w:1","occurred_at":"2024-01-15T10:00:00Z",`+
				`"webhook_id":"0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f","webhook_name":"","count":3,"window":{"start":"2024-01-15T10:00:00Z","end":"2024-01-15T10:00:05Z"}}`, typ, typ)})
	}
	return out
}

// goReporterCases are every report and battery type, with everything, without patient,
// device, performer or link, and with only what the schema requires.
func goReporterCases() []Case {
	var out []Case
	add := func(typ, shape, body string) {
		name := strings.ReplaceAll(typ, ".", "-") + "-" + shape
		body = strings.Replace(body, `{"type":"`+typ[:strings.Index(typ, ".")]+`.`, `{"event_id":"evt-`+name+`","type":"`+typ[:strings.Index(typ, ".")]+`.`, 1)
		out = append(out, Case{Name: name, Type: typ, Event: []byte(body)})
	}
	for _, typ := range []string{report.Created, report.Completed} {
		full := strings.Replace(report.Example, `"report.completed"`, strconv.Quote(typ), 1)
		add(typ, "full", full)
		add(typ, "no-patient", `{"type":"`+typ+`","report_id":"R-2024-0042","title":"Remote transmission","status":"preliminary",`+
			`"effective_at":"2024-01-15T10:00:00Z","patient":null,"device":null,"performer":null,"url":null}`)
		add(typ, "minimal", `{"type":"`+typ+`","report_id":"R-2024-0042"}`)
	}
	for _, typ := range []string{battery.Low, battery.Critical} {
		full := strings.Replace(battery.Example, `"battery.critical"`, strconv.Quote(typ), 1)
		add(typ, "full", full)
		add(typ, "no-patient", `{"type":"`+typ+`","device":{"id":"D-991","model":"Azure XT DR"},"patient":null,`+
			`"battery":{"percent":17.5,"status":"LOW"},"occurred_at":"2024-01-15T10:00:00Z"}`)
		add(typ, "minimal", `{"type":"`+typ+`","device":{"id":"D-991"}}`)
	}
	return out
}

// Message is the notify.Message of a case.
func Message(c Case) *notify.Message {
	return &notify.Message{DeliveryID: "00000000-0000-5000-8000-000000000001", EventID: "evt", Type: c.Type,
		Timestamp: time.Date(2024, 1, 10, 9, 0, 0, 0, time.UTC), Event: event.NewLazy(c.Event)}
}

// Catalog is every event family, as the dispatcher has them.
func Catalog(t testing.TB) *event.Catalog {
	t.Helper()
	c, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Golden compares body (JSON, compared indented) with testdata/golden/<name>.json, or writes it
// with -update.
func Golden(t *testing.T, name string, body []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		t.Fatalf("%s: not JSON: %v", name, err)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v (run go test -update to create the golden file)", name, err)
	}
	if !bytes.Equal(want, pretty.Bytes()) {
		t.Errorf("%s differs from %s:\n%s", name, path, pretty.String())
	}
}

// Published is raw as ingest would publish it (validated, event_id filled in) and as the
// dispatcher hands it to a provider: with its type, at 2024-01-10 09:00 UTC.
func Published(t testing.TB, raw []byte) *notify.Message {
	t.Helper()
	v, err := Catalog(t).Validate(raw, "", func() string { return "evt-generated" })
	if err != nil {
		t.Fatalf("not an event ingest accepts: %v", err)
	}
	return &notify.Message{DeliveryID: "00000000-0000-5000-8000-000000000001", EventID: v.ID, Type: v.Type,
		Timestamp: time.Date(2024, 1, 10, 9, 0, 0, 0, time.UTC), Event: event.NewLazy(v.Body)}
}

// Digest is a digest message of n copies of the event raw (of type typ) as a provider that
// lists the first preview events receives it (0: every event).
func Digest(t testing.TB, typ string, raw []byte, n, preview int) *notify.Message {
	t.Helper()
	start := time.Date(2024, 1, 10, 9, 0, 0, 0, time.UTC)
	items := make([]digest.Item, n)
	for i := range items {
		items[i] = digest.Item{Type: typ, Timestamp: start.Add(time.Duration(i) * time.Second), Data: raw}
	}
	docs := digest.Build(digest.Window{Start: start, End: start.Add(15 * time.Minute)}, items, digest.MaxPerMessage, preview)
	b, err := json.Marshal(docs[0])
	if err != nil {
		t.Fatal(err)
	}
	return &notify.Message{DeliveryID: "00000000-0000-5000-8000-000000000002", EventID: "digest:x", Type: digest.Type,
		Timestamp: start.Add(15 * time.Minute), Event: event.NewLazy(b)}
}

// Appointment is the custom event type of the providers' tests, as an admin registers it: a
// missed appointment with a patient, a clinic, a time and a link.
var Appointment = eventtypes.Definition{
	Type:        "appointment.missed",
	Description: "A patient did not come to an appointment",
	Schema: json.RawMessage(`{"type":"object","required":["appointment_id","patient"],"properties":{` +
		`"appointment_id":{"type":"string","minLength":1},"clinic":{"type":"string"},"scheduled_at":{"type":"string","format":"date-time"},` +
		`"url":{"type":"string"},"patient":{"type":"object","required":["id"],"properties":{"id":{"type":"string"},"name":{"type":"string"}}}}}`),
	Example: json.RawMessage(`{"appointment_id":"A-77","clinic":"Cardiology North","scheduled_at":"2024-01-15T10:00:00Z",` +
		`"url":"https://goreporter.example.org/appointments/A-77","patient":{"id":"P-1","name":"John Doe"}}`),
	Summary: event.CustomSummary{Title: "Missed appointment", Severity: "warning",
		Facts: []event.CustomFact{{Name: "Patient", Value: `{{get .event "patient.name"}}`}, {Name: "Clinic", Value: "{{.event.clinic}}"},
			{Name: "Scheduled", Value: `{{date "January 2, 2006 at 3:04 PM" .event.scheduled_at}}`}},
		Link: "{{.event.url}}"},
}

// CustomCatalog is every event family plus the custom type Appointment, as the dispatcher has
// them once it is registered.
func CustomCatalog(t testing.TB) *event.Catalog {
	t.Helper()
	c := Catalog(t)
	d, ps := eventtypes.Check(context.Background(), Appointment, c.BuiltinFamilies())
	if len(ps) > 0 {
		t.Fatalf("appointment.missed: %v", ps)
	}
	d.Version = 1
	if err := c.SetCustom([]event.Custom{d}, eventtypes.Summarizers); err != nil {
		t.Fatal(err)
	}
	return c
}

// CustomCases are the custom type's events: everything, and only what its schema requires.
func CustomCases() []Case {
	return []Case{
		{Name: "appointment-missed-full", Type: "appointment.missed", Event: []byte(`{"event_id":"evt-appt-full","type":"appointment.missed",` +
			`"appointment_id":"A-77","clinic":"Cardiology North","scheduled_at":"2024-01-15T10:00:00Z",` +
			`"url":"https://goreporter.example.org/appointments/A-77","patient":{"id":"P-1","name":"John Doe"}}`)},
		{Name: "appointment-missed-minimal", Type: "appointment.missed", Event: []byte(`{"event_id":"evt-appt-min","type":"appointment.missed",` +
			`"appointment_id":"A-78","patient":{"id":"P-2"}}`)},
	}
}
