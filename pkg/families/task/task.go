// Package task declares the task family: the Canvas "Task Webhook" payload (created, updated)
// and goReporter's task reminders (due, overdue), validated by schemas/task-event.v1.json. A
// task body needs no "type": its "event" gives it (task.<event>).
package task

import (
	"strings"
	"time"

	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/schemas"
)

// Seed is the Canvas seed's task (examples/seed-task-created.json) as the catalog's example.
const Seed = `{"task_id":"12345","event":"created","title":"Follow up with patient","due_date":"2024-01-15T10:00:00Z",` +
	`"patient":{"id":"67890","first_name":"John","last_name":"Doe","birth_date":"1980-05-15","sex_at_birth":"Male"},` +
	`"creator":{"id":"11111","first_name":"Dr. Jane","last_name":"Smith"},` +
	`"assignee":{"staff":{"id":"22222","first_name":"Nurse","last_name":"Johnson"},"team":null}}`

func example(name, extra string) []byte {
	return []byte(strings.Replace(Seed, `"event":"created"`, `"event":"`+name+`"`+extra, 1))
}

// Family is the task family's declaration.
func Family() event.Family {
	return event.Family{
		Name:        event.TaskFamily,
		Description: "Clinical tasks (Canvas EHR, goReporter): created, updated, due today, overdue.",
		SchemaFile:  "schemas/task-event.v1.json",
		SchemaID:    schemas.TaskEventV1ID,
		Schema:      schemas.TaskEventV1,
		Types: []event.Type{
			{Type: "task.created", Label: "Task created", Description: "A task was created (the Canvas Task Webhook payload).", Example: []byte(Seed)},
			{Type: "task.updated", Label: "Task changed", Description: "A task changed: title, due date, status or assignee.", Example: example(event.Updated, `,"status":"open"`)},
			{Type: "task.due", Label: "Task due today", Description: "A task falls due today.", Example: example(event.Due, `,"status":"open"`)},
			{Type: "task.overdue", Label: "Task overdue", Description: "A task is past its due date and still open.", Example: example(event.Overdue, `,"status":"open"`)},
		},
		// The four subjects the stream had before families existed, kept as they were.
		Subjects:   []string{"task.created", "task.updated", "task.due", "task.overdue"},
		EventField: "event",
		Summarize:  Summarize,
	}
}

// Title is the heading of a task event's chat message.
func Title(name string) string {
	switch name {
	case event.Created:
		return "📋 New Task Created"
	case event.Updated:
		return "Task Updated"
	case event.Due:
		return "Task Due"
	case event.Overdue:
		return "Task Overdue"
	}
	return "Task " + name
}

// Severity is how a task event is coloured: overdue attention, due warning, created good.
func Severity(name string) event.Severity {
	switch name {
	case event.Overdue:
		return event.Attention
	case event.Due:
		return event.Warning
	case event.Created:
		return event.Good
	}
	return event.Neutral
}

// Summarize implements event.Family.Summarize for task events.
func Summarize(_ string, raw []byte, loc *time.Location, redact bool) (event.Summary, error) {
	t, err := event.Parse(raw)
	if err != nil {
		return event.Summary{}, err
	}
	return Build(t, loc, redact), nil
}

// Build is the seed's message: Title, Due, Patient, Created by, Assigned to, each left out
// cleanly when missing. loc nil means UTC.
func Build(t *event.Task, loc *time.Location, redact bool) event.Summary {
	s := event.Summary{Title: Title(t.Event), Severity: Severity(t.Event)}
	s.Add("Title", t.Title)
	s.Add("Due", event.FormatTime(t.DueDate, loc))
	s.Add("Patient", t.Patient.Display(redact))
	if t.Creator != nil {
		s.Add("Created by", event.NameOr(t.Creator.FullName(), t.Creator.ID))
	}
	s.Add("Assigned to", assignee(t.Assignee))
	return s
}

// assignee is the staff member, else the team, else "Unassigned".
func assignee(a *event.Assignee) string {
	if a != nil && a.Staff != nil {
		if n := event.NameOr(a.Staff.FullName(), a.Staff.ID); n != "" {
			return n
		}
	}
	if a != nil && a.Team != nil {
		if n := event.NameOr(strings.TrimSpace(a.Team.Name), a.Team.ID); n != "" {
			return n
		}
	}
	return "Unassigned"
}
