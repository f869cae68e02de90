// Package fhir is the provider for EMRs over FHIR R4: each event becomes a Task resource POSTed
// to <base>/Task as application/fhir+json, with a conditional create (If-None-Exist on the
// task's identifier) so that a retry or a redelivery never creates a second Task.
//
// Mapping: identifier = {system: options.identifier_system (default urn:taskhook:task-id),
// value: task_id}; status from the Canvas status (open or absent → requested, completed →
// completed, closed → cancelled); businessStatus.text = the event (created, updated, due,
// overdue), so that due and overdue are visible in the EMR; priority urgent for overdue events,
// routine otherwise; intent order; description = title; for = Patient/<id>; requester =
// Practitioner/<creator id>; owner = Practitioner/<staff id>, or CareTeam/<team id> for a task
// assigned to a team (CareTeam is FHIR's resource for a care team); restriction.period.end =
// due date; authoredOn = occurred_at (else the event time); lastModified = the event time. Times
// are written in the webhook's time zone. Authentication is the webhook's auth (SMART Backend
// Services for Epic and most EMRs). Updates are posted the same way: a conditional create does
// not change an existing Task (the FHIR server answers 200 with it).
package fhir

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/pkg/event"
)

// DefaultIdentifierSystem is the identifier system when options do not set one.
const DefaultIdentifierSystem = "urn:taskhook:task-id"

// ContentType is FHIR's JSON media type.
const ContentType = "application/fhir+json"

// Options are a FHIR webhook's options.
type Options struct {
	IdentifierSystem string `json:"identifier_system"`
}

// Provider renders FHIR Tasks.
type Provider struct{}

// New returns the FHIR provider.
func New() *Provider { return &Provider{} }

// Name implements notify.Provider.
func (*Provider) Name() string { return "fhir" }

func parseOptions(raw json.RawMessage) (Options, error) {
	o := Options{IdentifierSystem: DefaultIdentifierSystem}
	if s := strings.TrimSpace(string(raw)); s == "" || s == "null" || s == "{}" {
		return o, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return o, fmt.Errorf("fhir options must be a JSON object")
	}
	for k, v := range m {
		if k != "identifier_system" {
			return o, fmt.Errorf("unknown fhir option %q (known: identifier_system)", k)
		}
		if err := json.Unmarshal(v, &o.IdentifierSystem); err != nil {
			return o, fmt.Errorf("identifier_system must be a string")
		}
	}
	u, err := url.Parse(o.IdentifierSystem)
	if err != nil || u.Scheme == "" || strings.ContainsAny(o.IdentifierSystem, " |") {
		return o, fmt.Errorf("identifier_system must be an absolute URI (e.g. https://ehr.example.org/task-id or urn:oid:1.2.3), got %q", o.IdentifierSystem)
	}
	return o, nil
}

// CheckOptions implements notify.Provider.
func (*Provider) CheckOptions(raw json.RawMessage) error {
	_, err := parseOptions(raw)
	return err
}

// Reference is a FHIR Reference.
type Reference struct {
	Reference string `json:"reference"`
	Display   string `json:"display,omitempty"`
}

// Task is the part of the FHIR R4 Task resource Taskhook writes.
type Task struct {
	ResourceType   string       `json:"resourceType"`
	Identifier     []Identifier `json:"identifier"`
	Status         string       `json:"status"`
	BusinessStatus *Concept     `json:"businessStatus,omitempty"`
	Intent         string       `json:"intent"`
	Priority       string       `json:"priority"`
	Description    string       `json:"description"`
	For            *Reference   `json:"for,omitempty"`
	AuthoredOn     string       `json:"authoredOn,omitempty"`
	LastModified   string       `json:"lastModified,omitempty"`
	Requester      *Reference   `json:"requester,omitempty"`
	Owner          *Reference   `json:"owner,omitempty"`
	Restriction    *Restriction `json:"restriction,omitempty"`
}

// Identifier is a FHIR Identifier.
type Identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// Concept is a FHIR CodeableConcept (text only).
type Concept struct {
	Text string `json:"text"`
}

// Restriction is Task.restriction.
type Restriction struct {
	Period Period `json:"period"`
}

// Period is a FHIR Period.
type Period struct {
	End string `json:"end,omitempty"`
}

// Status maps a Canvas task status to a FHIR Task status.
func Status(s string) string {
	switch s {
	case "completed":
		return "completed"
	case "closed":
		return "cancelled"
	}
	return "requested"
}

// Build maps a task event to a FHIR Task.
func Build(t *event.Task, system string, at time.Time, loc *time.Location) Task {
	if loc == nil {
		loc = time.UTC
	}
	ts := func(x time.Time) string { return x.In(loc).Format(time.RFC3339) }
	task := Task{
		ResourceType:   "Task",
		Identifier:     []Identifier{{System: system, Value: t.TaskID}},
		Status:         Status(t.Status),
		BusinessStatus: &Concept{Text: t.Event},
		Intent:         "order",
		Priority:       "routine",
		Description:    t.Title,
		LastModified:   ts(at),
		AuthoredOn:     ts(at),
	}
	if t.Event == event.Overdue {
		task.Priority = "urgent"
	}
	if t.OccurredAt != nil {
		task.AuthoredOn = ts(*t.OccurredAt)
	}
	if p := t.Patient; p != nil {
		task.For = &Reference{Reference: "Patient/" + p.ID, Display: p.FullName()}
	}
	if c := t.Creator; c != nil {
		task.Requester = &Reference{Reference: "Practitioner/" + c.ID, Display: c.FullName()}
	}
	if a := t.Assignee; a != nil {
		switch {
		case a.Staff != nil:
			task.Owner = &Reference{Reference: "Practitioner/" + a.Staff.ID, Display: a.Staff.FullName()}
		case a.Team != nil:
			task.Owner = &Reference{Reference: "CareTeam/" + a.Team.ID, Display: strings.TrimSpace(a.Team.Name)}
		}
	}
	if t.DueDate != nil {
		task.Restriction = &Restriction{Period: Period{End: ts(*t.DueDate)}}
	}
	return task
}

// searchEscape escapes a FHIR token search value (\ | , $ take a backslash) and then for a
// URL query, as If-None-Exist carries the query part of a search URL.
func searchEscape(s string) string {
	s = strings.NewReplacer(`\`, `\\`, `|`, `\|`, `,`, `\,`, `$`, `\$`).Replace(s)
	return url.QueryEscape(s)
}

// IfNoneExist is the conditional-create header for a task: identifier=<system>|<value>.
func IfNoneExist(system, value string) string {
	return "identifier=" + searchEscape(system) + "|" + searchEscape(value)
}

// Render implements notify.Provider.
func (*Provider) Render(_ context.Context, t *notify.Target, m *notify.Message) (*notify.Request, error) {
	task, err := m.Event.Task()
	if err != nil {
		return nil, err
	}
	opts, err := parseOptions(t.Options)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(Build(task, opts.IdentifierSystem, m.Timestamp, t.Location))
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("If-None-Exist", IfNoneExist(opts.IdentifierSystem, task.TaskID))
	h.Set("Accept", ContentType)
	return &notify.Request{URL: strings.TrimRight(t.URL, "/") + "/Task", ContentType: ContentType, Header: h, Body: body}, nil
}

// Classify implements notify.Provider: the shared rules; 412 means the identifier matches
// several Tasks on the server, which a retry cannot fix.
func (*Provider) Classify(r *notify.Response) notify.Outcome {
	out := notify.Classify(r)
	if r.Err == nil && r.StatusCode == http.StatusPreconditionFailed {
		out.Reason = "fhir: 412 Precondition Failed: several Tasks carry this identifier; resolve them on the FHIR server"
	}
	return out
}
