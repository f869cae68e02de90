// Package notifytest holds what the providers' tests share: the task events every provider is
// rendered for (each event type, with and without patient, creator, staff or team), and golden
// files (go test -update rewrites them).
package notifytest

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/pkg/event"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Case is a named task event.
type Case struct {
	Name  string
	Event []byte
}

// Cases are every event type crossed with the shapes a task takes.
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
			out = append(out, Case{Name: ev + "-" + s.name,
				Event: fmt.Appendf(nil, `{"event_id":"evt-%s-%s","task_id":"12345","event":%q,"title":"Follow up with patient",%s}`, ev, s.name, ev, s.fields)})
		}
	}
	return out
}

// Message is the notify.Message of a case.
func Message(c Case) *notify.Message {
	var head struct{ Event string }
	_ = json.Unmarshal(c.Event, &head)
	return &notify.Message{DeliveryID: "00000000-0000-5000-8000-000000000001", EventID: "evt", Type: event.Subject(head.Event),
		Timestamp: time.Date(2024, 1, 10, 9, 0, 0, 0, time.UTC), Event: event.NewLazy(c.Event)}
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
