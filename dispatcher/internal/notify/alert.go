package notify

import (
	"strconv"
	"strings"
	"time"
)

// Alert is what a message says of the alert it belongs to (Message.Alert; nil for a message
// outside any alert): the acknowledge link, and whether it is an escalation step or a fallback.
type Alert struct {
	ID             string    // "" for a fallback of a webhook without an alert
	AcknowledgeURL string    // "" without an alert
	AcknowledgeBy  time.Time //
	Escalation     *Escalation
	Fallback       *Fallback
}

// Escalation marks a message sent to an escalation target.
type Escalation struct {
	Step          int
	Reason        string        // not_acknowledged or delivery_failed
	After         time.Duration // not_acknowledged: how long nobody acknowledged
	FromWebhookID string
	FromName      string
}

// Fallback marks a message sent to a webhook's fallback.
type Fallback struct {
	FromWebhookID string
	FromName      string
	Reason        string // gave_up, failed, paused, disabled
}

// HeaderPrefix is what a chat message's title starts with: "Not acknowledged after 15 min: ",
// "Not delivered to <name>: ", "Backup for <name>: ", or "".
func (a *Alert) HeaderPrefix() string {
	switch {
	case a == nil:
		return ""
	case a.Escalation != nil && a.Escalation.Reason == "delivery_failed":
		return "Not delivered to " + oneLine(a.Escalation.FromName) + ": "
	case a.Escalation != nil:
		return "Not acknowledged after " + HumanDuration(a.Escalation.After) + ": "
	case a.Fallback != nil:
		return "Backup for " + oneLine(a.Fallback.FromName) + ": "
	}
	return ""
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// HumanDuration is d as the chat header says it: "15 min", "1 min", "45 s", "2 h", "1 h 30 min".
func HumanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	var parts []string
	if h > 0 {
		parts = append(parts, strconv.Itoa(h)+" h")
	}
	if m > 0 {
		parts = append(parts, strconv.Itoa(m)+" min")
	}
	if s > 0 || len(parts) == 0 {
		parts = append(parts, strconv.Itoa(s)+" s")
	}
	return strings.Join(parts, " ")
}
