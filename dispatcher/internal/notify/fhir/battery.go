package fhir

import (
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/pkg/families/battery"
)

// Code systems of the Observation.
const (
	UCUM                 = "http://unitsofmeasure.org" // units of quantities
	InterpretationSystem = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
	DataAbsentSystem     = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
)

// Observation is the part of the FHIR R4 Observation Taskhook writes for a battery event: the
// remaining charge as a Quantity in %, the interpretation (critical abnormal for
// battery.critical, abnormal for battery.low, the battery status as its text), voltage and
// remaining longevity as components, the device and the patient by identifier. Its identifier
// is the event id (options.observation_identifier_system): each measurement is an observation
// of its own, and a retry of the same event never makes a second one.
type Observation struct {
	ResourceType      string       `json:"resourceType"`
	Identifier        []Identifier `json:"identifier"`
	Status            string       `json:"status"`
	Code              Concept      `json:"code"`
	Subject           *Reference   `json:"subject,omitempty"`
	Device            *Reference   `json:"device,omitempty"`
	EffectiveDateTime string       `json:"effectiveDateTime,omitempty"`
	Issued            string       `json:"issued,omitempty"`
	ValueQuantity     *Quantity    `json:"valueQuantity,omitempty"`
	DataAbsentReason  *Concept     `json:"dataAbsentReason,omitempty"` // no percent was sent
	Interpretation    []Concept    `json:"interpretation,omitempty"`
	Component         []Component  `json:"component,omitempty"`
}

// Quantity is a FHIR Quantity in UCUM units.
type Quantity struct {
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	System string  `json:"system"`
	Code   string  `json:"code"`
}

// Component is an Observation.component.
type Component struct {
	Code          Concept   `json:"code"`
	ValueQuantity *Quantity `json:"valueQuantity"`
}

func ucum(v float64, unit, code string) *Quantity {
	return &Quantity{Value: v, Unit: unit, System: UCUM, Code: code}
}

// BuildObservation maps a battery event to an Observation; at is the event time.
func BuildObservation(b *battery.Event, opts Options, at time.Time, loc *time.Location) Observation {
	ts := func(x time.Time) string { return x.In(loc).Format(time.RFC3339) }
	o := Observation{
		ResourceType: "Observation",
		Identifier:   []Identifier{{System: opts.ObservationIdentifierSystem, Value: b.EventID}},
		Status:       "final",
		Code:         Concept{Text: "Device battery remaining"},
		Subject:      patientRef(b.Patient, opts),
		Device: &Reference{Identifier: &Identifier{System: opts.DeviceIdentifierSystem, Value: b.Device.ID},
			Display: b.Device.Display(false)},
		EffectiveDateTime: ts(at),
		Issued:            ts(at),
	}
	switch {
	case b.MeasuredAt != nil:
		o.EffectiveDateTime = ts(*b.MeasuredAt)
	case b.OccurredAt != nil:
		o.EffectiveDateTime = ts(*b.OccurredAt)
	}
	// The type says how bad it is (v3 ObservationInterpretation: critical abnormal, abnormal);
	// the device's own status, when sent, is the text.
	interp := Concept{Coding: []Coding{{System: InterpretationSystem, Code: "A", Display: "Abnormal"}}, Text: "battery low"}
	if b.Type == battery.Critical {
		interp = Concept{Coding: []Coding{{System: InterpretationSystem, Code: "AA", Display: "Critical abnormal"}}, Text: "battery critical"}
	}
	o.Interpretation = []Concept{interp}
	o.DataAbsentReason = &Concept{Coding: []Coding{{System: DataAbsentSystem, Code: "unknown", Display: "Unknown"}}}
	if bat := b.Battery; bat != nil {
		if bat.Percent != nil {
			o.ValueQuantity, o.DataAbsentReason = ucum(*bat.Percent, "%", "%"), nil
		}
		if bat.Status != "" {
			o.Interpretation[0].Text = bat.Status
		}
		if bat.Voltage != nil {
			o.Component = append(o.Component, Component{Code: Concept{Text: "Battery voltage"}, ValueQuantity: ucum(*bat.Voltage, "V", "V")})
		}
		if bat.RemainingMonths != nil {
			o.Component = append(o.Component, Component{Code: Concept{Text: "Estimated remaining longevity"}, ValueQuantity: ucum(*bat.RemainingMonths, "months", "mo")})
		}
	}
	return o
}

func batteryResource(m *notify.Message, opts Options, loc *time.Location) (resource, error) {
	b, err := battery.Parse(m.Event.Raw())
	if err != nil {
		return resource{}, err
	}
	if b.EventID == "" {
		b.EventID = m.EventID
	}
	return resource{kind: "Observation", id: Identifier{System: opts.ObservationIdentifierSystem, Value: b.EventID},
		body: BuildObservation(b, opts, m.Timestamp, loc)}, nil
}
