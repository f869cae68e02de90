// Package subscription is the webhook model: validation of what admins submit (with JSON-pointer
// details for 422 answers), compilation into a ready-to-deliver form (CEL filter, time zone,
// provider, credential, template), sealing for storage, and the matching cache every replica
// keeps in step with the database.
package subscription

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/pkg/event"
)

// Webhook is a subscription as admins configure it (secrets in the clear: it never leaves the
// process except sealed).
type Webhook struct {
	ID                 uuid.UUID
	Name               string
	Description        string
	URL                string
	Provider           string
	Events             []string // task.created, task.updated, task.due, task.overdue, or task.*
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
	DisabledReason     string
	DisabledAt         time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Wildcard subscribes to every task subject.
const Wildcard = "task.*"

// Problem is one validation failure, located by a JSON pointer into the submitted body.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// subjectSet expands event patterns into subjects.
func subjectSet(patterns []string) map[string]bool {
	out := map[string]bool{}
	for _, p := range patterns {
		if p == Wildcard {
			for _, s := range event.Subjects() {
				out[s] = true
			}
			continue
		}
		out[p] = true
	}
	return out
}

// chatProviders are those whose URL is itself a credential (anyone holding it can post).
func urlIsSecret(provider string) bool { return provider == "slack" || provider == "teams" }

// SafeURL is a webhook's URL as it may be kept in plaintext (the url_hint column, the audit
// trail, logs): scheme, host and path, with any query string replaced by "?…" (it may carry a
// token); for chat providers, whose URL is itself a credential, URLHint's masked form.
func SafeURL(provider, raw string) string {
	if urlIsSecret(provider) {
		return URLHint(provider, raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "…"
	}
	out := u.Scheme + "://" + u.Host + u.EscapedPath()
	if u.RawQuery != "" {
		out += "?…"
	}
	return out
}

// URLHint is how a webhook's URL is shown in API responses: in full (its admins configured
// it), except for chat providers whose URL is a credential, where only the host and the last
// four characters remain.
func URLHint(provider, raw string) string {
	if !urlIsSecret(provider) {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "…"
	}
	tail := raw
	if len(tail) > 4 {
		tail = tail[len(tail)-4:]
	}
	return u.Scheme + "://" + u.Host + "/…" + strings.TrimPrefix(tail, "/")
}
