package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestEventTypePages: every type is listed with its schema and example; an admin registers a
// custom type through the form (an example that fails the schema is shown at its field, nothing
// saved), edits it (a new version), and a viewer sees it but cannot create or edit.
func TestEventTypePages(t *testing.T) {
	d := start(t)
	admin := d.signIn(adminToken)
	viewer := d.signIn(viewerToken)
	if a := d.do("GET", "/ui/event-types", viewer, nil); a.status != 200 || !strings.Contains(a.body, "task.created") ||
		!strings.Contains(a.body, "schemas/battery-event.v1.json") || !strings.Contains(a.body, "No custom event types yet") || strings.Contains(a.body, "New event type") {
		t.Fatalf("list as viewer: %d", a.status)
	}
	if a := d.do("GET", "/ui/event-types/new", viewer, nil); a.status != http.StatusForbidden {
		t.Fatalf("viewer's new page: %d", a.status)
	}
	token := d.csrf(admin)
	form := url.Values{"csrf": {token}, "type": {"appointment.missed"}, "description": {"A patient did not come"},
		"schema":  {`{"type":"object","required":["patient_id","clinic"],"properties":{"patient_id":{"type":"string"},"clinic":{"type":"string"}}}`},
		"example": {`{"patient_id":"P-1"}`}, "title": {"Missed appointment"}, "severity": {"warning"},
		"fact_name": {"Clinic", "", ""}, "fact_value": {"{{.event.clinic}}", "", ""}, "link": {""}}
	same := []string{"Origin: " + d.base, "Sec-Fetch-Site: same-origin"}
	a := d.do("POST", "/ui/event-types/new", admin, form, same...)
	if a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `id="err-example"`) || !strings.Contains(a.body, "at /clinic: is required") ||
		!strings.Contains(a.body, `aria-invalid="true"`) {
		t.Fatalf("an example that fails: %d %s", a.status, a.body)
	}
	bad := with(form, "schema", `{"type":`)
	if a := d.do("POST", "/ui/event-types/new", admin, bad, same...); a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `id="err-schema"`) {
		t.Fatalf("a schema that is not JSON: %d", a.status)
	}
	badFact := with(with(form, "example", `{"patient_id":"P-1","clinic":"North"}`), "fact_value", "{{.event.clinic")
	if a := d.do("POST", "/ui/event-types/new", admin, badFact, same...); a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, "fact 1 value: does not parse") {
		t.Fatalf("a fact that does not parse: %d %s", a.status, a.body)
	}
	if a := d.do("GET", "/ui/event-types", admin, nil); strings.Contains(a.body, "appointment.missed") {
		t.Fatal("a refused form saved the type")
	}
	ok := with(form, "example", `{"patient_id":"P-1","clinic":"North"}`)
	if a := d.do("POST", "/ui/event-types/new", admin, ok, same...); a.status != http.StatusSeeOther || a.header.Get("Location") != "/ui/event-types?done=typesaved" {
		t.Fatalf("register: %d %s", a.status, a.body)
	}
	a = d.do("GET", "/ui/event-types", viewer, nil)
	if !strings.Contains(a.body, "appointment.missed") || !strings.Contains(a.body, "version 1") || !strings.Contains(a.body, "{{.event.clinic}}") || strings.Contains(a.body, "/edit") {
		t.Fatalf("list after register: %s", a.body)
	}
	if a := d.do("GET", "/ui/event-types/appointment.missed/edit", viewer, nil); a.status != http.StatusForbidden {
		t.Fatalf("viewer's edit page: %d", a.status)
	}
	a = d.do("GET", "/ui/event-types/appointment.missed/edit", admin, nil)
	if a.status != 200 || !strings.Contains(a.body, `value="appointment.missed"`) || !strings.Contains(a.body, "readonly") || !strings.Contains(a.body, "&#34;clinic&#34;: &#34;North&#34;") {
		t.Fatalf("edit page: %d %s", a.status, a.body)
	}
	edit := with(ok, "severity", "critical")
	if a := d.do("POST", "/ui/event-types/appointment.missed/edit", admin, edit, same...); a.status != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", a.status, a.body)
	}
	if a := d.do("GET", "/ui/event-types", admin, nil); !strings.Contains(a.body, "version 2") || !strings.Contains(a.body, "critical") {
		t.Fatal("edit not shown")
	}
	if a := d.do("GET", "/ui/event-types/task.created/edit", admin, nil); a.status != http.StatusNotFound {
		t.Fatalf("edit a built-in type: %d", a.status)
	}
	// The webhook form offers the custom type beside the built-in ones.
	if a := d.do("GET", "/ui/webhooks/new", admin, nil); !strings.Contains(a.body, `value="appointment.missed"`) {
		t.Fatal("the webhook form does not offer the custom type")
	}
}
