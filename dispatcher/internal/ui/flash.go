package ui

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/admin"
)

// A generated signing secret is shown once, on a page reached by a redirect after the write
// (POST/redirect/GET): reloading that page never writes again. The secret travels from the POST
// to that GET in a one-time flash cookie, sealed like the session (AES-256-GCM under a key only
// the dispatcher has) and bound to the session's nonce and to the webhook, so it is useless in
// another session or for another webhook; it lives for secretFlashTTL, is scoped to the secret
// page's path only, and the page that shows it deletes it. Nothing is kept on the server, so any
// replica can show it, and no secret is ever in a URL.

// SecretCookie is the name of the one-time flash cookie.
const SecretCookie = "taskhook_secret"

// secretFlashTTL is how long the flash waits for its page: the redirect follows at once.
const secretFlashTTL = 2 * time.Minute

type secretFlash struct {
	Secret  string `json:"s"`
	Created bool   `json:"c"` // the webhook was just created (else a secret was rotated)
	Expires int64  `json:"e"`
}

func secretPath(webhookID string) string { return "/ui/webhooks/" + webhookID + "/secret" }

func (s *sealer) flashAAD(v session, webhookID string) []byte {
	return []byte(SecretCookie + "|" + v.Nonce + "|" + webhookID)
}

// showSecretOnce puts secret in the flash cookie for webhookID and answers the POST with a
// redirect to the page that shows it.
func (u *UI) showSecretOnce(c echo.Context, webhookID, secret string, created bool) error {
	v := viewerOf(c)
	plain, err := json.Marshal(secretFlash{Secret: secret, Created: created, Expires: u.opts.Now().Add(secretFlashTTL).Unix()})
	if err != nil {
		return err
	}
	nonce := make([]byte, u.seal.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := u.seal.aead.Seal(append([]byte{}, nonce...), nonce, plain, u.seal.flashAAD(v.sess, webhookID))
	c.SetCookie(&http.Cookie{Name: SecretCookie, Value: base64.RawURLEncoding.EncodeToString(sealed), Path: secretPath(webhookID),
		MaxAge: int(secretFlashTTL.Seconds()), HttpOnly: true, Secure: secure(c), SameSite: http.SameSiteStrictMode})
	return c.Redirect(http.StatusSeeOther, secretPath(webhookID))
}

// takeSecretFlash reads and deletes the flash of webhookID; ok is false when there is none (it
// was shown already, expired, or belongs to another session).
func (u *UI) takeSecretFlash(c echo.Context, webhookID string) (secretFlash, bool) {
	var f secretFlash
	ck, err := c.Cookie(SecretCookie)
	if err != nil {
		return f, false
	}
	c.SetCookie(&http.Cookie{Name: SecretCookie, Value: "", Path: secretPath(webhookID), MaxAge: -1, Expires: time.Unix(1, 0),
		HttpOnly: true, Secure: secure(c), SameSite: http.SameSiteStrictMode})
	raw, err := base64.RawURLEncoding.DecodeString(ck.Value)
	n := u.seal.aead.NonceSize()
	if err != nil || len(raw) < n {
		return f, false
	}
	plain, err := u.seal.aead.Open(nil, raw[:n], raw[n:], u.seal.flashAAD(viewerOf(c).sess, webhookID))
	if err != nil || json.Unmarshal(plain, &f) != nil || f.Secret == "" || u.opts.Now().Unix() >= f.Expires {
		return secretFlash{}, false
	}
	return f, true
}

// ResultCookie carries the result of a write (a test send, a replay) from its POST to the page
// the POST redirects to, once, sealed and bound to the session and the page like the secret.
const ResultCookie = "taskhook_result"

type resultFlash struct {
	Test    *admin.TestResult `json:"t,omitempty"`
	Replay  map[string]any    `json:"r,omitempty"`
	Expires int64             `json:"e"`
}

// maxFlashExcerpt bounds the response excerpt a flash carries (a cookie holds about 4 KB).
const maxFlashExcerpt = 1000

func (u *UI) redirectWithResult(c echo.Context, page string, r resultFlash) error {
	if r.Test != nil && len(r.Test.ResponseExcerpt) > maxFlashExcerpt {
		t := *r.Test
		t.ResponseExcerpt = strings.ToValidUTF8(t.ResponseExcerpt[:maxFlashExcerpt], "") + "…"
		r.Test = &t
	}
	r.Expires = u.opts.Now().Add(secretFlashTTL).Unix()
	plain, err := json.Marshal(r)
	if err != nil {
		return err
	}
	nonce := make([]byte, u.seal.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := u.seal.aead.Seal(append([]byte{}, nonce...), nonce, plain, []byte(ResultCookie+"|"+viewerOf(c).sess.Nonce+"|"+page))
	c.SetCookie(&http.Cookie{Name: ResultCookie, Value: base64.RawURLEncoding.EncodeToString(sealed), Path: page,
		MaxAge: int(secretFlashTTL.Seconds()), HttpOnly: true, Secure: secure(c), SameSite: http.SameSiteStrictMode})
	return c.Redirect(http.StatusSeeOther, page)
}

func (u *UI) takeResult(c echo.Context, page string) (resultFlash, bool) {
	var r resultFlash
	ck, err := c.Cookie(ResultCookie)
	if err != nil {
		return r, false
	}
	c.SetCookie(&http.Cookie{Name: ResultCookie, Value: "", Path: page, MaxAge: -1, Expires: time.Unix(1, 0),
		HttpOnly: true, Secure: secure(c), SameSite: http.SameSiteStrictMode})
	raw, err := base64.RawURLEncoding.DecodeString(ck.Value)
	n := u.seal.aead.NonceSize()
	if err != nil || len(raw) < n {
		return r, false
	}
	plain, err := u.seal.aead.Open(nil, raw[:n], raw[n:], []byte(ResultCookie+"|"+viewerOf(c).sess.Nonce+"|"+page))
	if err != nil || json.Unmarshal(plain, &r) != nil || u.opts.Now().Unix() >= r.Expires {
		return resultFlash{}, false
	}
	return r, true
}
