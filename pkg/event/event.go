// Package event defines the task event that flows through Taskhook, its NATS subjects and its
// validation against schemas/task-event.v1.json.
package event

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Event names accepted in the "event" field; each maps to the subject task.<name>.
const (
	Created = "created"
	Updated = "updated"
	Due     = "due"
	Overdue = "overdue"
)

// SubjectPrefix is the common prefix of every task subject.
const SubjectPrefix = "task."

// Names lists the accepted event names in a stable order.
func Names() []string { return []string{Created, Updated, Due, Overdue} }

// Subjects lists the NATS subjects of the event stream, one per event name.
func Subjects() []string {
	names := Names()
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = SubjectPrefix + n
	}
	return out
}

// Subject returns the NATS subject for an event name ("created" → "task.created").
func Subject(name string) string { return SubjectPrefix + name }

// IsSubject reports whether s is one of the task subjects.
func IsSubject(s string) bool {
	name, ok := strings.CutPrefix(s, SubjectPrefix)
	if !ok {
		return false
	}
	for _, n := range Names() {
		if n == name {
			return true
		}
	}
	return false
}

// Task is a validated task event. Field names follow the JSON schema; pointers are nil when the
// field was absent or null.
type Task struct {
	EventID    string     `json:"event_id"`
	TaskID     string     `json:"task_id"`
	Event      string     `json:"event"`
	Title      string     `json:"title"`
	DueDate    *time.Time `json:"due_date,omitempty"`
	Status     string     `json:"status,omitempty"`
	OccurredAt *time.Time `json:"occurred_at,omitempty"`
	Patient    *Patient   `json:"patient,omitempty"`
	Creator    *Person    `json:"creator,omitempty"`
	Assignee   *Assignee  `json:"assignee,omitempty"`
}

// Patient is the patient a task is about. BirthDate is YYYY-MM-DD.
type Patient struct {
	ID         string `json:"id"`
	FirstName  string `json:"first_name,omitempty"`
	LastName   string `json:"last_name,omitempty"`
	BirthDate  string `json:"birth_date,omitempty"`
	SexAtBirth string `json:"sex_at_birth,omitempty"`
}

// Person is a staff member (creator or assignee).
type Person struct {
	ID        string `json:"id"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
}

// Team is a care team a task can be assigned to.
type Team struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Assignee is who a task is assigned to: a staff member, a team, both or neither.
type Assignee struct {
	Staff *Person `json:"staff,omitempty"`
	Team  *Team   `json:"team,omitempty"`
}

// Subject returns the task's NATS subject.
func (t *Task) Subject() string { return Subject(t.Event) }

// FullName joins first and last name, skipping empty parts.
func (p *Person) FullName() string {
	if p == nil {
		return ""
	}
	return joinName(p.FirstName, p.LastName)
}

// FullName joins first and last name, skipping empty parts.
func (p *Patient) FullName() string {
	if p == nil {
		return ""
	}
	return joinName(p.FirstName, p.LastName)
}

func joinName(first, last string) string {
	return strings.TrimSpace(strings.TrimSpace(first) + " " + strings.TrimSpace(last))
}

// Parse decodes an event that has already been validated (as published on the stream).
// It is lenient about unknown nested fields and strict about JSON syntax.
func Parse(data []byte) (*Task, error) {
	var t Task
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("decode task event: %w", err)
	}
	if t.TaskID == "" || t.Event == "" {
		return nil, fmt.Errorf("decode task event: task_id and event are required")
	}
	return &t, nil
}
