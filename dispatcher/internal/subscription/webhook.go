// Package subscription is the webhook model: validation of what admins submit (with JSON-pointer
// details for 422 answers), compilation into a ready-to-deliver form (CEL filter, time zone,
// provider, credential, template), sealing for storage, and the matching cache every replica
// keeps in step with the database.
package subscription

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/taskhook/taskhook/dispatcher/internal/alert"
	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/digest"
)

// Webhook is a subscription as admins configure it (secrets in the clear: it never leaves the
// process except sealed).
type Webhook struct {
	ID                 uuid.UUID
	Name               string
	Description        string
	URL                string
	Provider           string
	Events             []string // event types, <family>.* or *
	Filter             string   // CEL over `event` and `type`; empty matches everything
	Active             bool
	Auth               credential.Config
	Template           string
	TemplateType       string  // Content-Type of the template's output; "" means application/json
	RateLimitPerSecond float64 // 0: the provider's default (none for most)
	MaxAttempts        int     // 0: TASKHOOK_RETRY_SCHEDULE's length + 1
	Timezone           string  // IANA name; "" means UTC
	Redact             bool
	Options            json.RawMessage // provider-specific, not secret
	Digest             *digest.Spec    // nil: one message per event
	SendTraceparent    bool            // outbound requests carry the attempt's W3C traceparent
	Escalation         *alert.Policy   // nil: deliveries open no alert
	Fallback           uuid.UUID       // uuid.Nil: none; receives what could not reach this webhook
	DisabledReason     string
	DisabledAt         time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Problem is one validation failure, located by a JSON pointer into the submitted body.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}
