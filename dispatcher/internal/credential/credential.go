// Package credential authenticates outbound deliveries: none, a bearer token, a Standard Webhooks
// HMAC signature, or SMART Backend Services (a signed JWT exchanged for an access token). A
// webhook's credential configuration is sealed at rest and write-only in the API; Hint gives the
// masked form responses show.
package credential

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Types of credential.
const (
	None         = "none"
	Bearer       = "bearer"
	HMAC         = "hmac"
	SMARTBackend = "smart_backend"
)

// Kind is one type of credential as the API and the dashboard name it.
type Kind struct {
	Type  string `json:"type"`
	Label string `json:"label"`
}

// Kinds lists every type of credential: the one list the API's validation, the OpenAPI
// document and the dashboard's form are built from.
func Kinds() []Kind {
	return []Kind{
		{None, "None"},
		{Bearer, "Bearer token"},
		{HMAC, "HMAC signature (Standard Webhooks)"},
		{SMARTBackend, "SMART Backend Services (FHIR)"},
	}
}

// Types lists the names of Kinds.
func Types() []string {
	ks := Kinds()
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Type
	}
	return out
}

// SecretPrefix starts every Standard Webhooks signing secret.
const SecretPrefix = "whsec_"

// Config is a webhook's "auth" object. Every field but Type, ClientID, TokenURL, KeyID and
// Scope is secret.
type Config struct {
	Type string `json:"type"`
	// bearer
	Token string `json:"token,omitempty"`
	// hmac; during a rotation the previous secret keeps signing until PreviousUntil
	Secret         string    `json:"secret,omitempty"`
	PreviousSecret string    `json:"previous_secret,omitempty"`
	PreviousUntil  time.Time `json:"previous_until,omitzero"`
	// smart_backend
	ClientID      string `json:"client_id,omitempty"`
	TokenURL      string `json:"token_url,omitempty"`
	PrivateKeyPEM string `json:"private_key_pem,omitempty"`
	KeyID         string `json:"key_id,omitempty"`
	Scope         string `json:"scope,omitempty"`
	// RotateKey (input only) asks for a new generated key; the replaced key's public half stays
	// in the JWK Set until PreviousUntil.
	RotateKey            bool   `json:"rotate_key,omitempty"`
	PreviousPublicKeyPEM string `json:"previous_public_key_pem,omitempty"`
	PreviousKeyID        string `json:"previous_key_id,omitempty"`
}

// Credential adds authentication to a request whose body is final.
type Credential interface {
	Apply(ctx context.Context, req *http.Request, msgID string, ts time.Time, body []byte) error
}

// Refreshable is a credential holding a cached token: Invalidate drops it (after a 401).
type Refreshable interface {
	Credential
	Invalidate()
}

// GenerateSecret returns a new signing secret: whsec_ and base64 of 32 random bytes.
func GenerateSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("credential: crypto/rand failed: " + err.Error())
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// SecretKey decodes a whsec_ secret into its HMAC key.
func SecretKey(secret string) ([]byte, error) {
	s, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("must start with %s", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("must be %s followed by base64", SecretPrefix)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("must hold 24 to 64 bytes of key, got %d", len(key))
	}
	return key, nil
}

// Sign computes one Standard Webhooks signature, "v1,<base64 HMAC-SHA256(key, id.ts.body)>".
func Sign(key []byte, msgID string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Verify checks a webhook-signature header (space-separated signatures) against secret, as a
// receiver would; used by tests and by the test endpoint's documentation.
func Verify(secret, header, msgID string, ts time.Time, body []byte) bool {
	key, err := SecretKey(secret)
	if err != nil {
		return false
	}
	want := Sign(key, msgID, ts, body)
	for _, sig := range strings.Fields(header) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

// Hint is the masked form of a credential for API responses: the type's visible parts only.
func Hint(c Config) string {
	switch c.Type {
	case Bearer:
		return "…" + last4(c.Token)
	case HMAC:
		h := SecretPrefix + "…" + last4(c.Secret)
		if c.PreviousSecret != "" {
			h += " (previous secret valid until " + c.PreviousUntil.UTC().Format(time.RFC3339) + ")"
		}
		return h
	case SMARTBackend:
		return "client " + c.ClientID + ", key " + c.KeyID
	}
	return ""
}

func last4(s string) string {
	if len(s) <= 8 {
		return ""
	}
	return s[len(s)-4:]
}

type none struct{}

func (none) Apply(context.Context, *http.Request, string, time.Time, []byte) error { return nil }

type bearer struct{ header string }

func (b bearer) Apply(_ context.Context, req *http.Request, _ string, _ time.Time, _ []byte) error {
	req.Header.Set("Authorization", b.header)
	return nil
}

type signer struct {
	keys  [][]byte
	until []time.Time // zero: no end
	now   func() time.Time
}

func (s signer) Apply(_ context.Context, req *http.Request, msgID string, ts time.Time, body []byte) error {
	sigs := make([]string, 0, len(s.keys))
	now := s.now()
	for i, k := range s.keys {
		if !s.until[i].IsZero() && now.After(s.until[i]) {
			continue
		}
		sigs = append(sigs, Sign(k, msgID, ts, body))
	}
	req.Header.Set("webhook-signature", strings.Join(sigs, " "))
	return nil
}

// Deps are what credentials that talk to the network need.
type Deps struct {
	HTTPClient *http.Client     // for token endpoints (the SSRF-safe client)
	Now        func() time.Time // nil: time.Now
}

// SMARTFactory builds smart_backend credentials (provided by the fhir auth package, so that this
// package stays free of JWT code).
type SMARTFactory func(c Config, deps Deps) (Refreshable, error)

// New builds the credential of c. smart may be nil when no webhook uses smart_backend.
func New(c Config, deps Deps, smart SMARTFactory) (Credential, error) {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	switch c.Type {
	case "", None:
		return none{}, nil
	case Bearer:
		return bearer{header: "Bearer " + c.Token}, nil
	case HMAC:
		key, err := SecretKey(c.Secret)
		if err != nil {
			return nil, fmt.Errorf("hmac secret %w", err)
		}
		s := signer{keys: [][]byte{key}, until: []time.Time{{}}, now: deps.Now}
		if c.PreviousSecret != "" {
			if prev, err := SecretKey(c.PreviousSecret); err == nil {
				s.keys, s.until = append(s.keys, prev), append(s.until, c.PreviousUntil)
			}
		}
		return s, nil
	case SMARTBackend:
		if smart == nil {
			return nil, fmt.Errorf("smart_backend is not available in this build")
		}
		return smart(c, deps)
	}
	return nil, fmt.Errorf("unknown auth type %q", c.Type)
}
