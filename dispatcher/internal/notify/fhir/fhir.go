// Package fhir is the provider for EMRs over FHIR R4: a task event becomes a Task, a report
// event a DiagnosticReport (report.go), a battery event an Observation of the device's battery
// (battery.go), each POSTed to <base>/<type> as application/fhir+json with a conditional create
// (If-None-Exist on its identifier) so that a retry or a redelivery never creates a second one.
//
// Task mapping: identifier = {system: options.identifier_system (default urn:taskhook:task-id),
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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/pkg/event"
)

// DefaultIdentifierSystem is the identifier system when options do not set one.
const DefaultIdentifierSystem = "urn:taskhook:task-id"

// ContentType is FHIR's JSON media type.
const ContentType = "application/fhir+json"

// Default identifier systems, when options set none.
const (
	DefaultReportSystem       = "urn:taskhook:report-id"
	DefaultObservationSystem  = "urn:taskhook:event-id"
	DefaultPatientSystem      = "urn:taskhook:patient-id"
	DefaultDeviceSystem       = "urn:taskhook:device-id"
	DefaultPractitionerSystem = "urn:taskhook:practitioner-id"
)

// Options are a FHIR webhook's options: the identifier systems of what Taskhook writes and
// refers to, and the code of its DiagnosticReports.
type Options struct {
	IdentifierSystem             string  `json:"identifier_system"`              // Task.identifier
	ReportIdentifierSystem       string  `json:"report_identifier_system"`       // DiagnosticReport.identifier
	ObservationIdentifierSystem  string  `json:"observation_identifier_system"`  // Observation.identifier (the event id)
	PatientIdentifierSystem      string  `json:"patient_identifier_system"`      // subject of reports and observations
	DeviceIdentifierSystem       string  `json:"device_identifier_system"`       // Observation.device
	PractitionerIdentifierSystem string  `json:"practitioner_identifier_system"` // DiagnosticReport.performer
	ReportCode                   *Coding `json:"report_code"`                    // DiagnosticReport.code; else the report type as text
}

func parseOptions(raw json.RawMessage) (Options, error) {
	o := Options{IdentifierSystem: DefaultIdentifierSystem, ReportIdentifierSystem: DefaultReportSystem,
		ObservationIdentifierSystem: DefaultObservationSystem, PatientIdentifierSystem: DefaultPatientSystem, DeviceIdentifierSystem: DefaultDeviceSystem,
		PractitionerIdentifierSystem: DefaultPractitionerSystem}
	if s := strings.TrimSpace(string(raw)); s == "" || s == "null" || s == "{}" {
		return o, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &ute) && ute.Field != "":
			return o, fmt.Errorf("fhir option %s has the wrong type: want %s", ute.Field, ute.Type)
		case strings.Contains(err.Error(), "unknown field"):
			return o, fmt.Errorf("%s in fhir options (known: identifier_system, report_identifier_system, observation_identifier_system, "+
				"patient_identifier_system, device_identifier_system, practitioner_identifier_system, report_code)", strings.TrimPrefix(err.Error(), "json: "))
		}
		return o, fmt.Errorf("fhir options must be a JSON object")
	}
	for name, v := range map[string]string{"identifier_system": o.IdentifierSystem, "report_identifier_system": o.ReportIdentifierSystem,
		"observation_identifier_system": o.ObservationIdentifierSystem, "patient_identifier_system": o.PatientIdentifierSystem,
		"device_identifier_system": o.DeviceIdentifierSystem, "practitioner_identifier_system": o.PractitionerIdentifierSystem} {
		if err := checkSystem(v); err != nil {
			return o, fmt.Errorf("%s %w", name, err)
		}
	}
	if c := o.ReportCode; c != nil {
		if c.Code == "" || strings.ContainsAny(c.Code, " \t\n") {
			return o, fmt.Errorf("report_code.code is required and has no spaces (e.g. {\"system\": \"http://loinc.org\", \"code\": \"11526-1\"})")
		}
		if err := checkSystem(c.System); err != nil {
			return o, fmt.Errorf("report_code.system %w", err)
		}
	}
	return o, nil
}

func checkSystem(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || strings.ContainsAny(s, " |") {
		return fmt.Errorf("must be an absolute URI (e.g. https://ehr.example.org/task-id or urn:oid:1.2.3), got %q", s)
	}
	return nil
}

// Provider renders FHIR resources: a Task per task event, a DiagnosticReport per report event,
// an Observation per battery event.
type Provider struct{}

// New returns the FHIR provider.
func New() *Provider { return &Provider{} }

// Name implements notify.Provider.
func (*Provider) Name() string { return "fhir" }

// DigestPolicy implements notify.DigestPolicy: no digests.
func (*Provider) DigestPolicy() (preview int, refuse string) {
	return 0, "it writes one FHIR resource per event"
}

// Families implements notify.FamilyRenderer: the families FHIR has a resource for.
func (*Provider) Families() []string { return []string{event.TaskFamily, "report", "battery"} }

// Form implements notify.Described.
func (*Provider) Form() notify.Form {
	return notify.Form{Label: "FHIR R4 (Epic and other EMRs)", URLLabel: "FHIR base URL",
		AuthTypes: credential.Types(),
		Options: []notify.Option{
			{Name: "identifier_system", Label: "Task identifier system", Placeholder: DefaultIdentifierSystem},
			{Name: "report_identifier_system", Label: "Report identifier system", Placeholder: DefaultReportSystem},
			{Name: "observation_identifier_system", Label: "Observation identifier system", Placeholder: DefaultObservationSystem},
			{Name: "patient_identifier_system", Label: "Patient identifier system", Placeholder: DefaultPatientSystem},
			{Name: "device_identifier_system", Label: "Device identifier system", Placeholder: DefaultDeviceSystem},
			{Name: "practitioner_identifier_system", Label: "Practitioner identifier system", Placeholder: DefaultPractitionerSystem},
		}}
}

// CheckOptions implements notify.Provider.
func (*Provider) CheckOptions(raw json.RawMessage) error {
	_, err := parseOptions(raw)
	return err
}

// Reference is a FHIR Reference: literal (Patient/67890) or logical (by identifier).
type Reference struct {
	Reference  string      `json:"reference,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
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

// Concept is a FHIR CodeableConcept.
type Concept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Coding is a FHIR Coding.
type Coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
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

// Render implements notify.Provider: the resource of the event's family, POSTed to
// <base>/<resource type> with a conditional create on its identifier.
func (*Provider) Render(_ context.Context, t *notify.Target, m *notify.Message) (*notify.Request, error) {
	opts, err := parseOptions(t.Options)
	if err != nil {
		return nil, err
	}
	loc := t.Location
	if loc == nil {
		loc = time.UTC
	}
	var res resource
	switch family, _, _ := strings.Cut(m.Type, "."); family {
	case "report":
		res, err = reportResource(m, opts, loc)
	case "battery":
		res, err = batteryResource(m, opts, loc)
	default: // task; a message without a type is a task event, as before families
		res, err = taskResource(m, opts, loc)
	}
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(res.body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Accept", ContentType)
	base := strings.TrimRight(t.URL, "/") + "/" + res.kind
	if res.update {
		// A conditional update: the Task with this identifier takes the new state (or is created
		// when there is none); sending it again changes nothing more.
		return &notify.Request{Method: http.MethodPut, URL: base + "?" + IfNoneExist(res.id.System, res.id.Value), ContentType: ContentType, Header: h, Body: body}, nil
	}
	h.Set("If-None-Exist", IfNoneExist(res.id.System, res.id.Value))
	return &notify.Request{URL: base, ContentType: ContentType, Header: h, Body: body}, nil
}

// resource is a rendered FHIR resource: its type, its identifier, its JSON, and whether it
// updates the resource with that identifier (conditional update) rather than creating it once.
type resource struct {
	kind   string
	id     Identifier
	body   any
	update bool
}

func taskResource(m *notify.Message, opts Options, loc *time.Location) (resource, error) {
	task, err := m.Event.Task()
	if err != nil {
		return resource{}, err
	}
	// task.created creates the Task once (If-None-Exist); every later event of the task (updated,
	// due, overdue) updates it in place, so that the EMR sees its new status, due date and owner.
	return resource{kind: "Task", id: Identifier{System: opts.IdentifierSystem, Value: task.TaskID},
		body: Build(task, opts.IdentifierSystem, m.Timestamp, loc), update: task.Event != event.Created}, nil
}

// Classify implements notify.Provider: the shared rules; 412 means the identifier matches
// several Tasks on the server, which a retry cannot fix.
func (*Provider) Classify(r *notify.Response) notify.Outcome {
	out := notify.Classify(r)
	if r.Err == nil && r.StatusCode == http.StatusPreconditionFailed {
		out.Reason = "fhir: 412 Precondition Failed: several resources carry this identifier; resolve them on the FHIR server"
	}
	return out
}
