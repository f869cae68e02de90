// Package smart authenticates deliveries to FHIR servers with SMART Backend Services (the
// client-credentials flow with a signed JWT, as Epic and most EMRs require): an assertion signed
// with the webhook's private key (RS384 for RSA, ES384 for P-384), iss = sub = client id,
// aud = token URL, valid five minutes, unique jti, is exchanged at the token URL for an access
// token, which is cached until shortly before it expires. The engine drops the cached token
// (Invalidate) when the FHIR server answers 401, and tries once more.
package smart

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
)

// Assertion and token lifetimes.
const (
	AssertionLifetime = 5 * time.Minute  // SMART allows at most five minutes
	DefaultExpiresIn  = 5 * time.Minute  // when the token answer has no expires_in
	RefreshBefore     = 30 * time.Second // a token is renewed this long before it expires
	AssertionType     = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// key is a parsed private key and its JWT algorithm.
type key struct {
	signer any
	method jwt.SigningMethod
}

func parseKey(pemText string) (*key, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(pemText)))
	if block == nil {
		return nil, errors.New("private_key_pem is not a PEM block")
	}
	var k any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("private_key_pem holds a %q block; use a PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key", block.Type)
	}
	if err != nil {
		return nil, errors.New("private_key_pem does not parse as a private key")
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("the RSA key has %d bits; SMART needs at least 2048", k.N.BitLen())
		}
		return &key{signer: k, method: jwt.SigningMethodRS384}, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("the EC key is on %s; SMART's ES384 needs P-384", k.Curve.Params().Name)
		}
		return &key{signer: k, method: jwt.SigningMethodES384}, nil
	}
	return nil, errors.New("private_key_pem must hold an RSA (2048 bits or more, RS384) or EC P-384 (ES384) key")
}

// Check validates a smart_backend configuration when a webhook is saved.
func Check(c credential.Config) error {
	_, err := parseKey(c.PrivateKeyPEM)
	return err
}

// Credential is a SMART Backend Services credential with its cached access token.
type Credential struct {
	cfg    credential.Config
	key    *key
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex // held while fetching, so concurrent attempts share one fetch
	token   string
	expires time.Time
}

// New builds a credential; it has the signature of credential.SMARTFactory.
func New(c credential.Config, deps credential.Deps) (credential.Refreshable, error) {
	k, err := parseKey(c.PrivateKeyPEM)
	if err != nil {
		return nil, err
	}
	if deps.HTTPClient == nil {
		return nil, errors.New("smart: no HTTP client")
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	return &Credential{cfg: c, key: k, client: deps.HTTPClient, now: now}, nil
}

// Apply implements credential.Credential: Authorization: Bearer <access token>.
func (s *Credential) Apply(ctx context.Context, req *http.Request, _ string, _ time.Time, _ []byte) error {
	tok, err := s.accessToken(ctx)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

// Invalidate implements credential.Refreshable.
func (s *Credential) Invalidate() {
	s.mu.Lock()
	s.token, s.expires = "", time.Time{}
	s.mu.Unlock()
}

func (s *Credential) accessToken(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Before(s.expires.Add(-RefreshBefore)) {
		return s.token, nil
	}
	tok, ttl, err := s.fetch(ctx)
	if err != nil {
		return "", err
	}
	s.token, s.expires = tok, s.now().Add(ttl)
	return tok, nil
}

// Assertion signs a client assertion for the token URL.
func (s *Credential) Assertion() (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	now := s.now()
	t := jwt.NewWithClaims(s.key.method, assertionClaims{
		Issuer:    s.cfg.ClientID,
		Subject:   s.cfg.ClientID,
		Audience:  s.cfg.TokenURL,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(AssertionLifetime)),
		ID:        hex.EncodeToString(jti),
	})
	t.Header["kid"] = s.cfg.KeyID
	t.Header["typ"] = "JWT"
	return t.SignedString(s.key.signer)
}

// assertionClaims are the claims of a client assertion. aud is a single string, as in the SMART
// Backend Services examples (jwt.RegisteredClaims writes an array, which some servers refuse).
type assertionClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  string           `json:"aud"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ExpiresAt *jwt.NumericDate `json:"exp"`
	ID        string           `json:"jti"`
}

// The jwt.Claims methods (the library validates with them; Taskhook only signs).
func (c assertionClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c assertionClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c assertionClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c assertionClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c assertionClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c assertionClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{c.Audience}, nil
}

type tokenAnswer struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.Number     `json:"expires_in"`
	Error       string          `json:"error"`
	Description json.RawMessage `json:"error_description"`
}

func (s *Credential) fetch(ctx context.Context) (string, time.Duration, error) {
	assertion, err := s.Assertion()
	if err != nil {
		return "", 0, fmt.Errorf("smart: sign the client assertion: %w", err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {AssertionType}, "client_assertion": {assertion}}
	if s.cfg.Scope != "" {
		form.Set("scope", s.cfg.Scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, errors.New("smart: invalid token_url")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("smart: token endpoint: %s", scrub(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var ans tokenAnswer
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	jsonBody := (mt == "application/json" || strings.HasSuffix(mt, "+json")) && json.Unmarshal(body, &ans) == nil
	if resp.StatusCode != http.StatusOK {
		if jsonBody && ans.Error != "" && len(ans.Error) <= 64 {
			return "", 0, fmt.Errorf("smart: token endpoint answered %d (%s)", resp.StatusCode, ans.Error)
		}
		return "", 0, fmt.Errorf("smart: token endpoint answered %d", resp.StatusCode)
	}
	if !jsonBody || ans.AccessToken == "" {
		return "", 0, errors.New("smart: the token endpoint's answer has no access_token")
	}
	if !strings.EqualFold(ans.TokenType, "bearer") {
		return "", 0, fmt.Errorf("smart: token_type %q is not bearer", ans.TokenType)
	}
	ttl := DefaultExpiresIn
	if secs, err := ans.ExpiresIn.Int64(); err == nil && secs > 0 {
		ttl = time.Duration(secs) * time.Second
	}
	return ans.AccessToken, ttl, nil
}

// scrub drops the URL net/http puts in client errors.
func scrub(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
