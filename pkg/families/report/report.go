// Package report declares the report family: goReporter's device reports (a remote
// interrogation of a cardiac implant, say) created and completed, validated by
// schemas/report-event.v1.json.
package report

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/schemas"
)

// Types of the family.
const (
	Created   = "report.created"
	Completed = "report.completed"
)

// Event is a validated report event. Pointers are nil when the field was absent or null.
type Event struct {
	Type        string         `json:"type"`
	EventID     string         `json:"event_id"`
	ReportID    string         `json:"report_id"`
	Title       string         `json:"title,omitempty"`
	ReportType  string         `json:"report_type,omitempty"`
	Status      string         `json:"status,omitempty"`
	EffectiveAt *time.Time     `json:"effective_at,omitempty"`
	IssuedAt    *time.Time     `json:"issued_at,omitempty"`
	OccurredAt  *time.Time     `json:"occurred_at,omitempty"`
	Conclusion  string         `json:"conclusion,omitempty"`
	URL         string         `json:"url,omitempty"`
	Patient     *event.Patient `json:"patient,omitempty"`
	Device      *event.Device  `json:"device,omitempty"`
	Performer   *event.Person  `json:"performer,omitempty"`
}

// Parse decodes a validated report event.
func Parse(raw []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("decode report event: %w", err)
	}
	if e.ReportID == "" || !strings.HasPrefix(e.Type, "report.") {
		return nil, fmt.Errorf("decode report event: type and report_id are required")
	}
	return &e, nil
}

// Example is the catalog's example of a completed report (the contract's).
const Example = `{"type":"report.completed","report_id":"R-2024-0042","title":"Remote transmission",` +
	`"report_type":"remote_interrogation","status":"final","effective_at":"2024-01-15T10:00:00Z","issued_at":"2024-01-15T12:30:00Z",` +
	`"conclusion":"Normal device function. Battery 7.5 years.","url":"https://goreporter.example.org/reports/R-2024-0042",` +
	`"patient":{"id":"67890","first_name":"John","last_name":"Doe","birth_date":"1980-05-15","sex_at_birth":"Male"},` +
	`"device":{"id":"D-991","manufacturer":"Medtronic","model":"Azure XT DR","serial":"RNB123456","kind":"pacemaker"},` +
	`"performer":{"id":"11111","first_name":"Dr. Jane","last_name":"Smith"},"occurred_at":"2024-01-15T12:30:00Z"}`

// Family is the report family's declaration.
func Family() event.Family {
	created := strings.NewReplacer(`"report.completed"`, `"report.created"`, `"status":"final"`, `"status":"registered"`,
		`"conclusion":"Normal device function. Battery 7.5 years.",`, ``, `,"issued_at":"2024-01-15T12:30:00Z"`, ``).Replace(Example)
	return event.Family{
		Name:        "report",
		Description: "Device reports from goReporter (remote or in-clinic interrogations of cardiac devices).",
		SchemaFile:  "schemas/report-event.v1.json",
		SchemaID:    schemas.ReportEventV1ID,
		Schema:      schemas.ReportEventV1,
		Types: []event.Type{
			{Type: Created, Label: "Device report received", Description: "A device report was received and awaits review.", Example: []byte(created)},
			{Type: Completed, Label: "Device report signed", Description: "A device report was reviewed and signed: its conclusion is final.", Example: []byte(Example)},
		},
		Subjects:  []string{"report.*"},
		Summarize: Summarize,
	}
}

// Title is the heading of a report event's chat message.
func Title(typ string) string {
	if typ == Completed {
		return "Report Completed"
	}
	return "Report Created"
}

// Summarize implements event.Family.Summarize: the report, its status, patient, device, who
// performed it, when, its conclusion and a link to it. With redact the patient is shown by id,
// the device without its serial number, and the conclusion (free text) not at all.
func Summarize(typ string, raw []byte, loc *time.Location, redact bool) (event.Summary, error) {
	r, err := Parse(raw)
	if err != nil {
		return event.Summary{}, err
	}
	s := event.Summary{Title: Title(typ), Severity: event.Neutral}
	if typ == Completed {
		s.Severity = event.Good
	}
	s.Add("Report", event.NameOr(strings.TrimSpace(r.Title), r.ReportID))
	s.Add("Type", strings.ReplaceAll(r.ReportType, "_", " "))
	s.Add("Status", r.Status)
	s.Add("Patient", r.Patient.Display(redact))
	s.Add("Device", r.Device.Display(redact))
	if r.Performer != nil {
		s.Add("Performed by", event.NameOr(r.Performer.FullName(), r.Performer.ID))
	}
	s.Add("Effective", event.FormatTime(r.EffectiveAt, loc))
	if !redact { // free text: it may name the patient
		s.Add("Conclusion", r.Conclusion)
	}
	if u := strings.TrimSpace(r.URL); u != "" {
		s.Link = &event.Link{Label: "View report", URL: u}
	}
	return s, nil
}
