package families_test

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/families"
	"github.com/taskhook/taskhook/pkg/families/battery"
	"github.com/taskhook/taskhook/pkg/families/ops"
	"github.com/taskhook/taskhook/pkg/families/report"
)

func catalog(t testing.TB) *event.Catalog {
	t.Helper()
	c, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fixedID() string { return "generated-1" }

// TestExamplesAreValid: every type's example passes its own schema, is of its own type, and
// renders for chat.
func TestExamplesAreValid(t *testing.T) {
	c := catalog(t)
	want := []string{"task.created", "task.updated", "task.due", "task.overdue", "report.created", "report.completed", "battery.low", "battery.critical",
		"webhook.disabled", "webhook.health_changed", "delivery.exhausted", "delivery.recovered"}
	if got := c.TypeNames(); !slices.Equal(got, want) {
		t.Fatalf("types %v, want %v", got, want)
	}
	for _, typ := range c.Types() {
		validate := func(b []byte) (*event.Validated, error) { return c.Validate(b, "", fixedID) }
		if c.Internal(typ.Type) {
			validate = c.ValidateInternal
		}
		v, err := validate(typ.Example)
		if err != nil {
			t.Errorf("%s: example rejected: %v", typ.Type, err)
			continue
		}
		if v.Type != typ.Type || v.Subject != typ.Type || v.Family != typ.Family || typ.Description == "" {
			t.Errorf("%s: validated as %+v", typ.Type, v)
		}
		s, err := c.Summarize(typ.Type, v.Body, time.UTC, false)
		if err != nil || s.Title == "" || len(s.Facts) == 0 {
			t.Errorf("%s: summary %+v %v", typ.Type, s, err)
		}
	}
}

func TestSubjects(t *testing.T) {
	want := "task.created,task.updated,task.due,task.overdue,report.*,battery.*,webhook.*,delivery.*"
	if got := strings.Join(families.Subjects(), ","); got != want {
		t.Fatalf("subjects %s, want %s", got, want)
	}
	if got := strings.Join(catalog(t).Subjects(), ","); got != want {
		t.Fatalf("catalog subjects %s", got)
	}
}

func TestExpand(t *testing.T) {
	c := catalog(t)
	cases := []struct {
		pattern string
		want    string
		ok      bool
	}{
		{"*", "task.created,task.updated,task.due,task.overdue,report.created,report.completed,battery.low,battery.critical", true},
		{"webhook.*", "webhook.disabled,webhook.health_changed", true},
		{"delivery.*", "delivery.exhausted,delivery.recovered", true},
		{"delivery.exhausted", "delivery.exhausted", true},
		{"task.*", "task.created,task.updated,task.due,task.overdue", true},
		{"report.*", "report.created,report.completed", true},
		{"battery.*", "battery.low,battery.critical", true},
		{"battery.critical", "battery.critical", true},
		{"battery.dead", "", false},
		{"device.*", "", false},
		{"report", "", false},
		{"*.created", "", false},
		{"", "", false},
	}
	for _, k := range cases {
		got, ok := c.Expand(k.pattern)
		if ok != k.ok || strings.Join(got, ",") != k.want {
			t.Errorf("Expand(%q) = %v %v, want %q %v", k.pattern, got, ok, k.want, k.ok)
		}
	}
}

// TestValidateFamilies: the family comes from "type"; each family's bad inputs are 422 with
// pointers and name the schema that was applied.
func TestValidateFamilies(t *testing.T) {
	c := catalog(t)
	cases := []struct {
		name, body string
		family     string // "" for an unknown type
		paths      []string
		msg        string
	}{
		{name: "task type disagrees", body: `{"type":"task.due","task_id":"1","event":"created","title":"t"}`, family: "task", paths: []string{"/type"}, msg: "disagrees"},
		{name: "unknown type", body: `{"type":"battery.dead","device":{"id":"d"}}`, paths: []string{"/type"}, msg: "battery.critical"},
		{name: "operational event sent to ingest", body: ops.ExampleDisabled, paths: []string{"/type"}, msg: "Taskhook publishes itself"},
		{name: "operational type without the rest", body: `{"type":"delivery.exhausted"}`, paths: []string{"/type"}, msg: "cannot be sent to ingest"},
		{name: "type not a string", body: `{"type":7,"task_id":"1","event":"created","title":"t"}`, paths: []string{"/type"}, msg: "unknown event type 7"},
		{name: "report without its type", body: `{"report_id":"R-1","status":"final"}`, family: "task", paths: []string{"/type", "/event", "/report_id", "/status", "/task_id", "/title"}, msg: "is required for events other than task events"},
		{name: "report without id", body: `{"type":"report.completed"}`, family: "report", paths: []string{"/report_id"}, msg: "required"},
		{name: "report bad status", body: `{"type":"report.completed","report_id":"r","status":"done"}`, family: "report", paths: []string{"/status"}},
		{name: "report bad date", body: `{"type":"report.created","report_id":"r","effective_at":"yesterday"}`, family: "report", paths: []string{"/effective_at"}, msg: "date-time"},
		{name: "report bad url", body: `{"type":"report.created","report_id":"r","url":"goreporter/r/1"}`, family: "report", paths: []string{"/url"}},
		{name: "report url without host", body: `{"type":"report.created","report_id":"r","url":"http://"}`, family: "report", paths: []string{"/url"}},
		{name: "report url with a space", body: `{"type":"report.created","report_id":"r","url":"https://x.example/a b"}`, family: "report", paths: []string{"/url"}},
		{name: "report url with credentials", body: `{"type":"report.created","report_id":"r","url":"https://u:p@x.example/a"}`, family: "report", paths: []string{"/url"}},
		{name: "report unknown field", body: `{"type":"report.created","report_id":"r","reportid":"x"}`, family: "report", paths: []string{"/reportid"}, msg: "report event schema"},
		{name: "report device without id", body: `{"type":"report.created","report_id":"r","device":{"model":"x"}}`, family: "report", paths: []string{"/device/id"}},
		{name: "battery without device", body: `{"type":"battery.low"}`, family: "battery", paths: []string{"/device"}, msg: "required"},
		{name: "battery device without id", body: `{"type":"battery.low","device":{"serial":"s"}}`, family: "battery", paths: []string{"/device/id"}},
		{name: "battery percent over 100", body: `{"type":"battery.low","device":{"id":"d"},"battery":{"percent":140}}`, family: "battery", paths: []string{"/battery/percent"}},
		{name: "battery percent a string", body: `{"type":"battery.low","device":{"id":"d"},"battery":{"percent":"4"}}`, family: "battery", paths: []string{"/battery/percent"}},
		{name: "battery bad status", body: `{"type":"battery.critical","device":{"id":"d"},"battery":{"status":"DEAD"}}`, family: "battery", paths: []string{"/battery/status"}},
		{name: "battery task fields", body: `{"type":"battery.critical","device":{"id":"d"},"task_id":"1"}`, family: "battery", paths: []string{"/task_id"}, msg: "battery event schema"},
		{name: "date-time with a signed hour", body: `{"type":"battery.low","device":{"id":"d"},"measured_at":"0000-01-01T+0:00:00Z"}`, family: "battery", paths: []string{"/measured_at"}, msg: "RFC 3339"},
		{name: "date-time in lower case", body: `{"task_id":"1","event":"due","title":"t","due_date":"2024-01-15t10:00:00z"}`, family: "task", paths: []string{"/due_date"}, msg: "RFC 3339"},
		{name: "date-time leap second", body: `{"type":"report.created","report_id":"r","issued_at":"2016-12-31T23:59:60Z"}`, family: "report", paths: []string{"/issued_at"}},
		{name: "battery bad birth date", body: `{"type":"battery.low","device":{"id":"d"},"patient":{"id":"p","birth_date":"1980-02-30"}}`, family: "battery", paths: []string{"/patient/birth_date"}},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			_, err := c.Validate([]byte(k.body), "", fixedID)
			var ie *event.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("want InvalidError, got %v", err)
			}
			var paths []string
			for _, d := range ie.Details {
				paths = append(paths, d.Path)
			}
			if ie.Family != k.family || !slices.Equal(paths, k.paths) {
				t.Fatalf("family %q paths %q, want %q %q (%v)", ie.Family, paths, k.family, k.paths, ie)
			}
			if k.msg != "" && !strings.Contains(ie.Details[0].Message, k.msg) {
				t.Fatalf("message %q does not mention %q", ie.Details[0].Message, k.msg)
			}
			if k.family != "" && !strings.Contains(ie.Summary(), "schemas/"+k.family+"-event.v1.json") {
				t.Fatalf("summary %q does not name the schema", ie.Summary())
			}
		})
	}
}

// TestTaskWithoutTypeIsUnchanged: the Canvas payload, without "type", is a task event as
// before; with a matching type it is the same event.
func TestTaskWithoutTypeIsUnchanged(t *testing.T) {
	c := catalog(t)
	for _, body := range []string{
		`{"task_id":"1","event":"due","title":"t"}`,
		`{"type":"task.due","task_id":"1","event":"due","title":"t"}`,
	} {
		v, err := c.Validate([]byte(body), "k", fixedID)
		if err != nil || v.Type != "task.due" || v.Family != "task" || v.ID != "k" {
			t.Fatalf("%s: %+v %v", body, v, err)
		}
	}
}

func TestBatteryDisplay(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	cases := []struct {
		b    *battery.Battery
		want string
	}{
		{&battery.Battery{Percent: f(4), Status: "ERI", RemainingMonths: f(3)}, "4 % (ERI, about 3 months left)"},
		{&battery.Battery{Percent: f(18.5)}, "18.5 %"},
		{&battery.Battery{Status: "EOL"}, "EOL"},
		{&battery.Battery{RemainingMonths: f(1), Status: "ERI"}, "ERI, about 1 month left"},
		{&battery.Battery{}, ""},
		{nil, ""},
	}
	for _, k := range cases {
		if got := k.b.Display(); got != k.want {
			t.Errorf("%+v: %q, want %q", k.b, got, k.want)
		}
	}
}

func TestDeviceDisplay(t *testing.T) {
	cases := []struct {
		d    *event.Device
		want string
	}{
		{&event.Device{ID: "D-991", Manufacturer: "Medtronic", Model: "Azure XT DR", Serial: "RNB123456"}, "Medtronic Azure XT DR (SN RNB123456)"},
		{&event.Device{ID: "D-991", Model: "Azure XT DR"}, "Azure XT DR"},
		{&event.Device{ID: "D-991", Serial: "RNB123456"}, "SN RNB123456"},
		{&event.Device{ID: "D-991"}, "D-991"},
		{nil, ""},
	}
	for _, k := range cases {
		if got := k.d.Display(false); got != k.want {
			t.Errorf("%+v: %q, want %q", k.d, got, k.want)
		}
	}
}

func TestSummaries(t *testing.T) {
	c := catalog(t)
	ny, _ := time.LoadLocation("America/New_York")
	cases := []struct {
		typ      string
		body     string
		redact   bool
		severity event.Severity
		lines    string
	}{
		{"battery.critical", battery.Example, false, event.Attention,
			"Battery Critical\nPatient: John Doe (DOB: 05/15/1980)\nDevice: Medtronic Azure XT DR (SN RNB123456)\nBattery: 4 % (ERI, about 3 months left)\nVoltage: 2.61 V\nMeasured: January 15, 2024 at 4:58 AM"},
		{"battery.critical", battery.Example, true, event.Attention,
			"Battery Critical\nPatient: 67890\nDevice: Medtronic Azure XT DR\nBattery: 4 % (ERI, about 3 months left)\nVoltage: 2.61 V\nMeasured: January 15, 2024 at 4:58 AM"},
		{"battery.low", `{"type":"battery.low","device":{"id":"D-7"}}`, false, event.Warning, "Battery Low\nDevice: D-7"},
		{"report.completed", report.Example, false, event.Good,
			"Report Completed\nReport: Remote transmission\nType: remote interrogation\nStatus: final\nPatient: John Doe (DOB: 05/15/1980, Male)\n" +
				"Device: Medtronic Azure XT DR (SN RNB123456)\nPerformed by: Dr. Jane Smith\nEffective: January 15, 2024 at 5:00 AM\n" +
				"Conclusion: Normal device function. Battery 7.5 years.\nView report: https://goreporter.example.org/reports/R-2024-0042"},
		{"report.created", `{"type":"report.created","report_id":"R-1"}`, false, event.Neutral, "Report Created\nReport: R-1"},
		{"report.completed", report.Example, true, event.Good,
			"Report Completed\nReport: Remote transmission\nType: remote interrogation\nStatus: final\nPatient: 67890\n" +
				"Device: Medtronic Azure XT DR\nPerformed by: Dr. Jane Smith\nEffective: January 15, 2024 at 5:00 AM\n" +
				"View report: https://goreporter.example.org/reports/R-2024-0042"},
	}
	for _, k := range cases {
		s, err := c.Summarize(k.typ, []byte(k.body), ny, k.redact)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(s.Lines(), "\n"); got != k.lines || s.Severity != k.severity {
			t.Errorf("%s redact=%v:\n%s (%s)\nwant\n%s (%s)", k.typ, k.redact, got, s.Severity, k.lines, k.severity)
		}
	}
}

// FuzzValidate: no input may panic; whatever is accepted is an object of a known type with its
// event id, which its family decodes and summarizes. The seed corpus covers every family and
// runs in every `go test`.
func FuzzValidate(f *testing.F) {
	c := catalog(f)
	for _, typ := range c.Types() {
		f.Add([]byte(typ.Example))
	}
	f.Add([]byte(`{"task_id":"1","event":"created","title":"t","assignee":{"team":{"id":"x"}}}`))
	f.Add([]byte(`{"type":"task.created","task_id":"1","event":"due","title":"t"}`))
	f.Add([]byte(`{"type":"report.created","report_id":"r","url":"https://x/y"}`))
	f.Add([]byte(`{"type":"battery.low","device":{"id":"d"},"battery":{"percent":1e400}}`))
	f.Add([]byte(`{"type":"battery.low","device":{"id":"d"},"battery":null,"patient":null}`))
	f.Add([]byte(`{"type":null}`))
	f.Add([]byte(`[{"task_id":"1"}]`))
	f.Add([]byte("\xff\xfe{"))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := c.Validate(body, "", fixedID)
		if err != nil {
			var me *event.MalformedError
			var ie *event.InvalidError
			if !errors.As(err, &me) && !errors.As(err, &ie) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		typ, fam, ok := c.Lookup(got.Type)
		if !ok || fam.Name != got.Family || typ.Type != got.Subject {
			t.Fatalf("accepted as unknown type %+v", got)
		}
		var head struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(got.Body, &head); err != nil || head.EventID != got.ID {
			t.Fatalf("event id %q not in the body %q (%v)", got.ID, got.Body, err)
		}
		if _, err := c.Summarize(got.Type, got.Body, time.UTC, true); err != nil {
			t.Fatalf("accepted body does not decode: %v\n%q", err, got.Body)
		}
	})
}

// TestExampleFiles: the files in examples/ are valid events of their types, equal to the
// catalog's examples.
func TestExampleFiles(t *testing.T) {
	c := catalog(t)
	for file, typ := range map[string]string{"seed-task-created.json": "task.created",
		"goreporter-report-completed.json": "report.completed", "goreporter-battery-critical.json": "battery.critical"} {
		b, err := os.ReadFile("../../examples/" + file)
		if err != nil {
			t.Fatal(err)
		}
		v, err := c.Validate(b, "", fixedID)
		if err != nil || v.Type != typ {
			t.Fatalf("%s: %+v %v", file, v, err)
		}
		want, _, _ := c.Lookup(typ)
		var a, e any
		_ = json.Unmarshal(b, &a)
		_ = json.Unmarshal(want.Example, &e)
		if !reflect.DeepEqual(a, e) {
			t.Errorf("%s differs from the catalog's example of %s", file, typ)
		}
	}
}

// The operational events table of docs/events.md lists exactly the catalog's internal types,
// in its order.
func TestDocsOperationalTableMatchesTheCatalog(t *testing.T) {
	b, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "## Operational events")
	if !ok {
		t.Fatal("docs/events.md has no Operational events section")
	}
	var documented []string
	for _, l := range strings.Split(after, "\n") {
		if strings.HasPrefix(l, "## ") {
			break
		}
		if cell, ok := strings.CutPrefix(l, "| `"); ok {
			documented = append(documented, cell[:strings.Index(cell, "`")])
		}
	}
	cat := catalog(t)
	var internal []string
	for _, ty := range cat.TypeNames() {
		if cat.Internal(ty) {
			internal = append(internal, ty)
		}
	}
	if strings.Join(documented, ",") != strings.Join(internal, ",") {
		t.Errorf("docs/events.md's operational events %v, the catalog's %v", documented, internal)
	}
}
