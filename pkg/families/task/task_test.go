package task

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/pkg/event"
)

func seed(t *testing.T) *event.Task {
	b, err := os.ReadFile("../../../examples/seed-task-created.json")
	if err != nil {
		t.Fatal(err)
	}
	task, err := event.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func TestSeedLines(t *testing.T) {
	got := strings.Join(Build(seed(t), nil, false).Lines(), "\n")
	want := "📋 New Task Created\nTitle: Follow up with patient\nDue: January 15, 2024 at 10:00 AM\n" +
		"Patient: John Doe (DOB: 05/15/1980, Male)\nCreated by: Dr. Jane Smith\nAssigned to: Nurse Johnson"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	ny, _ := time.LoadLocation("America/New_York")
	if m := Build(seed(t), ny, false); m.Facts[1].Value != "January 15, 2024 at 5:00 AM" {
		t.Fatalf("time zone: %q", m.Facts[1].Value)
	}
}

func TestTitles(t *testing.T) {
	for name, want := range map[string]string{"created": "📋 New Task Created", "updated": "Task Updated", "due": "Task Due", "overdue": "Task Overdue"} {
		if Title(name) != want {
			t.Errorf("%s: %q", name, Title(name))
		}
	}
}

func TestMissingFieldsLeaveNoTrace(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*event.Task)
		want   map[string]string // label → value; "" means absent
	}{
		{"no patient", func(t *event.Task) { t.Patient = nil }, map[string]string{"Patient": ""}},
		{"no birth date", func(t *event.Task) { t.Patient.BirthDate = "" }, map[string]string{"Patient": "John Doe (Male)"}},
		{"bad birth date", func(t *event.Task) { t.Patient.BirthDate = "15/05/1980" }, map[string]string{"Patient": "John Doe (Male)"}},
		{"no sex", func(t *event.Task) { t.Patient.SexAtBirth = " " }, map[string]string{"Patient": "John Doe (DOB: 05/15/1980)"}},
		{"no details", func(t *event.Task) { t.Patient.SexAtBirth, t.Patient.BirthDate = "", "" }, map[string]string{"Patient": "John Doe"}},
		{"no names", func(t *event.Task) { t.Patient.FirstName, t.Patient.LastName = "", "" }, map[string]string{"Patient": "67890 (DOB: 05/15/1980, Male)"}},
		{"first name only", func(t *event.Task) { t.Patient.LastName = "" }, map[string]string{"Patient": "John (DOB: 05/15/1980, Male)"}},
		{"no creator", func(t *event.Task) { t.Creator = nil }, map[string]string{"Created by": ""}},
		{"team only", func(t *event.Task) {
			t.Assignee = &event.Assignee{Team: &event.Team{ID: "t1", Name: "Cardiology"}}
		}, map[string]string{"Assigned to": "Cardiology"}},
		{"neither", func(t *event.Task) { t.Assignee = &event.Assignee{} }, map[string]string{"Assigned to": "Unassigned"}},
		{"no assignee", func(t *event.Task) { t.Assignee = nil }, map[string]string{"Assigned to": "Unassigned"}},
		{"no due date", func(t *event.Task) { t.DueDate = nil }, map[string]string{"Due": ""}},
	}
	for _, c := range cases {
		task := seed(t)
		c.mutate(task)
		m := Build(task, nil, false)
		facts := map[string]string{}
		for _, f := range m.Facts {
			facts[f.Label] = f.Value
		}
		for label, want := range c.want {
			if facts[label] != want {
				t.Errorf("%s: %s = %q, want %q", c.name, label, facts[label], want)
			}
		}
		text := strings.Join(m.Lines(), "\n")
		for _, bad := range []string{"null", "<nil>", "()", "( ", " )", ", )", "(, ", ": \n"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s: %q in\n%s", c.name, bad, text)
			}
		}
	}
}

func TestRedact(t *testing.T) {
	text := strings.Join(Build(seed(t), nil, true).Lines(), "\n")
	if !strings.Contains(text, "Patient: 67890") {
		t.Fatalf("redacted patient line missing: %s", text)
	}
	for _, phi := range []string{"John Doe", "Doe", "05/15/1980", "Male"} { // "Nurse Johnson" is staff, not the patient
		if strings.Contains(text, phi) {
			t.Errorf("redacted message carries %q", phi)
		}
	}
}
