// Package chat is what the chat providers (Slack, Teams) share: a task event turned into a
// title and the seed's facts, in the webhook's time zone, with missing values left out cleanly
// and, for channels that must not carry patient data, the patient shown by id only.
package chat

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/pkg/event"
)

// DueLayout formats due dates as in the Canvas seed: "January 15, 2024 at 10:00 AM".
const DueLayout = "January 2, 2006 at 3:04 PM"

// Fact is one labelled line of a message.
type Fact struct {
	Label string
	Value string
}

// Message is a task event ready for a chat channel.
type Message struct {
	Event string // created, updated, due, overdue
	Title string // "📋 New Task Created", "Task Updated", ...
	Facts []Fact
}

// Title is the heading of an event's message.
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

// Build turns a task into a message. loc nil means UTC. With redact, the patient appears by
// id only: no name, birth date or sex.
func Build(t *event.Task, loc *time.Location, redact bool) Message {
	if loc == nil {
		loc = time.UTC
	}
	m := Message{Event: t.Event, Title: Title(t.Event)}
	add := func(label, value string) {
		if value = strings.TrimSpace(value); value != "" {
			m.Facts = append(m.Facts, Fact{Label: label, Value: value})
		}
	}
	add("Title", t.Title)
	if t.DueDate != nil {
		add("Due", t.DueDate.In(loc).Format(DueLayout))
	}
	add("Patient", patient(t.Patient, redact))
	if t.Creator != nil {
		add("Created by", nameOr(t.Creator.FullName(), t.Creator.ID))
	}
	add("Assigned to", assignee(t.Assignee))
	return m
}

func nameOr(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

// patient renders "John Doe (DOB: 05/15/1980, Male)" with only the parts present.
func patient(p *event.Patient, redact bool) string {
	if p == nil {
		return ""
	}
	if redact {
		return p.ID
	}
	var details []string
	if d, err := time.Parse(time.DateOnly, strings.TrimSpace(p.BirthDate)); err == nil {
		details = append(details, "DOB: "+d.Format("01/02/2006"))
	}
	if s := strings.TrimSpace(p.SexAtBirth); s != "" {
		details = append(details, s)
	}
	out := nameOr(p.FullName(), p.ID)
	if len(details) > 0 {
		out += " (" + strings.Join(details, ", ") + ")"
	}
	return out
}

// assignee is the staff member, else the team, else "Unassigned".
func assignee(a *event.Assignee) string {
	if a != nil && a.Staff != nil {
		if n := nameOr(a.Staff.FullName(), a.Staff.ID); n != "" {
			return n
		}
	}
	if a != nil && a.Team != nil {
		if n := nameOr(strings.TrimSpace(a.Team.Name), a.Team.ID); n != "" {
			return n
		}
	}
	return "Unassigned"
}

// Lines is the plain-text form: the title, then "Label: value" per fact.
func (m Message) Lines() []string {
	out := []string{m.Title}
	for _, f := range m.Facts {
		out = append(out, f.Label+": "+f.Value)
	}
	return out
}

// Truncate shortens s to at most n runes, ending with "…" when it cut.
func Truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	return string(r[:n-1]) + "…"
}

// Render is a chat provider's Render: the event's message, shaped by format into the provider's
// JSON body, posted to the webhook URL.
func Render(_ context.Context, t *notify.Target, m *notify.Message, format func(Message) any) (*notify.Request, error) {
	task, err := m.Event.Task()
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(format(Build(task, t.Location, t.Redact)))
	if err != nil {
		return nil, err
	}
	return &notify.Request{URL: t.URL, ContentType: "application/json", Body: body}, nil
}
