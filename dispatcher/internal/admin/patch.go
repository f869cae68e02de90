package admin

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/credential/smart"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/httpx"
)

// patchWebhook changes the fields present in the body. An "auth" object replaces the
// credential, with two conveniences: an hmac secret may be omitted (a new one is generated and
// returned once) and, on a rotation, the previous secret keeps signing for the grace period
// (both signatures are sent, as Standard Webhooks allows); a smart_backend update may omit
// private_key_pem to keep the current key. Re-activating clears the reason it was deactivated;
// what matched while it was inactive is delivered only by a replay.
func (a *API) patchWebhook(c echo.Context) error {
	id, err := parseID(c, "webhook")
	if err != nil {
		return err
	}
	var in webhookInput
	if err := decode(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	row, err := a.webhook(ctx, id)
	if err != nil {
		return err
	}
	old, err := a.Codec.FromRow(&row.Webhook)
	if err != nil {
		return err
	}
	w := *old
	w.Events = append([]string(nil), old.Events...)
	prevAuth := old.Auth
	in.apply(&w)
	if ps := parseDigest(in.Digest, &w); len(ps) > 0 {
		return unprocessable(ps)
	}
	generated := ""
	if in.Auth != nil {
		if in.Auth.Type == "" {
			return unprocessable([]subscription.Problem{{Path: "/auth/type", Message: "is required when auth is given"}})
		}
		generated = a.mergeAuth(&w.Auth, prevAuth)
	}
	subscription.Normalize(&w)
	switch {
	case w.Active && !old.Active:
		w.DisabledReason, w.DisabledAt = "", zeroTime
	case !w.Active && old.Active:
		w.DisabledReason, w.DisabledAt = "deactivated by "+httpx.PrincipalOf(c).Name, a.now()
	}
	ps := a.Compiler.Check(ctx, &w)
	more, err := alerting(ctx, a.DB, in.Escalation, in.Fallback, &w, a.opts.PublicURL)
	if err != nil {
		return err
	}
	if ps = append(ps, more...); len(ps) > 0 {
		return unprocessable(ps)
	}
	changes := a.diff(old, &w)
	if len(changes) == 0 {
		v, err := a.load(ctx, id)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, v)
	}
	r, err := a.Codec.ToRow(&w)
	if err != nil {
		return err
	}
	tx, err := a.DB.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if err := store.UpdateWebhook(ctx, tx, r); err != nil {
		return err
	}
	if err := settleDigest(ctx, tx, id, old.Digest, w.Digest, location(w.Timezone), a.now()); err != nil {
		return err
	}
	if err := a.audit(ctx, tx, c, "webhook.update", id, "", map[string]any{"changes": changes}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	v, err := a.load(ctx, id)
	if err != nil {
		return err
	}
	v.Auth.GeneratedSecret = generated
	a.Log.Info("webhook updated", zap.String("webhook_id", id.String()), zap.String("who", httpx.PrincipalOf(c).Name))
	return c.JSON(http.StatusOK, v)
}

// mergeAuth completes a new credential from the previous one; it returns a secret it
// generated (to show once), or "".
func (a *API) mergeAuth(cur *credential.Config, prev credential.Config) string {
	generated := ""
	switch cur.Type {
	case credential.HMAC:
		if cur.Secret == "" {
			cur.Secret = credential.GenerateSecret()
			generated = cur.Secret
		}
		cur.PreviousSecret, cur.PreviousUntil = "", zeroTime
		if prev.Type == credential.HMAC && prev.Secret != "" && prev.Secret != cur.Secret {
			cur.PreviousSecret, cur.PreviousUntil = prev.Secret, a.now().Add(a.opts.RotationGrace)
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
		cur.PreviousPublicKeyPEM, cur.PreviousKeyID, cur.PreviousUntil = "", "", zeroTime
		if prev.Type == credential.SMARTBackend && prev.PrivateKeyPEM != "" && prev.PrivateKeyPEM != cur.PrivateKeyPEM {
			// The replaced key stays in the JWK Set through the grace period, so that a FHIR
			// server that cached it keeps verifying while it learns the new one.
			if pub, err := smart.PublicPEM(prev.PrivateKeyPEM); err == nil {
				cur.PreviousPublicKeyPEM, cur.PreviousKeyID, cur.PreviousUntil = pub, prev.KeyID, a.now().Add(a.opts.RotationGrace)
			}
		} else if prev.Type == credential.SMARTBackend && prev.PreviousKeyID != "" && prev.PreviousUntil.After(a.now()) {
			cur.PreviousPublicKeyPEM, cur.PreviousKeyID, cur.PreviousUntil = prev.PreviousPublicKeyPEM, prev.PreviousKeyID, prev.PreviousUntil
		}
	}
	return generated
}

var zeroTime time.Time
