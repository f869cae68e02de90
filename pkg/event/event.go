// Package event is what every Taskhook service knows of events: the catalog of families
// (declared in pkg/families), validation against each family's JSON Schema, and the task event
// of the Canvas payload that the core decodes.
package event

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Task event names accepted in the "event" field; each maps to the type task.<name>.
const (
	Created = "created"
	Updated = "updated"
	Due     = "due"
	Overdue = "overdue"
)

// TaskFamily is the name of the task family: every task type is task.<event>.
const TaskFamily = "task"

// Names lists the accepted task event names in a stable order.
func Names() []string { return []string{Created, Updated, Due, Overdue} }

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

// Type returns the task's event type (its NATS subject): task.<event>.
func (t *Task) Type() string { return TaskFamily + "." + t.Event }

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

func trimSpace(s string) string { return strings.TrimSpace(s) }

// NameOr is name, or id when name is empty.
func NameOr(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

// Display is how chat messages show a patient: "John Doe (DOB: 05/15/1980, Male)" with only the
// parts present; with redact, the id alone (no name, birth date or sex).
func (p *Patient) Display(redact bool) string {
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
	out := NameOr(p.FullName(), p.ID)
	if len(details) > 0 {
		out += " (" + strings.Join(details, ", ") + ")"
	}
	return out
}

// Device is an implanted or wearable device (report and battery events).
type Device struct {
	ID           string `json:"id"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Serial       string `json:"serial,omitempty"`
	Kind         string `json:"kind,omitempty"`
}

// Display is "Medtronic Azure XT DR (SN RNB123456)", with only the parts present, else the id.
// With redact the serial number, an identifier of the patient's implant, is left out.
func (d *Device) Display(redact bool) string {
	if d == nil {
		return ""
	}
	out := joinName(d.Manufacturer, d.Model)
	if s := strings.TrimSpace(d.Serial); s != "" && !redact {
		if out == "" {
			return "SN " + s
		}
		out += " (SN " + s + ")"
	}
	return NameOr(out, d.ID)
}

// DateLayout formats times in chat messages as in the Canvas seed: "January 15, 2024 at 10:00 AM".
const DateLayout = "January 2, 2006 at 3:04 PM"

// FormatTime is t in loc (nil: UTC) in DateLayout; "" for nil.
func FormatTime(t *time.Time, loc *time.Location) string {
	if t == nil {
		return ""
	}
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(DateLayout)
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
