// Package notify is the provider interface of the dispatcher, in the style of Alertmanager's
// notify package: one package per provider (generic, slack, teams, fhir) behind one small
// interface. A provider renders an event into an HTTP request for its kind of receiver and
// classifies the receiver's answer; the delivery engine does everything else (standard headers,
// signing and authentication, the SSRF-safe client, retries, recording).
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/taskhook/taskhook/pkg/event"
)

// Message is one event to render for one webhook.
type Message struct {
	DeliveryID string      // the webhook-id: the same on every attempt
	EventID    string      // the event's id
	Type       string      // the subject, e.g. task.created
	Timestamp  time.Time   // when the event happened (occurred_at, else when Taskhook received it)
	Event      *event.Lazy // the task event: Raw() as published, Task() decoded on first use
	Alert      *Alert      // the alert it belongs to, or an escalation or fallback mark; nil: none
}

// Target is the provider's view of a webhook.
type Target struct {
	ID       string
	Name     string
	URL      string
	Location *time.Location // times are rendered in this zone
	Redact   bool           // chat providers leave out the patient's name and birth date
	Options  json.RawMessage
}

// Request is a rendered delivery. The engine POSTs Body to URL with ContentType and Header.
type Request struct {
	Method      string // "" is POST; FHIR updates a Task with a conditional PUT
	URL         string
	ContentType string
	Header      http.Header // provider headers (may be nil)
	Body        []byte
}

// Response is what the receiver answered, or the transport error.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte // the first bytes of the body (an excerpt)
	Err        error  // no response: connection refused, timeout, refused by the SSRF guard
}

// Result is the verdict on one attempt.
type Result int

const (
	// Success ends the delivery.
	Success Result = iota
	// Retry schedules another attempt (if any remain).
	Retry
	// Fail ends the delivery as failed.
	Fail
)

func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Retry:
		return "retry"
	}
	return "fail"
}

// Outcome is a classified attempt.
type Outcome struct {
	Result     Result
	Reason     string        // why, for the delivery log: never receiver content beyond an error token
	RetryAfter time.Duration // the receiver's Retry-After, 0 when absent
	Disable    bool          // deactivate the webhook (410 Gone, an archived Slack channel)
}

// Provider renders and classifies for one kind of receiver.
type Provider interface {
	// Name is the provider's name in the API ("generic", "slack", ...).
	Name() string
	// CheckOptions validates a webhook's provider-specific options (at create and update).
	CheckOptions(opts json.RawMessage) error
	// Render turns an event into a request. An error fails the delivery permanently.
	Render(ctx context.Context, t *Target, m *Message) (*Request, error)
	// Classify judges the receiver's answer.
	Classify(r *Response) Outcome
}

// RateLimited is implemented by providers whose receivers impose a rate (Slack: 1 message per
// second per webhook); it is the webhook's default rate_limit_per_second.
type RateLimited interface {
	DefaultRateLimit() float64
}

// SecretURL is implemented by providers whose URL is itself a credential (anyone holding a
// Slack or Teams webhook URL can post): responses, the audit trail and logs mask it.
type SecretURL interface {
	URLIsSecret() bool
}

// DigestPolicy is implemented by providers that take digests (internal/digest) otherwise than
// the default, which lists every event in messages of at most 1,000: preview > 0 lists only
// the first events of a window with the counts of all (chat channels); refuse, when not empty,
// is why the provider takes no digest at all (FHIR writes one resource per event).
type DigestPolicy interface {
	DigestPolicy() (preview int, refuse string)
}

// DigestOf is p's digest policy (the default when it declares none).
func DigestOf(p Provider) (preview int, refuse string) {
	if d, ok := p.(DigestPolicy); ok {
		return d.DigestPolicy()
	}
	return 0, ""
}

// FamilyRenderer is implemented by providers that render only some event families (FHIR has a
// resource for tasks, reports and batteries, nothing for others); a webhook of such a provider
// may subscribe only to those. Providers without it render every family.
type FamilyRenderer interface {
	Families() []string
}

// Form is what a provider tells the person configuring a webhook, in the manner of Outpost's
// Metadata: the dashboard's form, the OpenAPI document and the docs' tables are built from it,
// so that a new provider is its own folder and one registry line.
type Form struct {
	Label    string // "Microsoft Teams"
	URLLabel string // "Teams workflow webhook URL"
	// AuthTypes are the credential types the dashboard offers (credential.Kinds); empty: none,
	// the URL is the credential.
	AuthTypes []string
	Options   []Option // the provider's options, as form fields
}

// Option is one field of a provider's options.
type Option struct {
	Name        string `json:"name"` // the key in "options"
	Label       string `json:"label"`
	Placeholder string `json:"placeholder,omitempty"`
}

// Described is implemented by every provider: how it is presented and configured.
type Described interface {
	Form() Form
}

// Meta is everything a provider declares about itself, gathered from its interfaces.
type Meta struct {
	Name             string   `json:"name"`
	Label            string   `json:"label"`
	URLLabel         string   `json:"url_label"`
	URLIsSecret      bool     `json:"url_is_secret"`
	AuthTypes        []string `json:"auth_types"`
	Options          []Option `json:"options"`
	DefaultRateLimit float64  `json:"default_rate_limit,omitempty"` // 0: none
	Digest           bool     `json:"digest"`                       // takes digests
	DigestPreview    int      `json:"digest_preview,omitempty"`
	Families         []string `json:"families,omitempty"` // nil: every family
}

// MetaOf gathers p's declarations.
func MetaOf(p Provider) Meta {
	m := Meta{Name: p.Name(), Label: p.Name(), URLLabel: "URL", Options: []Option{}, AuthTypes: []string{}}
	if d, ok := p.(Described); ok {
		f := d.Form()
		m.Label, m.URLLabel = f.Label, f.URLLabel
		m.AuthTypes = append(m.AuthTypes, f.AuthTypes...)
		m.Options = append(m.Options, f.Options...)
	}
	if s, ok := p.(SecretURL); ok {
		m.URLIsSecret = s.URLIsSecret()
	}
	if rl, ok := p.(RateLimited); ok {
		m.DefaultRateLimit = rl.DefaultRateLimit()
	}
	preview, refuse := DigestOf(p)
	m.Digest, m.DigestPreview = refuse == "", preview
	if fr, ok := p.(FamilyRenderer); ok {
		m.Families = fr.Families()
	}
	return m
}

// Metas describes every provider, in registration order.
func (r Registry) Metas() []Meta {
	out := make([]Meta, len(r.list))
	for i, p := range r.list {
		out[i] = MetaOf(p)
	}
	return out
}

// Registry holds the providers, in the order they were registered (the order the API lists).
type Registry struct {
	list   []Provider
	byName map[string]Provider
}

// NewRegistry registers providers under their names.
func NewRegistry(ps ...Provider) Registry {
	r := Registry{byName: map[string]Provider{}}
	for _, p := range ps {
		if _, dup := r.byName[p.Name()]; !dup {
			r.list = append(r.list, p)
		}
		r.byName[p.Name()] = p
	}
	return r
}

// Get returns the provider called name.
func (r Registry) Get(name string) (Provider, bool) {
	p, ok := r.byName[name]
	return p, ok
}

// Names lists the registered providers in registration order.
func (r Registry) Names() []string {
	out := make([]string, len(r.list))
	for i, p := range r.list {
		out[i] = p.Name()
	}
	return out
}

// Renders reports whether provider renders events of family.
func Renders(p Provider, family string) bool {
	fr, ok := p.(FamilyRenderer)
	if !ok {
		return true
	}
	for _, f := range fr.Families() {
		if f == family {
			return true
		}
	}
	return false
}

// URLIsSecret reports whether the named provider's URLs are credentials; an unknown provider's
// are treated as such (masking fails closed).
func (r Registry) URLIsSecret(provider string) bool {
	p, known := r.byName[provider]
	if !known {
		return true
	}
	s, ok := p.(SecretURL)
	return ok && s.URLIsSecret()
}

// SafeURL is a webhook's URL as it may be kept in plaintext (the url_hint column, the audit
// trail, logs): scheme, host and path, with any query string replaced by "?…" (it may carry a
// token); for providers whose URL is itself a credential, URLHint's masked form.
func (r Registry) SafeURL(provider, raw string) string {
	if r.URLIsSecret(provider) {
		return r.URLHint(provider, raw)
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
// it), except for providers whose URL is a credential, where only the host and the last four
// characters remain.
func (r Registry) URLHint(provider, raw string) string {
	if !r.URLIsSecret(provider) {
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

// ErrTimeout marks a transport error that was a timeout.
var ErrTimeout = errors.New("timeout")

// Classify is the shared classification every provider starts from (Alertmanager's Retrier):
// 2xx success; 408, 425, 429, 5xx, timeouts and connection errors retry; 410 fails and
// deactivates the webhook; 3xx fails (redirects are never followed); any other 4xx fails.
func Classify(r *Response) Outcome {
	if r.Err != nil {
		return Outcome{Result: Retry, Reason: transportReason(r.Err)}
	}
	code := r.StatusCode
	ra := RetryAfter(r.Header, time.Now())
	switch {
	case code >= 200 && code < 300:
		return Outcome{Result: Success}
	case code == http.StatusGone:
		return Outcome{Result: Fail, Disable: true, Reason: "HTTP 410 Gone: the receiver says this endpoint is gone; webhook deactivated"}
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests, code >= 500:
		return Outcome{Result: Retry, Reason: "HTTP " + strconv.Itoa(code), RetryAfter: ra}
	case code >= 300 && code < 400:
		return Outcome{Result: Fail, Reason: "HTTP " + strconv.Itoa(code) + ": redirects are not followed; point the webhook at the final URL"}
	default:
		return Outcome{Result: Fail, Reason: "HTTP " + strconv.Itoa(code)}
	}
}

// transportReason names a failure to get an answer, from the error's type (never its text,
// which may quote the URL and its token).
func transportReason(err error) string {
	var dns *net.DNSError
	var ne net.Error
	var ue *url.Error
	switch {
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout: no answer within the attempt timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled: the dispatcher stopped or the caller went away"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed by the receiver before it answered"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "the host does not resolve"
		}
		return "the host could not be resolved (DNS)"
	case errors.As(err, &ue):
		return "request failed: " + ue.Err.Error() // the error without the URL it wraps
	}
	return "request failed: " + err.Error()
}

// RetryAfter parses a Retry-After header (delay seconds or an HTTP date) relative to now;
// 0 when absent or unparseable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0
		}
		if s > 365*24*3600 {
			s = 365 * 24 * 3600
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// CheckNoOptions accepts only empty options (for providers that have none).
func CheckNoOptions(provider string, opts json.RawMessage) error {
	s := strings.TrimSpace(string(opts))
	if s == "" || s == "null" || s == "{}" {
		return nil
	}
	return fmt.Errorf("provider %s takes no options", provider)
}
