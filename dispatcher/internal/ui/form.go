package ui

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/admin"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

// webhookForm is the new/edit form as submitted: strings, as typed. It is turned into the
// JSON body of the admin API as it is, and the API's 422 details are mapped back onto its
// fields (fieldOf): the dashboard validates nothing itself, but for asking for a provider
// (the API would take the default, generic, for a form left unchosen).
type webhookForm struct {
	Name, Description, Provider, URL string
	Events                           []string
	Filter, Template, TemplateType   string
	Timezone, RateLimit, MaxAttempts string
	Redact, Active                   bool
	AuthType, AuthToken, AuthSecret  string
	ClientID, TokenURL, KeyID, Scope string
	PrivateKey                       string
	Options                          map[string]string // the provider's options (notify.Meta.Options), as typed
	TestEvent                        string            // the event type Test sends ("": the first one subscribed)
	// Digest: mode "" (one message per event), "window" or "daily".
	DigestMode, DigestWindow, DigestDailyAt string
	DigestSendEmpty, SendTraceparent        bool
}

// Fields of the form; a 422 detail whose pointer starts with a key's path is shown by the field.
var formFields = []struct{ pointer, field string }{
	{"/name", "name"}, {"/description", "description"}, {"/url", "url"}, {"/provider", "provider"},
	{"/events", "events"}, {"/filter", "filter"}, {"/template_content_type", "template_type"}, {"/template", "template"},
	{"/timezone", "timezone"}, {"/rate_limit_per_second", "rate_limit"}, {"/max_attempts", "max_attempts"},
	{"/redact", "redact"}, {"/active", "active"},
	{"/auth/token", "auth_token"}, {"/auth/secret", "auth_secret"}, {"/auth/client_id", "client_id"},
	{"/auth/token_url", "token_url"}, {"/auth/key_id", "key_id"}, {"/auth/scope", "scope"},
	{"/auth/private_key_pem", "private_key"}, {"/auth", "auth_type"},
	{"/digest/window", "digest_window"}, {"/digest/daily_at", "digest_daily_at"}, {"/digest/send_empty", "digest_send_empty"},
	{"/digest", "digest_mode"}, {"/send_traceparent", "send_traceparent"},
}

// fieldOf names the form field a JSON pointer of the API's 422 details is about ("" when
// none: the problem is shown above the form).
func fieldOf(pointer string) string {
	if name, ok := strings.CutPrefix(pointer, "/options/"); ok {
		name, _, _ = strings.Cut(name, "/")
		return "opt-" + name
	}
	if pointer == "/options" {
		return "options"
	}
	for _, f := range formFields {
		if pointer == f.pointer || strings.HasPrefix(pointer, f.pointer+"/") {
			return f.field
		}
	}
	return ""
}

// fieldErrors maps problems onto fields; what maps to no field is returned apart.
func fieldErrors(ps []subscription.Problem) (map[string][]string, []string) {
	byField := map[string][]string{}
	var other []string
	for _, p := range ps {
		if f := fieldOf(p.Path); f != "" {
			byField[f] = append(byField[f], p.Message)
		} else {
			other = append(other, fmt.Sprintf("%s: %s", p.Path, p.Message))
		}
	}
	return byField, other
}

func parseForm(c echo.Context, metas []notify.Meta) (*webhookForm, error) {
	if _, err := c.FormParams(); err != nil {
		return nil, err
	}
	v := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	f := &webhookForm{Name: v("name"), Description: v("description"), Provider: v("provider"), URL: v("url"),
		Filter: v("filter"), Template: c.FormValue("template"), TemplateType: v("template_type"), Timezone: v("timezone"),
		RateLimit: v("rate_limit"), MaxAttempts: v("max_attempts"), Redact: c.FormValue("redact") == "on",
		Active: c.FormValue("active") == "on", AuthType: v("auth_type"), AuthToken: v("auth_token"), AuthSecret: v("auth_secret"),
		ClientID: v("client_id"), TokenURL: v("token_url"), KeyID: v("key_id"), Scope: v("scope"),
		PrivateKey: strings.TrimSpace(c.FormValue("private_key")), TestEvent: v("test_event"),
		DigestMode: v("digest_mode"), DigestWindow: v("digest_window"), DigestDailyAt: v("digest_daily_at"),
		DigestSendEmpty: c.FormValue("digest_send_empty") == "on", SendTraceparent: c.FormValue("send_traceparent") == "on"}
	params, _ := c.FormParams()
	f.Events = params["events"]
	if m, ok := metaOf(metas, f.Provider); ok {
		f.Options = map[string]string{}
		for _, o := range m.Options {
			f.Options[o.Name] = v("opt-" + m.Name + "-" + o.Name)
		}
	}
	return f, nil
}

// formOf is the edit form of a saved webhook: secrets are never in it (write-only).
func formOf(w *admin.WebhookView) *webhookForm {
	f := &webhookForm{Name: w.Name, Description: w.Description, Provider: w.Provider, URL: w.URL, Events: w.Events,
		Filter: w.Filter, Template: w.Template, TemplateType: w.TemplateType, Timezone: w.Timezone, Redact: w.Redact,
		Active: w.Active, AuthType: w.Auth.Type, ClientID: w.Auth.ClientID, TokenURL: w.Auth.TokenURL, KeyID: w.Auth.KeyID,
		Scope: w.Auth.Scope, SendTraceparent: w.SendTraceparent}
	if d := w.Digest; d != nil {
		if d.DailyAt != "" {
			f.DigestMode, f.DigestDailyAt, f.DigestSendEmpty = "daily", d.DailyAt, d.SendEmpty
		} else {
			f.DigestMode, f.DigestWindow = "window", time.Duration(d.Window).String()
		}
	}
	if w.RateLimitPerSecond != nil {
		f.RateLimit = strconv.FormatFloat(*w.RateLimitPerSecond, 'f', -1, 64)
	}
	if w.MaxAttempts > 0 {
		f.MaxAttempts = strconv.Itoa(w.MaxAttempts)
	}
	var opts map[string]any
	if json.Unmarshal(w.Options, &opts) == nil {
		f.Options = map[string]string{}
		for k, v := range opts {
			if s, ok := v.(string); ok {
				f.Options[k] = s
			}
		}
	}
	return f
}

// number is a typed number as JSON: a number when it parses, else the text itself, so that
// the API's own check answers ("must be a number, got a string") at the field.
func number(s string) any {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return n
	}
	return s
}

// body is the JSON body of POST /v1/webhooks (and of the unsaved test); with prev (the saved
// webhook) it is the body of PATCH: what the form cannot show (secrets, a masked URL) is sent
// only when typed.
func (f *webhookForm) body(prev *admin.WebhookView, metas []notify.Meta) map[string]any {
	meta, _ := metaOf(metas, f.Provider)
	b := map[string]any{"name": f.Name, "description": f.Description, "provider": f.Provider,
		"events": append([]string{}, f.Events...), "filter": f.Filter, "template": f.Template, "timezone": f.Timezone,
		"redact": f.Redact, "send_traceparent": f.SendTraceparent, "digest": f.digest()}
	if f.TemplateType != "" || prev != nil {
		b["template_content_type"] = f.TemplateType
	}
	if prev == nil || f.URL != prev.URL {
		b["url"] = f.URL
	}
	if prev == nil {
		b["active"] = f.Active
	}
	// Numbers an edit did not change are not sent: the saved max_attempts may be the default,
	// shown but not set, and should stay so.
	var saved *webhookForm
	if prev != nil {
		saved = formOf(prev)
	}
	switch {
	case saved != nil && f.RateLimit == saved.RateLimit:
	case f.RateLimit != "":
		b["rate_limit_per_second"] = number(f.RateLimit)
	case saved != nil:
		b["rate_limit_per_second"] = 0 // cleared: the provider's default
	}
	if f.MaxAttempts != "" && (saved == nil || f.MaxAttempts != saved.MaxAttempts) {
		b["max_attempts"] = number(f.MaxAttempts)
	}
	// The form shows authentication only for providers that take it (notify.Meta.AuthTypes): a
	// chat webhook's URL is its credential, so what the hidden fields still hold is not sent (an
	// edit keeps the saved auth).
	if takesAuth(meta) {
		if a := f.auth(prev); a != nil {
			b["auth"] = a
		}
	}
	// The provider's options as typed; options the form does not show (an object) are kept.
	if len(meta.Options) > 0 {
		opts := map[string]any{}
		if prev != nil && prev.Provider == f.Provider {
			_ = json.Unmarshal(prev.Options, &opts)
		}
		for _, o := range meta.Options {
			if s := f.Options[o.Name]; s != "" {
				opts[o.Name] = s
			} else {
				delete(opts, o.Name)
			}
		}
		b["options"] = opts
	}
	return b
}

// digest is the digest setting to send: nil (off), {"window"} or {"daily_at", "send_empty"}; an
// unknown mode is sent as typed, for the API to refuse at /digest.
func (f *webhookForm) digest() any {
	switch f.DigestMode {
	case "":
		return nil
	case "window":
		return map[string]any{"window": f.DigestWindow}
	case "daily":
		return map[string]any{"daily_at": f.DigestDailyAt, "send_empty": f.DigestSendEmpty}
	}
	return f.DigestMode
}

// auth is the auth object to send, nil to leave the saved one as it is (an edit that changes
// neither the type nor a secret: sending {"type": "hmac"} again would rotate the secret).
func (f *webhookForm) auth(prev *admin.WebhookView) map[string]any {
	a := map[string]any{"type": f.AuthType}
	switch f.AuthType {
	case "bearer":
		if f.AuthToken != "" {
			a["token"] = f.AuthToken
		}
	case "hmac":
		if f.AuthSecret != "" {
			a["secret"] = f.AuthSecret
		}
	case "smart_backend":
		for k, v := range map[string]string{"client_id": f.ClientID, "token_url": f.TokenURL, "key_id": f.KeyID, "scope": f.Scope, "private_key_pem": f.PrivateKey} {
			if v != "" {
				a[k] = v
			}
		}
	}
	if prev == nil {
		if f.AuthType == "" {
			return nil
		}
		return a
	}
	if f.AuthType == prev.Auth.Type {
		switch f.AuthType {
		case "none", "":
			return nil
		case "bearer":
			if f.AuthToken == "" {
				return nil
			}
		case "hmac":
			if f.AuthSecret == "" {
				return nil
			}
		case "smart_backend":
			if f.PrivateKey == "" && f.ClientID == prev.Auth.ClientID && f.TokenURL == prev.Auth.TokenURL &&
				f.KeyID == prev.Auth.KeyID && f.Scope == prev.Auth.Scope {
				return nil
			}
		}
	}
	return a
}

// complete says whether the form alone is a whole webhook (it can be tested unsaved): an edit
// whose URL is still the masked one, or whose secret was not typed again, cannot be.
func (f *webhookForm) complete(prev *admin.WebhookView) bool {
	if prev == nil {
		return true
	}
	if f.URL == prev.URL && prev.URL != "" && strings.Contains(prev.URL, "…") {
		return false
	}
	switch f.AuthType {
	case "bearer":
		return f.AuthToken != ""
	case "smart_backend":
		return f.PrivateKey != "" || prev.Auth.Type != "smart_backend"
	}
	return true
}
