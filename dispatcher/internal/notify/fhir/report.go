package fhir

import (
	"strings"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/families/report"
)

// DiagnosticReport is the part of the FHIR R4 DiagnosticReport Taskhook writes for a report
// event: identifier = report id (options.report_identifier_system), status, code
// (options.report_code, else the report type as text), subject = the patient and performer =
// the practitioner by identifier, effectiveDateTime, issued, conclusion, presentedForm = the
// link to the report.
type DiagnosticReport struct {
	ResourceType      string       `json:"resourceType"`
	Identifier        []Identifier `json:"identifier"`
	Status            string       `json:"status"`
	Code              Concept      `json:"code"`
	Subject           *Reference   `json:"subject,omitempty"`
	EffectiveDateTime string       `json:"effectiveDateTime,omitempty"`
	Issued            string       `json:"issued,omitempty"`
	Performer         []Reference  `json:"performer,omitempty"`
	Conclusion        string       `json:"conclusion,omitempty"`
	PresentedForm     []Attachment `json:"presentedForm,omitempty"`
}

// Attachment is a FHIR Attachment by URL.
type Attachment struct {
	URL   string `json:"url"`
	Title string `json:"title,omitempty"`
}

// ReportStatus is the DiagnosticReport status: the event's (goReporter uses FHIR's), else
// registered for a created report and final for a completed one.
func ReportStatus(r *report.Event) string {
	if r.Status != "" {
		return r.Status
	}
	if r.Type == report.Completed {
		return "final"
	}
	return "registered"
}

// BuildReport maps a report event to a DiagnosticReport; at is the event time (issued when the
// event has no issued_at).
func BuildReport(r *report.Event, opts Options, at time.Time, loc *time.Location) DiagnosticReport {
	ts := func(x time.Time) string { return x.In(loc).Format(time.RFC3339) }
	dr := DiagnosticReport{
		ResourceType: "DiagnosticReport",
		Identifier:   []Identifier{{System: opts.ReportIdentifierSystem, Value: r.ReportID}},
		Status:       ReportStatus(r),
		Code:         Concept{Text: event.NameOr(strings.ReplaceAll(r.ReportType, "_", " "), event.NameOr(r.Title, "Device report"))},
		Conclusion:   r.Conclusion,
		Subject:      patientRef(r.Patient, opts),
	}
	if c := opts.ReportCode; c != nil {
		dr.Code.Coding = []Coding{*c}
	}
	if r.EffectiveAt != nil { // the clinically relevant time; when the event was sent is not it
		dr.EffectiveDateTime = ts(*r.EffectiveAt)
	}
	// issued is when the report was made available to providers: goReporter's issued_at, else
	// the time of the event that made it final.
	switch {
	case r.IssuedAt != nil:
		dr.Issued = ts(*r.IssuedAt)
	case dr.Status == "final" || dr.Status == "amended":
		dr.Issued = ts(at)
	}
	if p := r.Performer; p != nil {
		dr.Performer = []Reference{{Identifier: &Identifier{System: opts.PractitionerIdentifierSystem, Value: p.ID}, Display: p.FullName()}}
	}
	if u := strings.TrimSpace(r.URL); u != "" {
		dr.PresentedForm = []Attachment{{URL: u, Title: strings.TrimSpace(r.Title)}}
	}
	return dr
}

// patientRef refers to a patient by identifier (the source system's id under
// options.patient_identifier_system), as EMRs match patients; nil without a patient.
func patientRef(p *event.Patient, opts Options) *Reference {
	if p == nil {
		return nil
	}
	return &Reference{Identifier: &Identifier{System: opts.PatientIdentifierSystem, Value: p.ID}, Display: p.FullName()}
}

func reportResource(m *notify.Message, opts Options, loc *time.Location) (resource, error) {
	r, err := report.Parse(m.Event.Raw())
	if err != nil {
		return resource{}, err
	}
	return resource{kind: "DiagnosticReport", id: Identifier{System: opts.ReportIdentifierSystem, Value: r.ReportID},
		body: BuildReport(r, opts, m.Timestamp, loc)}, nil
}
