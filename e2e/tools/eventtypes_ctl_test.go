package tools

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskhook/taskhook/client"
)

// TestTaskhookctlEventTypes: event-types list, get and apply -f (create, then replace) and
// delete against the real binaries; a bad definition exits 1 with the pointer.
func TestTaskhookctlEventTypes(t *testing.T) {
	s := newStack(t)
	dir := t.TempDir()
	for _, c := range [][]string{{"event-types"}, {"event-types", "list"}, {"event-types", "get"}, {"event-types", "apply"}, {"event-types", "delete"}} {
		if out := s.mustCtl(t, 0, "", append(c, "--help")...); !strings.Contains(out, "Usage:") {
			t.Fatalf("%v --help:\n%s", c, out)
		}
	}
	s.mustCtl(t, 2, "", "event-types", "apply")
	s.mustCtl(t, 2, "", "event-types", "get")
	def := filepath.Join(dir, "appointment.json")
	write := func(required string) {
		t.Helper()
		err := os.WriteFile(def, []byte(`{"type": "appointment.missed", "description": "A patient did not come",
  "schema": {"type": "object", "required": [`+required+`], "properties": {"patient_id": {"type": "string"}, "clinic": {"type": "string"}}},
  "example": {"patient_id": "P-1", "clinic": "North"},
  "summary": {"title": "Missed appointment", "severity": "warning", "facts": [{"name": "Clinic", "value": "{{.event.clinic}}"}]}}`), 0o644)
		if err != nil {
			t.Fatal(err)
		}
	}
	write(`"patient_id"`)
	if out := s.mustCtl(t, 0, "", "event-types", "apply", "-f", def); !strings.Contains(out, "appointment.missed: version 1") {
		t.Fatalf("apply (create):\n%s", out)
	}
	write(`"patient_id", "clinic"`)
	v := decodeJSON[client.EventType](t, s.mustCtl(t, 0, "", "event-types", "apply", "-f", def, "-o", "json"))
	if v.Version != 2 || !v.Custom || !strings.Contains(string(v.Schema), "clinic") {
		t.Fatalf("apply (replace): %+v", v)
	}
	if out := s.mustCtl(t, 0, "", "event-types", "list"); !strings.Contains(out, "appointment.missed") || !strings.Contains(out, "custom") || !strings.Contains(out, "task.created") {
		t.Fatalf("list:\n%s", out)
	}
	if out := s.mustCtl(t, 0, "", "event-types", "get", "appointment.missed"); !strings.Contains(out, "Missed appointment (warning)") || !strings.Contains(out, `"patient_id":"P-1"`) {
		t.Fatalf("get:\n%s", out)
	}
	if err := os.WriteFile(def, []byte(`{"type": "appointment.missed", "schema": {"type": "object", "required": ["clinic"]}, "example": {}, "summary": {"title": "x"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := s.ctl(t, "", "event-types", "apply", "-f", def); code != 1 || !strings.Contains(errOut, "/example/clinic") {
		t.Fatalf("a bad definition: exit %d %s", code, errOut)
	}
	s.mustCtl(t, 0, "", "event-types", "delete", "appointment.missed")
	if _, errOut, code := s.ctl(t, "", "event-types", "get", "appointment.missed"); code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("get after delete: exit %d %s", code, errOut)
	}
}
