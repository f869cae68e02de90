package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Admin drives the dispatcher's admin API.
type Admin struct{ b *base }

// NewAdmin returns a client of the admin API at url (e.g. http://127.0.0.1:8081) with an admin
// token (read and write) or a viewer token (read only: writes answer ErrForbidden).
func NewAdmin(url, token string, opts ...Option) (*Admin, error) {
	b, err := newBase(url, token, opts)
	if err != nil {
		return nil, err
	}
	return &Admin{b: b}, nil
}

// Auth is a webhook's credential. In a request: Type and the secret parts (Secret of an hmac
// webhook may be left empty: Taskhook generates one and returns it once). In a response: Type,
// Hint, the SMART public parts, and Secret only in the answer that generated it.
type Auth struct {
	Type          string `json:"type"` // none, bearer, hmac, smart_backend
	Token         string `json:"token,omitempty"`
	Secret        string `json:"secret,omitempty"`
	Hint          string `json:"hint,omitempty"`
	ClientID      string `json:"client_id,omitempty"`
	TokenURL      string `json:"token_url,omitempty"`
	PrivateKeyPEM string `json:"private_key_pem,omitempty"`
	KeyID         string `json:"key_id,omitempty"`
	Scope         string `json:"scope,omitempty"`
}

// Health is how a webhook is doing.
type Health struct {
	State               string     `json:"state"` // green, yellow, red, disabled
	SuccessRate24h      *float64   `json:"success_rate_24h"`
	LastDeliveryAt      *time.Time `json:"last_delivery_at"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
}

// Webhook is a webhook as the API shows it.
type Webhook struct {
	ID                 string          `json:"id"`
	Name               string          `json:"name"`
	Description        string          `json:"description"`
	URL                string          `json:"url"` // masked for providers whose URL is a credential
	Provider           string          `json:"provider"`
	Events             []string        `json:"events"`
	Filter             string          `json:"filter"`
	Active             bool            `json:"active"`
	Auth               Auth            `json:"auth"`
	Template           string          `json:"template"`
	TemplateType       string          `json:"template_content_type,omitempty"`
	RateLimitPerSecond *float64        `json:"rate_limit_per_second"`
	MaxAttempts        int             `json:"max_attempts"`
	Timezone           string          `json:"timezone"`
	Redact             bool            `json:"redact"`
	Options            json.RawMessage `json:"options,omitempty"`
	RepeatLimit        *RepeatLimit    `json:"repeat_limit"`
	Health             Health          `json:"health"`
	DisabledReason     string          `json:"disabled_reason,omitempty"`
	DisabledAt         *time.Time      `json:"disabled_at,omitempty"`
	CreatedAt          time.Time       `json:"created_at"`
	UpdatedAt          time.Time       `json:"updated_at"`
}

// WebhookInput is the body of CreateWebhook; in UpdateWebhook only the fields set (non-nil)
// change. CreateWebhook and UpdateWebhook also take any other value that marshals to the
// API's JSON (a map, or json.RawMessage read from a file).
type WebhookInput struct {
	Name               *string         `json:"name,omitempty"`
	Description        *string         `json:"description,omitempty"`
	URL                *string         `json:"url,omitempty"`
	Provider           *string         `json:"provider,omitempty"`
	Events             []string        `json:"events,omitempty"`
	Filter             *string         `json:"filter,omitempty"`
	Active             *bool           `json:"active,omitempty"`
	Auth               *Auth           `json:"auth,omitempty"`
	Template           *string         `json:"template,omitempty"`
	TemplateType       *string         `json:"template_content_type,omitempty"`
	RateLimitPerSecond *float64        `json:"rate_limit_per_second,omitempty"`
	MaxAttempts        *int            `json:"max_attempts,omitempty"`
	Timezone           *string         `json:"timezone,omitempty"`
	Redact             *bool           `json:"redact,omitempty"`
	Options            json.RawMessage `json:"options,omitempty"`
	RepeatLimit        *RepeatLimit    `json:"repeat_limit,omitempty"`
}

// Ptr returns a pointer to v, for the optional fields of WebhookInput.
func Ptr[T any](v T) *T { return &v }

// ListWebhooks lists every webhook, newest first.
func (a *Admin) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	var out struct {
		Webhooks []Webhook `json:"webhooks"`
	}
	err := a.b.call(ctx, http.MethodGet, "/v1/webhooks", nil, &out)
	return out.Webhooks, err
}

// GetWebhook reads one webhook.
func (a *Admin) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	var w Webhook
	if err := a.b.call(ctx, http.MethodGet, "/v1/webhooks/"+url.PathEscape(id), nil, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// CreateWebhook creates a webhook from a *WebhookInput (or its JSON). An hmac webhook without a
// secret gets a generated one, in the returned Auth.Secret only: store it to verify signatures.
func (a *Admin) CreateWebhook(ctx context.Context, in any) (*Webhook, error) {
	var w Webhook
	if err := a.b.call(ctx, http.MethodPost, "/v1/webhooks", in, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// UpdateWebhook changes the fields present in patch. An hmac auth replaces the secret; the
// previous one keeps signing beside it for the rotation grace (two signatures are sent).
func (a *Admin) UpdateWebhook(ctx context.Context, id string, patch any) (*Webhook, error) {
	var w Webhook
	if err := a.b.call(ctx, http.MethodPatch, "/v1/webhooks/"+url.PathEscape(id), patch, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// PauseWebhook deactivates a webhook: events that match meanwhile are delivered only by a
// replay after ResumeWebhook.
func (a *Admin) PauseWebhook(ctx context.Context, id string) (*Webhook, error) {
	return a.UpdateWebhook(ctx, id, map[string]bool{"active": false})
}

// ResumeWebhook activates a webhook again (and clears why it was disabled).
func (a *Admin) ResumeWebhook(ctx context.Context, id string) (*Webhook, error) {
	return a.UpdateWebhook(ctx, id, map[string]bool{"active": true})
}

// DeleteWebhook deletes a webhook with its deliveries and attempts.
func (a *Admin) DeleteWebhook(ctx context.Context, id string) error {
	return a.b.call(ctx, http.MethodDelete, "/v1/webhooks/"+url.PathEscape(id), nil, nil)
}

// TestResult is the answer of a test send.
type TestResult struct {
	OK              bool   `json:"ok"`
	StatusCode      *int   `json:"status_code"`
	DurationMS      int64  `json:"duration_ms"`
	ResponseExcerpt string `json:"response_excerpt"`
	Error           string `json:"error"`
	WebhookID       string `json:"webhook_id_header"`
	EventType       string `json:"event_type"`
}

// TestWebhook sends a sample event of eventType (empty: the first type the webhook takes)
// through the real render, sign and send path now.
func (a *Admin) TestWebhook(ctx context.Context, id, eventType string) (*TestResult, error) {
	p := "/v1/webhooks/" + url.PathEscape(id) + "/test"
	if eventType != "" {
		p += "?event=" + url.QueryEscape(eventType)
	}
	var r TestResult
	if err := a.b.call(ctx, http.MethodPost, p, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// TestUnsaved sends a sample event to a webhook body that is not saved (test before save).
func (a *Admin) TestUnsaved(ctx context.Context, in any) (*TestResult, error) {
	var r TestResult
	if err := a.b.call(ctx, http.MethodPost, "/v1/webhooks/test", in, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Delivery is one event for one webhook in the delivery log.
type Delivery struct {
	ID             string     `json:"id"` // the webhook-id header of every attempt
	WebhookID      string     `json:"webhook_id"`
	EventID        string     `json:"event_id"`
	EventType      string     `json:"event_type"`
	Status         string     `json:"status"` // pending, retrying, succeeded, failed
	Attempts       int        `json:"attempts"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	LastStatusCode *int       `json:"last_status_code"`
	LastError      string     `json:"last_error"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	AttemptLog     []Attempt  `json:"attempt_log,omitempty"` // GetDelivery and RetryDelivery only
}

// Attempt is one attempt of a delivery.
type Attempt struct {
	N               int       `json:"n"`
	StartedAt       time.Time `json:"started_at"`
	DurationMS      int       `json:"duration_ms"`
	StatusCode      *int      `json:"status_code"`
	Error           string    `json:"error"`
	ResponseExcerpt string    `json:"response_excerpt"`
}

// DeliveryQuery narrows ListDeliveries.
type DeliveryQuery struct {
	Status string    // pending, retrying, succeeded or failed (empty: all)
	Since  time.Time // created at or after (zero: any)
	Limit  int       // page size (0: the server's default)
	Cursor string    // NextCursor of the previous page
}

// DeliveryPage is one page of the delivery log, newest first.
type DeliveryPage struct {
	Deliveries []Delivery `json:"deliveries"`
	NextCursor *string    `json:"next_cursor"` // nil on the last page
}

// ListDeliveries reads one page of a webhook's deliveries, newest first.
func (a *Admin) ListDeliveries(ctx context.Context, webhookID string, q DeliveryQuery) (*DeliveryPage, error) {
	v := url.Values{}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	p := "/v1/webhooks/" + url.PathEscape(webhookID) + "/deliveries"
	if len(v) > 0 {
		p += "?" + v.Encode()
	}
	var page DeliveryPage
	if err := a.b.call(ctx, http.MethodGet, p, nil, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// GetDelivery reads a delivery with every attempt.
func (a *Admin) GetDelivery(ctx context.Context, id string) (*Delivery, error) {
	var d Delivery
	if err := a.b.call(ctx, http.MethodGet, "/v1/deliveries/"+url.PathEscape(id), nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// RetryDelivery attempts a delivery again now, whatever its status, and returns it with the
// new attempt.
func (a *Admin) RetryDelivery(ctx context.Context, id string) (*Delivery, error) {
	var d Delivery
	if err := a.b.call(ctx, http.MethodPost, "/v1/deliveries/"+url.PathEscape(id)+"/retry", nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// ReplayRequest is a window of a webhook's deliveries to send again.
type ReplayRequest struct {
	Since  time.Time // required
	Until  time.Time // zero: now
	Status string    // "" (failed ones and events missed while inactive), failed, succeeded or missing
}

// ReplayResult says what one replay did. When Capped, the server stopped at its limit: replay
// again from NextSince (Replay does that itself).
type ReplayResult struct {
	Requeued  int       `json:"requeued"`
	Created   int       `json:"created"`
	Scanned   int       `json:"scanned"`
	Capped    bool      `json:"capped"`
	NextSince time.Time `json:"next_since,omitzero"`
}

// ReplayOnce asks the server for one replay of the window; see Replay for whole windows.
func (a *Admin) ReplayOnce(ctx context.Context, webhookID string, r ReplayRequest) (*ReplayResult, error) {
	in := map[string]string{"since": r.Since.UTC().Format(time.RFC3339Nano)}
	if !r.Until.IsZero() {
		in["until"] = r.Until.UTC().Format(time.RFC3339Nano)
	}
	if r.Status != "" {
		in["status"] = r.Status
	}
	var res ReplayResult
	if err := a.b.call(ctx, http.MethodPost, "/v1/webhooks/"+url.PathEscape(webhookID)+"/replay", in, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Replay re-queues a webhook's deliveries of a window, asking again from NextSince while the
// server caps a request, and returns the sums. progress (may be nil) is called after each
// request with the sums so far and the time reached.
func (a *Admin) Replay(ctx context.Context, webhookID string, r ReplayRequest, progress func(sum ReplayResult, reached time.Time)) (*ReplayResult, error) {
	if r.Until.IsZero() {
		r.Until = time.Now()
	}
	sum := ReplayResult{}
	for {
		res, err := a.ReplayOnce(ctx, webhookID, r)
		if err != nil {
			return &sum, err
		}
		sum.Requeued += res.Requeued
		sum.Created += res.Created
		sum.Scanned += res.Scanned
		reached := r.Until
		next := res.Capped && !res.NextSince.IsZero() && res.NextSince.After(r.Since) && res.NextSince.Before(r.Until)
		if next {
			reached = res.NextSince
		}
		if progress != nil {
			progress(sum, reached)
		}
		if !next {
			sum.Capped = res.Capped
			return &sum, nil
		}
		r.Since = res.NextSince
	}
}

// Stats is GET /v1/stats.
type Stats struct {
	Window                  string            `json:"window"`
	Totals                  map[string]int64  `json:"totals"`
	ByProvider              json.RawMessage   `json:"by_provider"`
	RetryBacklog            int64             `json:"retry_backlog"`
	PendingDeliveries       int64             `json:"pending_deliveries"`
	OldestPendingAgeSeconds float64           `json:"oldest_pending_age_seconds"`
	DisabledWebhooks        []DisabledWebhook `json:"disabled_webhooks"`
	SealedWithPreviousKeys  *int64            `json:"sealed_with_previous_keys"`
}

// DisabledWebhook is an inactive webhook in the stats.
type DisabledWebhook struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Reason     string     `json:"reason"`
	DisabledAt *time.Time `json:"disabled_at"`
}

// Stats reads totals by outcome and provider over window (0: the server's default, 24h), the
// retry backlog and the disabled webhooks.
func (a *Admin) Stats(ctx context.Context, window time.Duration) (*Stats, error) {
	p := "/v1/stats"
	if window > 0 {
		p += "?window=" + url.QueryEscape(window.String())
	}
	var s Stats
	if err := a.b.call(ctx, http.MethodGet, p, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
