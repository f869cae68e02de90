// Package battery declares the battery family: goReporter's device battery alerts, low (below
// 20 %) and critical (elective replacement indicator or end of life), validated by
// schemas/battery-event.v1.json.
package battery

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/schemas"
)

// Types of the family.
const (
	Low      = "battery.low"
	Critical = "battery.critical"
)

// Event is a validated battery event. Pointers are nil when the field was absent or null.
type Event struct {
	Type       string         `json:"type"`
	EventID    string         `json:"event_id"`
	Device     event.Device   `json:"device"`
	Patient    *event.Patient `json:"patient,omitempty"`
	Battery    *Battery       `json:"battery,omitempty"`
	MeasuredAt *time.Time     `json:"measured_at,omitempty"`
	OccurredAt *time.Time     `json:"occurred_at,omitempty"`
}

// Battery is the measurement.
type Battery struct {
	Percent         *float64 `json:"percent,omitempty"`
	Status          string   `json:"status,omitempty"` // OK, LOW, ERI, EOL
	Voltage         *float64 `json:"voltage,omitempty"`
	RemainingMonths *float64 `json:"remaining_months,omitempty"`
}

// Parse decodes a validated battery event.
func Parse(raw []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("decode battery event: %w", err)
	}
	if e.Device.ID == "" || !strings.HasPrefix(e.Type, "battery.") {
		return nil, fmt.Errorf("decode battery event: type and device.id are required")
	}
	return &e, nil
}

// Example is the catalog's example of a critical battery (the contract's).
const Example = `{"type":"battery.critical","device":{"id":"D-991","manufacturer":"Medtronic","model":"Azure XT DR",` +
	`"serial":"RNB123456","kind":"pacemaker"},"patient":{"id":"67890","first_name":"John","last_name":"Doe","birth_date":"1980-05-15"},` +
	`"battery":{"percent":4,"status":"ERI","voltage":2.61,"remaining_months":3},` +
	`"measured_at":"2024-01-15T09:58:00Z","occurred_at":"2024-01-15T10:00:00Z"}`

// Family is the battery family's declaration.
func Family() event.Family {
	low := strings.NewReplacer(`"battery.critical"`, `"battery.low"`, `"percent":4,"status":"ERI","voltage":2.61,"remaining_months":3`,
		`"percent":18,"status":"LOW","voltage":2.79,"remaining_months":14`).Replace(Example)
	return event.Family{
		Name:        "battery",
		Description: "Device battery alerts from goReporter.",
		SchemaFile:  "schemas/battery-event.v1.json",
		SchemaID:    schemas.BatteryEventV1ID,
		Schema:      schemas.BatteryEventV1,
		Types: []event.Type{
			{Type: Low, Label: "Battery low", Description: "A device's battery is below 20 %: plan a replacement.", Example: []byte(low)},
			{Type: Critical, Label: "Battery critical (replace the device)", Description: "A device's battery reached its elective replacement indicator (ERI) or end of life (EOL).", Example: []byte(Example)},
		},
		Subjects:  []string{"battery.*"},
		Summarize: Summarize,
	}
}

// Title is the heading of a battery event's chat message.
func Title(typ string) string {
	if typ == Critical {
		return "Battery Critical"
	}
	return "Battery Low"
}

// Summarize implements event.Family.Summarize: patient, device, battery, voltage, when measured.
func Summarize(typ string, raw []byte, loc *time.Location, redact bool) (event.Summary, error) {
	b, err := Parse(raw)
	if err != nil {
		return event.Summary{}, err
	}
	s := event.Summary{Title: Title(typ), Severity: event.Warning}
	if typ == Critical {
		s.Severity = event.Attention
	}
	s.Add("Patient", b.Patient.Display(redact))
	s.Add("Device", b.Device.Display(redact))
	s.Add("Battery", b.Battery.Display())
	if b.Battery != nil && b.Battery.Voltage != nil {
		s.Add("Voltage", number(*b.Battery.Voltage)+" V")
	}
	s.Add("Measured", event.FormatTime(b.MeasuredAt, loc))
	return s, nil
}

// Display is "4 % (ERI, about 3 months left)" with only the parts present.
func (b *Battery) Display() string {
	if b == nil {
		return ""
	}
	var details []string
	if st := strings.TrimSpace(b.Status); st != "" {
		details = append(details, st)
	}
	if m := b.RemainingMonths; m != nil {
		unit := "months"
		if number(*m) == "1" {
			unit = "month"
		}
		details = append(details, "about "+number(*m)+" "+unit+" left")
	}
	out := ""
	if b.Percent != nil {
		out = number(*b.Percent) + " %"
	}
	if len(details) > 0 {
		if out == "" {
			return strings.Join(details, ", ")
		}
		out += " (" + strings.Join(details, ", ") + ")"
	}
	return out
}

// number formats a measurement without trailing zeros: 4, 2.61.
func number(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
