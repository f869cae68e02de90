package event_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/families"
)

var builtin = []string{"task", "report", "battery", "webhook", "delivery"}

func TestCheckTypeName(t *testing.T) {
	cases := []struct {
		name string
		want string // "" ok, else a part of the message
	}{
		{"appointment.missed", ""},
		{"patient_registration.created", ""},
		{"health.check2", ""},
		{"Appointment.missed", "lower case"},
		{"appointment", "<family>.<event>"},
		{"appointment.missed.today", "<family>.<event>"},
		{"appointment.*", "<family>.<event>"},
		{"*", "<family>.<event>"},
		{"2fa.sent", "<family>.<event>"},
		{"appointment.", "<family>.<event>"},
		{".missed", "<family>.<event>"},
		{"appointment missed", "<family>.<event>"},
		{"appointment.missed ", "<family>.<event>"},
		{strings.Repeat("a", 33) + ".x", "up to 32"},
		{"a." + strings.Repeat("b", 65), "up to 64"},
		{"task.missed", "built in"},
		{"battery.empty", "built in"},
		{"webhook.created", "built in"},
		{"delivery.late", "built in"},
		{"report.signed", "built in"},
	}
	for _, k := range cases {
		got := event.CheckTypeName(k.name, builtin)
		if (k.want == "") != (got == "") || !strings.Contains(got, k.want) {
			t.Errorf("CheckTypeName(%q) = %q, want %q", k.name, got, k.want)
		}
	}
}

const apptSchema = `{"type":"object","required":["type","appointment_id","patient"],"properties":{
 "type":{"const":"appointment.missed"},"event_id":{"type":"string"},"appointment_id":{"type":"string","minLength":1},
 "scheduled_at":{"type":"string","format":"date-time"},
 "patient":{"$ref":"#/$defs/patient"}},"additionalProperties":false,
 "$defs":{"patient":{"type":"object","required":["id"],"properties":{"id":{"type":"string"},"name":{"type":"string"}}}}}`

const apptExample = `{"type":"appointment.missed","appointment_id":"A-1","scheduled_at":"2024-01-15T10:00:00Z","patient":{"id":"P-1","name":"John Doe"}}`

func TestCompileCustomSchema(t *testing.T) {
	cases := []struct {
		name, schema string
		path, msg    string // "" path and msg: compiles
	}{
		{"ok", apptSchema, "", ""},
		{"not JSON", `{"type":`, "", "not JSON"},
		{"an array", `[]`, "", "JSON Schema object"},
		{"not an object schema", `{"type":"string"}`, "/type", `must be "object"`},
		{"no type", `{"properties":{}}`, "/type", `must be "object"`},
		{"remote ref", `{"type":"object","properties":{"p":{"$ref":"https://example.org/patient.json"}}}`, "/properties/p/$ref", "only local references"},
		{"relative ref", `{"type":"object","properties":{"p":{"$ref":"patient.json"}}}`, "/properties/p/$ref", "only local references"},
		{"remote dynamic ref", `{"type":"object","$dynamicRef":"http://x/y"}`, "/$dynamicRef", "only local references"},
		{"other draft", `{"$schema":"http://json-schema.org/draft-04/schema#","type":"object"}`, "/$schema", "2020-12"},
		{"unresolvable local ref", `{"type":"object","properties":{"p":{"$ref":"#/$defs/missing"}}}`, "", "does not compile"},
		{"bad keyword value", `{"type":"object","properties":{"p":{"minLength":"three"}}}`, "/properties/p/minLength", "does not compile"},
		{"bad pattern", `{"type":"object","properties":{"p":{"type":"string","pattern":"("}}}`, "/properties/p/pattern", "does not compile"},
		{"too large", `{"type":"object","description":"` + strings.Repeat("x", 64<<10) + `"}`, "", "64 KiB"},
		{"too deep", `{"type":"object","properties":` + strings.Repeat(`{"a":{"type":"object","properties":`, 20) + `{}` + strings.Repeat(`}}`, 20) + `}`, "", "deeper than 32"},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			sch, ds := event.CompileCustomSchema("appointment.missed", []byte(k.schema))
			if k.msg == "" {
				if sch == nil || len(ds) > 0 {
					t.Fatalf("refused: %v", ds)
				}
				return
			}
			if sch != nil || len(ds) == 0 {
				t.Fatal("compiled")
			}
			if !strings.HasPrefix(ds[0].Path, k.path) || !strings.Contains(ds[0].Message, k.msg) {
				t.Fatalf("got %+v, want path %q message with %q", ds, k.path, k.msg)
			}
		})
	}
}

func appt(version int, schema string) event.Custom {
	return event.Custom{Type: "appointment.missed", Description: "A patient missed an appointment", Schema: []byte(schema), Example: []byte(apptExample),
		Summary: event.CustomSummary{Title: "Missed appointment", Severity: "warning"}, Version: version, UpdatedAt: time.Unix(int64(version), 0)}
}

// TestCatalogCustomTypes: custom types validate with pointers, join patterns and subjects, and
// are replaced or removed by the next SetCustom, built-in types untouched.
func TestCatalogCustomTypes(t *testing.T) {
	c, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	builtinTypes := c.TypeNames()
	if got := c.BuiltinFamilies(); !slices.Equal(got, builtin) {
		t.Fatalf("builtin families %v", got)
	}
	if _, err := c.Validate([]byte(apptExample), "", fixedID); err == nil {
		t.Fatal("unknown type accepted before registration")
	}
	gen := c.Generation()
	booked := event.Custom{Type: "appointment.booked", Schema: []byte(`{"type":"object"}`), Example: []byte(`{"type":"appointment.booked"}`), Version: 1}
	bad := event.Custom{Type: "task.extra", Schema: []byte(`{"type":"object"}`), Version: 1}
	err = c.SetCustom([]event.Custom{appt(1, apptSchema), booked, bad}, nil)
	if err == nil || !strings.Contains(err.Error(), "task.extra") {
		t.Fatalf("built-in family not reported: %v", err)
	}
	if c.Generation() == gen {
		t.Fatal("generation unchanged")
	}
	v, err := c.Validate([]byte(apptExample), "", fixedID)
	if err != nil || v.Type != "appointment.missed" || v.Family != "appointment" || v.TypeVersion != 1 || !strings.Contains(string(v.Body), `"event_id":"generated-1"`) {
		t.Fatalf("%+v %v", v, err)
	}
	for _, k := range []struct{ body, path string }{
		{`{"type":"appointment.missed","patient":{"id":"P"}}`, "/appointment_id"},
		{`{"type":"appointment.missed","appointment_id":"A","patient":{}}`, "/patient/id"},
		{`{"type":"appointment.missed","appointment_id":"A","patient":{"id":"P"},"extra":1}`, "/extra"},
		{`{"type":"appointment.missed","appointment_id":"A","patient":{"id":"P"},"scheduled_at":"yesterday"}`, "/scheduled_at"},
		{`{"type":"appointment.booked","event_id":7}`, "/event_id"},
		{`{"type":"appointment.cancelled"}`, "/type"},
		{`{"type":"task.extra"}`, "/type"},
	} {
		_, err := c.Validate([]byte(k.body), "", fixedID)
		var ie *event.InvalidError
		if !errors.As(err, &ie) || ie.Details[0].Path != k.path {
			t.Errorf("%s: %v, want a 422 at %s", k.body, err, k.path)
			continue
		}
		if k.path != "/type" && !strings.Contains(ie.Summary(), "registered schema of appointment.") {
			t.Errorf("%s: summary %q", k.body, ie.Summary())
		}
	}
	if got, ok := c.Expand("appointment.*"); !ok || strings.Join(got, ",") != "appointment.booked,appointment.missed" {
		t.Fatalf("appointment.* = %v %v", got, ok)
	}
	if got, _ := c.Expand("*"); !slices.Contains(got, "appointment.missed") {
		t.Fatalf("* = %v", got)
	}
	if subj := c.Subjects(); subj[len(subj)-1] != "appointment.*" {
		t.Fatalf("subjects %v", subj)
	}
	if tp, _, _ := c.Lookup("appointment.missed"); !tp.Custom || tp.Version != 1 || string(tp.Schema) != apptSchema {
		t.Fatalf("lookup %+v", tp)
	}
	// Replace: a stricter schema applies at once; remove the other type.
	strict := strings.Replace(apptSchema, `"required":["type","appointment_id","patient"]`, `"required":["type","appointment_id","patient","scheduled_at"]`, 1)
	if err := c.SetCustom([]event.Custom{appt(2, strict)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Validate([]byte(`{"type":"appointment.missed","appointment_id":"A","patient":{"id":"P"}}`), "", fixedID); err == nil || !strings.Contains(err.Error(), "/scheduled_at") {
		t.Fatalf("new rule not enforced: %v", err)
	}
	if c.IsType("appointment.booked") {
		t.Fatal("removed type still known")
	}
	if err := c.SetCustom(nil, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.TypeNames(), builtinTypes) || c.IsType("appointment.missed") {
		t.Fatalf("types %v", c.TypeNames())
	}
	if _, ok := c.Expand("appointment.*"); ok {
		t.Fatal("family pattern of no type accepted")
	}
}

func TestSummarizersGiveCustomFamiliesASummary(t *testing.T) {
	c, _ := families.Catalog()
	err := c.SetCustom([]event.Custom{appt(1, apptSchema)}, func(d event.Custom) (event.SummarizeFunc, error) {
		return func(typ string, raw []byte, loc *time.Location, redact bool) (event.Summary, error) {
			return event.Summary{Title: d.Summary.Title + " " + typ, Severity: event.Warning}, nil
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Summarize("appointment.missed", []byte(apptExample), time.UTC, false)
	if err != nil || s.Title != "Missed appointment appointment.missed" {
		t.Fatalf("%+v %v", s, err)
	}
}
