package webhooks

import (
	"encoding/json"
	"reflect"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/credential/smart"
	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

// completeSMART generates a smart_backend key pair when none is given (or rotate_key asks for a
// new one) and derives a stable key_id from the key when none is given.
func completeSMART(c *credential.Config) error {
	if c.Type != credential.SMARTBackend {
		return nil
	}
	if c.PrivateKeyPEM == "" || c.RotateKey {
		k, err := smart.Generate()
		if err != nil {
			return err
		}
		c.PrivateKeyPEM = k
		if c.RotateKey {
			c.KeyID = "" // a new key gets its own id
		}
	}
	c.RotateKey = false
	if c.KeyID == "" {
		id, err := smart.KeyID(c.PrivateKeyPEM)
		if err != nil {
			return Invalid([]subscription.Problem{{Path: "/auth/private_key_pem", Message: err.Error()}})
		}
		c.KeyID = id
	}
	return nil
}

// mergeAuth completes a new credential from the previous one at now: an hmac secret may be
// omitted (a new one is generated, and returned to show once) and, on a rotation, the previous
// secret or key keeps signing for grace; a smart_backend update may omit private_key_pem to
// keep the current key; a routing_key update may omit the key, an smtp one the password (for
// the same user), to keep the stored one.
func mergeAuth(cur *credential.Config, prev credential.Config, now time.Time, grace time.Duration) string {
	generated := ""
	mergeOwnAuth(cur, prev)
	switch cur.Type {
	case credential.HMAC:
		if cur.Secret == "" {
			cur.Secret = credential.GenerateSecret()
			generated = cur.Secret
		}
		cur.PreviousSecret, cur.PreviousUntil = "", time.Time{}
		if prev.Type == credential.HMAC && prev.Secret != "" && prev.Secret != cur.Secret {
			cur.PreviousSecret, cur.PreviousUntil = prev.Secret, now.Add(grace)
		}
	case credential.SMARTBackend:
		if cur.PrivateKeyPEM == "" && !cur.RotateKey && prev.Type == credential.SMARTBackend {
			cur.PrivateKeyPEM = prev.PrivateKeyPEM
			if cur.KeyID == "" {
				cur.KeyID = prev.KeyID
			}
		}
		if err := completeSMART(cur); err != nil {
			return generated
		}
		cur.PreviousPublicKeyPEM, cur.PreviousKeyID, cur.PreviousUntil = "", "", time.Time{}
		if prev.Type == credential.SMARTBackend && prev.PrivateKeyPEM != "" && prev.PrivateKeyPEM != cur.PrivateKeyPEM {
			// The replaced key stays in the JWK Set through the grace period, so that a FHIR
			// server that cached it keeps verifying while it learns the new one.
			if pub, err := smart.PublicPEM(prev.PrivateKeyPEM); err == nil {
				cur.PreviousPublicKeyPEM, cur.PreviousKeyID, cur.PreviousUntil = pub, prev.KeyID, now.Add(grace)
			}
		} else if prev.Type == credential.SMARTBackend && prev.PreviousKeyID != "" && prev.PreviousUntil.After(now) {
			cur.PreviousPublicKeyPEM, cur.PreviousKeyID, cur.PreviousUntil = prev.PreviousPublicKeyPEM, prev.PreviousKeyID, prev.PreviousUntil
		}
	}
	return generated
}

// DigestChange is what a save does to the webhook's digest window, in the transaction that
// stores it.
type DigestChange struct {
	Close  bool      // close the open window now (what it collected goes out as one message)
	Open   bool      // make sure a window is open, from OpenAt to Closes
	OpenAt time.Time // now
	Closes time.Time
}

// settleDigest keeps the digest window in step with the setting: a changed or removed digest
// closes the open window (the new setting applies from the next event), and a daily digest
// that sends even empty days always has a window.
func settleDigest(old, cur *digest.Spec, loc *time.Location, now time.Time) DigestChange {
	var ch DigestChange
	if old != nil && !reflect.DeepEqual(old, cur) {
		ch.Close = true
	}
	if cur != nil && cur.Daily() && cur.SendEmpty {
		ch.Open, ch.OpenAt, ch.Closes = true, now, cur.Closes(now, loc)
	}
	return ch
}

// location is a validated webhook's zone (UTC if it does not load).
func location(tz string) *time.Location {
	if loc, err := time.LoadLocation(tz); err == nil {
		return loc
	}
	return time.UTC
}

// summary is what the audit trail keeps of a created webhook: no secret, no chat URL.
func summary(c *subscription.Compiler, w *subscription.Webhook) map[string]any {
	return map[string]any{"name": w.Name, "provider": w.Provider, "url": c.SafeURL(w),
		"events": w.Events, "active": w.Active, "auth": w.Auth.Type}
}

// diff lists the fields an update changed, secrets masked: a changed credential is reported as
// changed (and which kind), never with its value.
func diff(c *subscription.Compiler, old, cur *subscription.Webhook) map[string]any {
	ch := map[string]any{}
	field := func(name string, from, to any) {
		if !reflect.DeepEqual(from, to) {
			ch[name] = map[string]any{"from": from, "to": to}
		}
	}
	field("name", old.Name, cur.Name)
	field("description", old.Description, cur.Description)
	field("url", c.SafeURL(old), c.SafeURL(cur))
	if old.URL != cur.URL && c.SafeURL(old) == c.SafeURL(cur) {
		ch["url"] = map[string]any{"changed": true}
	}
	field("provider", old.Provider, cur.Provider)
	field("events", old.Events, cur.Events)
	field("filter", old.Filter, cur.Filter)
	field("active", old.Active, cur.Active)
	field("rate_limit_per_second", old.RateLimitPerSecond, cur.RateLimitPerSecond)
	field("max_attempts", old.MaxAttempts, cur.MaxAttempts)
	field("timezone", old.Timezone, cur.Timezone)
	field("redact", old.Redact, cur.Redact)
	field("send_traceparent", old.SendTraceparent, cur.SendTraceparent)
	field("template_content_type", old.TemplateType, cur.TemplateType)
	if old.Template != cur.Template {
		ch["template"] = map[string]any{"changed": true}
	}
	if string(old.Options) != string(cur.Options) {
		ch["options"] = map[string]any{"from": json.RawMessage(orEmpty(old.Options)), "to": json.RawMessage(orEmpty(cur.Options))}
	}
	if !reflect.DeepEqual(old.RepeatLimit, cur.RepeatLimit) {
		ch["repeat_limit"] = map[string]any{"from": old.RepeatLimit, "to": cur.RepeatLimit}
	}
	if !reflect.DeepEqual(old.Escalation, cur.Escalation) {
		ch["escalation"] = map[string]any{"from": old.Escalation, "to": cur.Escalation}
	}
	field("fallback", old.Fallback, cur.Fallback)
	field("ordering", old.Ordering, cur.Ordering)
	if !reflect.DeepEqual(old.TLS, cur.TLS) {
		ch["tls"] = map[string]any{"changed": true} // the key is secret: no values
	}
	if !reflect.DeepEqual(old.Digest, cur.Digest) {
		ch["digest"] = map[string]any{"from": old.Digest, "to": cur.Digest}
	}
	oa, ca := old.Auth, cur.Auth
	switch {
	case oa.Type != ca.Type:
		ch["auth"] = map[string]any{"from": oa.Type, "to": ca.Type}
	case oa.Secret != ca.Secret:
		ch["auth"] = map[string]any{"type": ca.Type, "secret": "rotated", "previous_valid_until": ca.PreviousUntil}
	case oa.Token != ca.Token:
		ch["auth"] = map[string]any{"type": ca.Type, "token": "changed"}
	case oa.RoutingKey != ca.RoutingKey:
		ch["auth"] = map[string]any{"type": ca.Type, "routing_key": "changed"}
	case oa.Username != ca.Username || oa.Password != ca.Password:
		ch["auth"] = map[string]any{"type": ca.Type, "username": ca.Username, "password": change(oa.Password != ca.Password)}
	case oa.PrivateKeyPEM != ca.PrivateKeyPEM || oa.ClientID != ca.ClientID || oa.TokenURL != ca.TokenURL || oa.KeyID != ca.KeyID || oa.Scope != ca.Scope:
		ch["auth"] = map[string]any{"type": ca.Type, "client_id": ca.ClientID, "key_id": ca.KeyID, "private_key": keyChange(oa, ca)}
	}
	return ch
}

func keyChange(a, b credential.Config) string { return change(a.PrivateKeyPEM != b.PrivateKeyPEM) }

// change is how the audit trail says whether a secret changed.
func change(changed bool) string {
	if changed {
		return "changed"
	}
	return "unchanged"
}

func orEmpty(b json.RawMessage) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}
