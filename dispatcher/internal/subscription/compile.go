package subscription

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/tmpl"
	"github.com/taskhook/taskhook/pkg/event"
)

// Limits of what a webhook may hold.
const (
	MaxNameLen        = 200
	MaxDescriptionLen = 2000
	MaxFilterLen      = 4000
	MaxTemplateLen    = 64 << 10
	MaxAttemptsLimit  = 50
	MaxRatePerSecond  = 10000
)

// URLChecker enforces the URL policy (https unless allowed, no private targets) at create time.
type URLChecker interface {
	CheckURL(ctx context.Context, raw string) (*url.URL, error)
}

// Compiler validates webhooks and compiles them for delivery.
type Compiler struct {
	URLs      URLChecker
	Providers notify.Registry
	Catalog   *event.Catalog // the event types webhooks may subscribe to
	Filters   *Filters
	// Credential builds a webhook's outbound credential.
	Credential func(credential.Config) (credential.Credential, error)
	// CheckSMART validates a smart_backend configuration beyond presence (the key parses and is
	// RSA or P-384, ...); its error is shown at /auth/private_key_pem. nil skips that check.
	CheckSMART func(credential.Config) error
	// DefaultMaxAttempts applies when a webhook sets none.
	DefaultMaxAttempts int
}

// DefaultEvents is what a webhook subscribes to when it names no events: every task event,
// as before other families existed.
const DefaultEvents = "task.*"

// Normalize fills the defaults of a webhook about to be stored.
func Normalize(w *Webhook) {
	if w.Provider == "" {
		w.Provider = "generic"
	}
	if w.Events == nil {
		w.Events = []string{DefaultEvents}
	}
	if w.Timezone == "" {
		w.Timezone = "UTC"
	}
	if w.Auth.Type == "" {
		w.Auth.Type = credential.None
	}
}

// Check validates w (after Normalize) and returns every problem found, each located by a JSON
// pointer into the request body.
func (c *Compiler) Check(ctx context.Context, w *Webhook) []Problem {
	var ps []Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	switch n := strings.TrimSpace(w.Name); {
	case n == "":
		add("/name", "is required")
	case utf8.RuneCountInString(w.Name) > MaxNameLen:
		add("/name", "must be at most %d characters", MaxNameLen)
	}
	if utf8.RuneCountInString(w.Description) > MaxDescriptionLen {
		add("/description", "must be at most %d characters", MaxDescriptionLen)
	}
	provider, ok := c.Providers.Get(w.Provider)
	if !ok {
		add("/provider", "unknown provider %q; one of: %s", w.Provider, strings.Join(c.Providers.Names(), ", "))
	} else if err := provider.CheckOptions(w.Options); err != nil {
		add("/options", "%v", err)
	}
	if w.URL == "" {
		add("/url", "is required")
	} else if _, err := c.URLs.CheckURL(ctx, w.URL); err != nil {
		add("/url", "%v", err)
	}
	ps = append(ps, c.checkEvents(w, provider)...)
	if w.Filter != "" {
		if len(w.Filter) > MaxFilterLen {
			add("/filter", "must be at most %d characters", MaxFilterLen)
		} else if flt, err := c.Filters.Compile(w.Filter); err != nil {
			add("/filter", "does not compile: %s", oneLine(err.Error()))
		} else if typ, over := c.overCost(flt, w); over {
			add("/filter", "does not finish within the cost limit of %d on the example %s event (GET /v1/event-types): simplify it", CostLimit, typ)
		}
	}
	if w.TemplateType != "" {
		if mt, _, err := mime.ParseMediaType(w.TemplateType); err != nil || !strings.Contains(mt, "/") {
			add("/template_content_type", "must be a media type such as application/json or text/plain")
		} else if w.Template == "" {
			add("/template_content_type", "applies only with a template")
		}
	}
	if w.Template != "" {
		if len(w.Template) > MaxTemplateLen {
			add("/template", "must be at most %d bytes", MaxTemplateLen)
		} else if _, err := tmpl.Parse(w.Template, ""); err != nil {
			add("/template", "does not parse: %s", oneLine(err.Error()))
		}
	}
	if w.RateLimitPerSecond < 0 || w.RateLimitPerSecond > MaxRatePerSecond {
		add("/rate_limit_per_second", "must be between 0 (no limit) and %d", MaxRatePerSecond)
	}
	if w.MaxAttempts < 0 || w.MaxAttempts > MaxAttemptsLimit {
		add("/max_attempts", "must be between 1 and %d", MaxAttemptsLimit)
	}
	if _, err := time.LoadLocation(w.Timezone); err != nil || w.Timezone == "Local" {
		add("/timezone", "unknown time zone %q; use an IANA name such as America/New_York", w.Timezone)
	}
	ps = append(ps, c.checkAuth(ctx, w.Auth)...)
	ps = append(ps, checkDigest(w, provider)...)
	return ps
}

// checkDigest validates a webhook's digest: its own form, a provider that takes digests, and
// no template (a template renders one event).
func checkDigest(w *Webhook, provider notify.Provider) []Problem {
	if w.Digest == nil {
		return nil
	}
	var ps []Problem
	for _, p := range w.Digest.Check() {
		ps = append(ps, Problem{Path: p.Path, Message: p.Message})
	}
	if provider != nil {
		if _, refuse := notify.DigestOf(provider); refuse != "" {
			ps = append(ps, Problem{Path: "/digest", Message: fmt.Sprintf("provider %s takes no digest: %s", provider.Name(), refuse)})
		}
	}
	if w.Template != "" {
		ps = append(ps, Problem{Path: "/digest", Message: "cannot be combined with a template (a template renders one event); remove one of them"})
	}
	return ps
}

// overCost runs flt on the catalog's example of every type w subscribes to: a filter that
// exceeds its cost limit there would silently match nothing in production.
func (c *Compiler) overCost(flt *Filter, w *Webhook) (string, bool) {
	for _, t := range c.Catalog.Types() {
		wanted := false
		for _, p := range w.Events {
			types, _ := c.Catalog.Expand(p)
			wanted = wanted || slices.Contains(types, t.Type)
		}
		if !wanted {
			continue
		}
		var ev map[string]any
		if json.Unmarshal(t.Example, &ev) != nil {
			continue
		}
		if _, err := flt.Eval(t.Type, ev); OverCost(err) {
			return t.Type, true
		}
	}
	return "", false
}

// checkEvents checks that every pattern is a type, <family>.* or *, and that the provider
// renders every family they reach.
func (c *Compiler) checkEvents(w *Webhook, provider notify.Provider) []Problem {
	var ps []Problem
	if len(w.Events) == 0 {
		return []Problem{{Path: "/events", Message: "must list at least one event type, <family>.* or *: " + strings.Join(c.Catalog.Patterns(), ", ")}}
	}
	for i, e := range w.Events {
		types, ok := c.Catalog.Expand(e)
		if !ok {
			ps = append(ps, Problem{Path: fmt.Sprintf("/events/%d", i), Message: fmt.Sprintf("unknown event type %q; one of: %s", e, strings.Join(c.Catalog.Patterns(), ", "))})
			continue
		}
		if provider == nil || e == event.Wildcard {
			continue // * means every family the provider renders
		}
		for _, t := range types {
			if _, f, _ := c.Catalog.Lookup(t); !notify.Renders(provider, f.Name) {
				ps = append(ps, Problem{Path: fmt.Sprintf("/events/%d", i), Message: fmt.Sprintf("provider %s does not render %s events (it renders: %s)",
					provider.Name(), f.Name, strings.Join(provider.(notify.FamilyRenderer).Families(), ", "))})
				break
			}
		}
	}
	return ps
}

// subjects expands a webhook's patterns into the types it receives, leaving out families its
// provider does not render (reachable only through *).
func (c *Compiler) subjects(w *Webhook, p notify.Provider) map[string]bool {
	out := map[string]bool{}
	for _, pattern := range w.Events {
		types, _ := c.Catalog.Expand(pattern)
		for _, t := range types {
			if _, f, _ := c.Catalog.Lookup(t); notify.Renders(p, f.Name) {
				out[t] = true
			}
		}
	}
	return out
}

func (c *Compiler) checkAuth(ctx context.Context, a credential.Config) []Problem {
	var ps []Problem
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{Path: "/auth/" + field, Message: fmt.Sprintf(format, args...)})
	}
	unused := func(names ...string) {
		vals := map[string]string{"token": a.Token, "secret": a.Secret, "client_id": a.ClientID, "token_url": a.TokenURL,
			"private_key_pem": a.PrivateKeyPEM, "key_id": a.KeyID, "scope": a.Scope}
		for _, n := range names {
			if vals[n] != "" {
				add(n, "is not used by auth type %q", a.Type)
			}
		}
	}
	switch a.Type {
	case credential.None:
		unused("token", "secret", "client_id", "token_url", "private_key_pem", "key_id", "scope")
	case credential.Bearer:
		if a.Token == "" {
			add("token", "is required for auth type bearer")
		} else if strings.ContainsAny(a.Token, " \t\r\n") {
			add("token", "must not contain spaces or line breaks")
		}
		unused("secret", "client_id", "token_url", "private_key_pem", "key_id", "scope")
	case credential.HMAC:
		if a.Secret != "" {
			if _, err := credential.SecretKey(a.Secret); err != nil {
				add("secret", "%v (omit it to have one generated)", err)
			}
		}
		unused("token", "client_id", "token_url", "private_key_pem", "key_id", "scope")
	case credential.SMARTBackend:
		// private_key_pem and key_id are generated when omitted (the public key is then read from
		// GET /.well-known/jwks.json).
		for field, v := range map[string]string{"client_id": a.ClientID, "token_url": a.TokenURL, "private_key_pem": a.PrivateKeyPEM, "key_id": a.KeyID} {
			if v == "" {
				add(field, "is required for auth type smart_backend")
			}
		}
		if a.TokenURL != "" {
			if _, err := c.URLs.CheckURL(ctx, a.TokenURL); err != nil {
				add("token_url", "%v", err)
			}
		}
		if c.CheckSMART != nil && a.PrivateKeyPEM != "" {
			if err := c.CheckSMART(a); err != nil {
				add("private_key_pem", "%v", err)
			}
		}
		unused("token", "secret")
	default:
		add("type", "unknown auth type %q; one of: %s", a.Type, strings.Join(credential.Types(), ", "))
	}
	sortProblems(ps)
	return ps
}

func sortProblems(ps []Problem) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Path < ps[j-1].Path; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Compiled is a webhook ready to match and deliver.
type Compiled struct {
	*Webhook
	Target      *notify.Target
	Provider    notify.Provider
	Credential  credential.Credential
	Template    *tmpl.Template // nil: the provider's body
	RateLimit   float64        // per second, 0: unlimited
	MaxAttempts int
	subjects    map[string]bool
	filter      *Filter
}

// Wants reports whether the webhook subscribes to subject (it may still be filtered out).
func (c *Compiled) Wants(subject string) bool { return c.subjects[subject] }

// HasFilter reports whether matching needs the decoded event.
func (c *Compiled) HasFilter() bool { return c.filter != nil }

// Match applies the filter (true without one).
func (c *Compiled) Match(subject string, ev map[string]any) bool {
	return c.filter == nil || c.filter.Match(subject, ev)
}

// Compile prepares w for delivery. w must have passed Check.
func (c *Compiler) Compile(w *Webhook) (*Compiled, error) {
	p, ok := c.Providers.Get(w.Provider)
	if !ok {
		return nil, fmt.Errorf("unknown provider %q", w.Provider)
	}
	tz := w.Timezone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, err
	}
	cr, err := c.Credential(w.Auth)
	if err != nil {
		return nil, err
	}
	out := &Compiled{
		Webhook:     w,
		Target:      &notify.Target{ID: w.ID.String(), Name: w.Name, URL: w.URL, Location: loc, Redact: w.Redact, Options: w.Options},
		Provider:    p,
		Credential:  cr,
		RateLimit:   w.RateLimitPerSecond,
		MaxAttempts: w.MaxAttempts,
		subjects:    c.subjects(w, p),
	}
	if out.RateLimit == 0 {
		if rl, ok := p.(notify.RateLimited); ok {
			out.RateLimit = rl.DefaultRateLimit()
		}
	}
	if out.MaxAttempts == 0 {
		out.MaxAttempts = c.DefaultMaxAttempts
	}
	if w.Filter != "" {
		if out.filter, err = c.Filters.Compile(w.Filter); err != nil {
			return nil, err
		}
	}
	if w.Template != "" {
		if out.Template, err = tmpl.Parse(w.Template, w.TemplateType); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SafeURL is w's URL as it may be kept in plaintext (see notify.Registry.SafeURL).
func (c *Compiler) SafeURL(w *Webhook) string { return c.Providers.SafeURL(w.Provider, w.URL) }

// URLHint is w's URL as API responses show it (see notify.Registry.URLHint).
func (c *Compiler) URLHint(w *Webhook) string { return c.Providers.URLHint(w.Provider, w.URL) }
