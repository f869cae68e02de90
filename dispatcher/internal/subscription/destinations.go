package subscription

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
)

// OwnAuth is implemented by providers that authenticate themselves with the webhook's
// credential (notify.Secrets): the auth types a webhook of theirs may have. Other providers
// take the engine's types (none, bearer, hmac, smart_backend) and none of these.
type OwnAuth interface {
	AuthTypes() []string
}

// ownTypes are the credential types only providers apply.
var ownTypes = []string{credential.RoutingKey, credential.SMTP}

// checkDestination checks what destinations add to a webhook: the credential types providers
// apply themselves, and the TLS settings.
func (c *Compiler) checkDestination(w *Webhook, provider notify.Provider) []Problem {
	ps := append(checkOwnAuth(w.Auth, provider), CheckTLS(w.TLS, w.URL, time.Now())...)
	return append(ps, checkOrdering(w)...)
}

// checkOwnAuth checks that a's type is one the provider takes, and the fields of the types
// providers apply themselves.
func checkOwnAuth(a credential.Config, provider notify.Provider) []Problem {
	var ps []Problem
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{Path: "/auth/" + field, Message: fmt.Sprintf(format, args...)})
	}
	if provider != nil {
		if own, ok := provider.(OwnAuth); ok {
			if types := own.AuthTypes(); !slices.Contains(types, a.Type) {
				add("type", "provider %s takes auth type %s", provider.Name(), strings.Join(types, " or "))
				return ps
			}
		} else if slices.Contains(ownTypes, a.Type) {
			add("type", "auth type %s is for another provider; %s takes none, bearer, hmac or smart_backend", a.Type, provider.Name())
			return ps
		}
	}
	unused := func(names ...string) {
		vals := map[string]string{"token": a.Token, "secret": a.Secret, "client_id": a.ClientID, "token_url": a.TokenURL,
			"private_key_pem": a.PrivateKeyPEM, "key_id": a.KeyID, "scope": a.Scope, "routing_key": a.RoutingKey,
			"username": a.Username, "password": a.Password}
		for _, n := range names {
			if vals[n] != "" {
				add(n, "is not used by auth type %q", a.Type)
			}
		}
	}
	switch a.Type {
	case credential.RoutingKey:
		switch k := a.RoutingKey; {
		case k == "":
			add("routing_key", "is required: the integration key of the PagerDuty service's Events API v2 integration")
		case len(k) != 32 || strings.Trim(k, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "":
			add("routing_key", "must be the 32 letters and digits of an Events API v2 integration key")
		}
		unused("token", "secret", "client_id", "token_url", "private_key_pem", "key_id", "scope", "username", "password")
	case credential.SMTP:
		if a.Username == "" {
			add("username", "is required for auth type smtp")
		}
		if a.Password == "" {
			add("password", "is required for auth type smtp")
		}
		if strings.ContainsAny(a.Username+a.Password, "\r\n\x00") {
			add("username", "username and password must not contain line breaks")
		}
		unused("token", "secret", "client_id", "token_url", "private_key_pem", "key_id", "scope", "routing_key")
	default:
		unused("routing_key", "username", "password")
	}
	return ps
}

// secretsOf are the credential fields a provider applies itself.
func secretsOf(a credential.Config) notify.Secrets {
	return notify.Secrets{RoutingKey: a.RoutingKey, Username: a.Username, Password: a.Password}
}

// checkURL checks a webhook URL: the provider's own form first when its URLs are not https
// (notify.URLGuard), then the SSRF policy on the host.
func (c *Compiler) checkURL(ctx context.Context, raw string, provider notify.Provider) error {
	if g, ok := provider.(notify.URLGuard); ok {
		mapped, err := g.GuardURL(raw, c.AllowPlain)
		if err != nil {
			return err
		}
		raw = mapped
	}
	_, err := c.URLs.CheckURL(ctx, raw)
	return err
}

// Orderings of a webhook.
const (
	OrderNone    = "none"
	OrderSubject = "subject"
)

// OrderingOf is a webhook's ordering: its own, else its provider's default (notify.Ordered),
// else none.
func OrderingOf(w *Webhook, p notify.Provider) string {
	if w.Ordering != "" {
		return w.Ordering
	}
	if o, ok := p.(notify.Ordered); ok && o.DefaultOrdering() == OrderSubject {
		return OrderSubject
	}
	return OrderNone
}

// checkOrdering checks a webhook's ordering.
func checkOrdering(w *Webhook) []Problem {
	switch w.Ordering {
	case "", OrderNone, OrderSubject:
		return nil
	}
	return []Problem{{Path: "/ordering", Message: fmt.Sprintf("must be none or subject (one event of a task, report or device at a time, in order), got %q", w.Ordering)}}
}
