package alert

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
)

// Alert states, as the API shows them.
const (
	StateOpen           = "open"           // delivered, waiting for an acknowledgement
	StateEscalated      = "escalated"      // at least one step taken, more may follow
	StateUnacknowledged = "unacknowledged" // the last step passed without an acknowledgement
	StateAcknowledged   = "acknowledged"
)

// Escalation reasons.
const (
	NotAcknowledged = "not_acknowledged"
	DeliveryFailed  = "delivery_failed"
)

// Fallback reasons.
const (
	GaveUp   = "gave_up"  // the attempts were used up
	Failed   = "failed"   // a permanent failure (4xx, 410, a render error)
	Paused   = "paused"   // the webhook was deactivated by an admin
	Disabled = "disabled" // Taskhook deactivated the webhook (410, an archived channel, failing too long)
)

// Status is what the rules need of an alert.
type Status struct {
	Policy        Policy
	OpenedAt      time.Time
	AcknowledgeBy time.Time
	Step          int       // steps taken so far
	LastStepAt    time.Time // when the last step was taken (zero before the first)
	PrimaryFailed bool      // the delivery to the alert's own webhook gave up
	Acknowledged  bool
}

// Decision is what to do with an alert now.
type Decision struct {
	Escalate bool   // take step Step now
	Step     int    // 1-based
	Reason   string // NotAcknowledged or DeliveryFailed
	// After is how long the alert has gone unacknowledged, for the header of a
	// not_acknowledged step ("Not acknowledged after 15 min").
	After time.Duration
	State string     // the alert's state after the decision
	Next  *time.Time // when to look at the alert again; nil: never
}

// Decide applies the policy to an alert at now: the first step when the acknowledgement is
// overdue (at AcknowledgeBy exactly, not before) or at once when the primary delivery gave up,
// then a further round every AcknowledgeWithin after the previous step while repeats remain,
// then, one AcknowledgeWithin after the last step, the state unacknowledged. An acknowledged
// alert never escalates: whichever of the acknowledgement and the scheduler's claim commits
// first wins (the row lock orders them), and this function sees the winner's result.
func Decide(s Status, now time.Time) Decision {
	within := s.Policy.AcknowledgeWithin
	at := func(t time.Time) *time.Time { return &t }
	state := StateOpen
	if s.Step > 0 {
		state = StateEscalated
	}
	switch {
	case s.Acknowledged:
		return Decision{State: StateAcknowledged}
	case s.Step == 0 && s.PrimaryFailed:
		return Decision{Escalate: true, Step: 1, Reason: DeliveryFailed, State: StateEscalated, Next: at(now.Add(within))}
	case s.Step == 0 && now.Before(s.AcknowledgeBy):
		return Decision{State: state, Next: at(s.AcknowledgeBy)}
	case s.Step == 0:
		return Decision{Escalate: true, Step: 1, Reason: NotAcknowledged, After: within, State: StateEscalated, Next: at(now.Add(within))}
	}
	due := s.LastStepAt.Add(within)
	switch {
	case now.Before(due):
		return Decision{State: state, Next: at(due)}
	case s.Step < s.Policy.Steps():
		return Decision{Escalate: true, Step: s.Step + 1, Reason: NotAcknowledged, After: within * time.Duration(s.Step+1),
			State: StateEscalated, Next: at(now.Add(within))}
	}
	return Decision{State: StateUnacknowledged}
}

// FallbackReason is why a delivery that ended as status goes to its webhook's fallback, or ""
// when it does not: a failed delivery whose webhook was inactive (paused by an admin, disabled
// by Taskhook), whose attempts were used up (the last one asked for a retry), or that failed
// permanently.
func FallbackReason(status string, last notify.Result, active bool, disabledReason string) string {
	switch {
	case status != "failed":
		return ""
	case !active:
		return InactiveReason(disabledReason)
	case last == notify.Retry:
		return GaveUp
	}
	return Failed
}

// InactiveReason is why an inactive webhook does not deliver: paused (an admin deactivated it,
// or created it inactive) or disabled (Taskhook did).
func InactiveReason(disabledReason string) string {
	if disabledReason == "" || strings.HasPrefix(disabledReason, "deactivated by ") {
		return Paused
	}
	return Disabled
}

var (
	alertNamespace      = uuid.MustParse("0c3f5f0e-2b7a-4d0e-9d55-8e1a6a3b2f41")
	escalationNamespace = uuid.MustParse("6f1d7c2a-93b4-4c8e-a1f2-5d9e0b7c3a18")
	fallbackNamespace   = uuid.MustParse("a47e2c19-5b3d-4f6a-8c0e-1d2f3a4b5c6d")
)

// ID is the alert of an event delivered through a webhook (the same on every redelivery).
func ID(webhook uuid.UUID, eventID string) uuid.UUID {
	return uuid.NewSHA1(alertNamespace, []byte(eventID+"\x00"+webhook.String()))
}

// EscalationDeliveryID is the delivery of an alert's step to a target: derived, so that a
// step taken twice (a crash after the insert, before the claim ended) inserts nothing new.
func EscalationDeliveryID(alert uuid.UUID, step int, target uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(escalationNamespace, []byte(alert.String()+"\x00"+strconv.Itoa(step)+"\x00"+target.String()))
}

// FallbackDeliveryID is the fallback delivery of a delivery that could not reach its webhook
// (or of the delivery an inactive webhook would have had).
func FallbackDeliveryID(delivery uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(fallbackNamespace, []byte(delivery.String()))
}
