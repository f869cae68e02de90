// Package alert makes deliveries reach a person: a webhook with an escalation policy opens an
// alert for every event it delivers; its messages carry an acknowledge link; an alert not
// acknowledged in time (or whose delivery gave up) is delivered to the policy's other webhooks,
// step by step; a webhook's fallback receives, once, every event that could not reach it.
//
// The rules (when the next step is due, what it is, why a delivery falls back) are pure
// functions of the alert's state and an injected time; the scheduler applies them to alerts it
// claims from PostgreSQL with SKIP LOCKED, writing each step's deliveries with derived ids in
// the transaction that ends the claim, so that each step reaches each target once across
// replicas and restarts.
package alert

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Limits of a policy (the SPEC's).
const (
	MinWithin     = 10 * time.Second
	MaxWithin     = 24 * time.Hour
	MaxTargets    = 5
	MaxRepeat     = 3
	MaxNameLength = 100 // of the name given when acknowledging
)

// Policy is a webhook's "escalation": who hears about an event nobody acknowledged.
type Policy struct {
	AcknowledgeWithin time.Duration
	EscalateTo        []uuid.UUID
	Repeat            int
}

// Steps is how many escalation steps the policy has: the first and its repeats.
func (p Policy) Steps() int { return 1 + p.Repeat }

type policyJSON struct {
	AcknowledgeWithin string      `json:"acknowledge_within"`
	EscalateTo        []uuid.UUID `json:"escalate_to"`
	Repeat            int         `json:"repeat"`
}

// MarshalJSON writes the policy as the API shows it ("15m0s" style durations shortened).
func (p Policy) MarshalJSON() ([]byte, error) {
	to := p.EscalateTo
	if to == nil {
		to = []uuid.UUID{}
	}
	return json.Marshal(policyJSON{AcknowledgeWithin: ShortDuration(p.AcknowledgeWithin), EscalateTo: to, Repeat: p.Repeat})
}

// UnmarshalJSON reads a stored policy (validated when it was saved).
func (p *Policy) UnmarshalJSON(b []byte) error {
	var in policyJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	d, err := time.ParseDuration(in.AcknowledgeWithin)
	if err != nil {
		return fmt.Errorf("acknowledge_within: %w", err)
	}
	*p = Policy{AcknowledgeWithin: d, EscalateTo: in.EscalateTo, Repeat: in.Repeat}
	return nil
}

// ShortDuration is d as Go writes it without zero units: "15m", "1h30m", "45s".
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
