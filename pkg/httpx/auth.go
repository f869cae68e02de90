package httpx

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// Role is what a token may do.
type Role int

const (
	// RoleViewer may read.
	RoleViewer Role = iota + 1
	// RoleAdmin may read and write.
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleAdmin:
		return "admin"
	case RoleViewer:
		return "viewer"
	}
	return "none"
}

// Principal is who made a request: never the token, only its fingerprint.
type Principal struct {
	Name string // "tok_" + the first 12 hex digits of the token's SHA-256
	Role Role
}

type tokenEntry struct {
	digest [32]byte
	who    Principal
}

// Tokens is a set of bearer tokens with their roles. Tokens are kept as SHA-256 digests and
// compared in constant time.
type Tokens struct{ entries []tokenEntry }

// NewTokens returns an empty set.
func NewTokens() *Tokens { return &Tokens{} }

// Add registers tokens under role. A token given twice keeps its highest role.
func (t *Tokens) Add(role Role, tokens ...string) {
	for _, tok := range tokens {
		t.entries = append(t.entries, tokenEntry{digest: sha256.Sum256([]byte(tok)), who: Principal{Name: Fingerprint(tok), Role: role}})
	}
}

// Fingerprint names a token in logs and audit records without revealing it.
func Fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "tok_" + hex.EncodeToString(sum[:6])
}

// Lookup returns the principal of token. Every entry is compared, so the time taken does not
// depend on which token (if any) matched.
func (t *Tokens) Lookup(token string) (Principal, bool) {
	d := sha256.Sum256([]byte(token))
	var found Principal
	ok := false
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1 && e.who.Role > found.Role {
			found, ok = e.who, true
		}
	}
	return found, ok
}

const principalKey = "taskhook.principal"

// queryTokenParams are query parameters that look like credentials; a request carrying one is
// refused, because URLs end up in proxy and access logs.
var queryTokenParams = [...]string{"access_token", "token", "api_key", "apikey", "auth", "authorization"}

// CheckQuery refuses a query string that does not parse (Go drops such a query whole, so its
// parameters would be silently ignored: "?window=1h';--" would mean the default window) and
// one carrying credentials, whatever their case (?Token=, ?ACCESS_TOKEN=).
func CheckQuery(raw string) error {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return Errorf(http.StatusBadRequest, "malformed query string (%v): separate parameters with & and percent-encode ; and other reserved characters", err)
	}
	for k, vs := range q {
		for _, v := range append(vs, k) {
			if err := checkText(v); err != nil {
				return Errorf(http.StatusBadRequest, "query parameter %q %v", strings.ToValidUTF8(k, "\uFFFD"), err)
			}
		}
		for _, p := range queryTokenParams {
			if strings.EqualFold(k, p) {
				return Errorf(http.StatusBadRequest, "credentials in the query string are refused (%q); send Authorization: Bearer <token>", k)
			}
		}
	}
	return nil
}

// checkText refuses what no stored value can hold (PostgreSQL's text takes neither NUL nor
// invalid UTF-8, and would answer 500 for it), so that a parameter gets 400 before a query.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("is not valid UTF-8 (percent-encode the UTF-8 bytes of the text)")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("contains a NUL character")
	}
	return nil
}

// CheckParams refuses path parameters (percent-decoded) that are not valid UTF-8 or hold NUL:
// GET /v1/tasks/%00 and /v1/tasks/%ff are 400, whatever the route.
func CheckParams(c echo.Context) error {
	for i, name := range c.ParamNames() {
		if i >= len(c.ParamValues()) || name == "*" {
			break
		}
		v, err := url.PathUnescape(c.ParamValues()[i])
		if err == nil {
			err = checkText(v)
		} else {
			err = fmt.Errorf("is not correctly percent-encoded")
		}
		if err != nil {
			return Errorf(http.StatusBadRequest, "path parameter %s %v", name, err)
		}
	}
	return nil
}

// Authenticate requires "Authorization: Bearer <token>" with a token of t. It refuses
// credentials in the query string (400) and answers 401 otherwise.
func Authenticate(t *Tokens) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := CheckQuery(c.Request().URL.RawQuery); err != nil {
				return err
			}
			if err := CheckParams(c); err != nil {
				return err
			}
			h := c.Request().Header.Get(echo.HeaderAuthorization)
			scheme, tok, found := strings.Cut(h, " ")
			if h == "" {
				return unauthorized(c, "missing Authorization header; send Authorization: Bearer <token>")
			}
			if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
				return unauthorized(c, "Authorization header must be: Bearer <token>")
			}
			who, ok := t.Lookup(strings.TrimSpace(tok))
			if !ok {
				return unauthorized(c, "unknown bearer token")
			}
			c.Set(principalKey, who)
			return next(c)
		}
	}
}

func unauthorized(c echo.Context, msg string) error {
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="taskhook"`)
	return &Error{Status: http.StatusUnauthorized, Message: msg}
}

// RequireWrite answers 403 unless the request's principal is an admin. Use after Authenticate.
func RequireWrite(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if PrincipalOf(c).Role < RoleAdmin {
			return Errorf(http.StatusForbidden, "this token is read-only (viewer); writes need an admin token")
		}
		return next(c)
	}
}

// PrincipalOf returns the authenticated principal of c (zero when unauthenticated).
func PrincipalOf(c echo.Context) Principal {
	p, _ := c.Get(principalKey).(Principal)
	return p
}
