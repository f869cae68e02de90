package ui

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// CookieName is the dashboard's session cookie.
const CookieName = "taskhook_session"

// session is what the sealed cookie carries. The token is in it (encrypted and authenticated
// with a key only the dispatcher has) so that every page is read through the admin API with
// the very token that signed in: a token removed from TASKHOOK_ADMIN_TOKENS or
// TASKHOOK_VIEWER_TOKENS ends its sessions at the next request, and a viewer's session can do
// no more than the viewer's token.
type session struct {
	Token   string `json:"t"`
	Expires int64  `json:"e"` // Unix seconds
	Nonce   string `json:"n"` // random; the CSRF token is derived from it
}

// sealer seals and opens session cookies (AES-256-GCM) and derives CSRF tokens (HMAC-SHA256),
// each with its own key derived from the dispatcher's encryption key.
type sealer struct {
	aead    cipher.AEAD
	csrfKey []byte
}

func derive(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("taskhook dashboard " + purpose))
	return m.Sum(nil)
}

func newSealer(master []byte) (*sealer, error) {
	if len(master) < 32 {
		return nil, fmt.Errorf("ui: the session key needs at least 32 bytes, got %d", len(master))
	}
	block, err := aes.NewCipher(derive(master, "session v1"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, csrfKey: derive(master, "csrf v1")}, nil
}

func (s *sealer) seal(v session) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, plain, []byte(CookieName))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

var errNoSession = errors.New("no valid session")

// open returns the session of a cookie value that this dispatcher (or one with the same key)
// sealed and that has not expired.
func (s *sealer) open(value string, now time.Time) (session, error) {
	var v session
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return v, errNoSession
	}
	plain, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], []byte(CookieName))
	if err != nil {
		return v, errNoSession
	}
	if err := json.Unmarshal(plain, &v); err != nil || v.Token == "" || v.Nonce == "" {
		return v, errNoSession
	}
	if now.Unix() >= v.Expires {
		return v, errNoSession
	}
	return v, nil
}

// csrf is the synchronizer token of a session: bound to its nonce, so a token of one session
// is worthless in another, and nothing to store.
func (s *sealer) csrf(v session) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(v.Nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *sealer) checkCSRF(v session, got string) bool {
	want := s.csrf(v)
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

func newNonce() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic("ui: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// cookie is the session cookie: HttpOnly, SameSite=Strict, Secure over TLS, scoped to /ui/.
func cookie(value string, expires time.Time, secure bool) *http.Cookie {
	c := &http.Cookie{Name: CookieName, Value: value, Path: "/ui/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode}
	if value == "" {
		c.MaxAge = -1
		c.Expires = time.Unix(1, 0)
	} else {
		c.Expires = expires
		c.MaxAge = int(time.Until(expires).Seconds())
	}
	return c
}
