package smart

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
)

func pemOf(t *testing.T, k any) string {
	b, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: b}))
}

// tokenServer is a SMART token endpoint: it verifies assertions with the public key.
type tokenServer struct {
	*httptest.Server
	t       *testing.T
	pub     any
	alg     string
	mu      sync.Mutex
	calls   int
	jtis    map[string]bool
	answer  func(w http.ResponseWriter)
	clockAt func() time.Time
}

func newTokenServer(t *testing.T, pub any, alg string) *tokenServer {
	ts := &tokenServer{t: t, pub: pub, alg: alg, jtis: map[string]bool{}}
	ts.answer = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + time.Now().Format("150405.000000"), "token_type": "bearer", "expires_in": 300, "scope": "system/Task.write"})
	}
	ts.Server = httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	ts.mu.Lock()
	ts.calls++
	ts.mu.Unlock()
	if err := r.ParseForm(); err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		w.WriteHeader(400)
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" || f.Get("client_assertion_type") != AssertionType || f.Get("scope") != "system/Task.write" {
		ts.t.Errorf("form %v", f)
	}
	var claims jwt.RegisteredClaims
	tok, err := jwt.ParseWithClaims(f.Get("client_assertion"), &claims, func(tok *jwt.Token) (any, error) { return ts.pub, nil },
		jwt.WithValidMethods([]string{ts.alg}), jwt.WithAudience(ts.URL+"/token"), jwt.WithIssuer("client-1"), jwt.WithTimeFunc(ts.now))
	if err != nil {
		ts.t.Errorf("assertion does not verify: %v", err)
		w.WriteHeader(401)
		return
	}
	if tok.Header["kid"] != "key-1" || claims.Subject != "client-1" || claims.ExpiresAt.Sub(claims.IssuedAt.Time) > 5*time.Minute || claims.ID == "" {
		ts.t.Errorf("claims %+v header %v", claims, tok.Header)
	}
	// aud is one string, as in the SMART Backend Services examples (some servers refuse an array).
	parts := strings.Split(f.Get("client_assertion"), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil || raw["aud"] != ts.URL+"/token" {
		ts.t.Errorf("aud is %#v, want the token URL as a string", raw["aud"])
	}
	ts.mu.Lock()
	if ts.jtis[claims.ID] {
		ts.t.Errorf("jti %s reused", claims.ID)
	}
	ts.jtis[claims.ID] = true
	ts.mu.Unlock()
	ts.answer(w)
}

func (ts *tokenServer) now() time.Time {
	if ts.clockAt != nil {
		return ts.clockAt()
	}
	return time.Now()
}

func config(ts *tokenServer, keyPEM string) credential.Config {
	return credential.Config{Type: credential.SMARTBackend, ClientID: "client-1", TokenURL: ts.URL + "/token",
		PrivateKeyPEM: keyPEM, KeyID: "key-1", Scope: "system/Task.write"}
}

func apply(t *testing.T, c credential.Refreshable) string {
	t.Helper()
	req, _ := http.NewRequest("POST", "https://fhir.example.org/Task", nil)
	if err := c.Apply(context.Background(), req, "id", time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	return req.Header.Get("Authorization")
}

func TestRS384AndES384TokensAreCachedAndRefreshed(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, c := range []struct {
		alg  string
		priv any
		pub  any
	}{{"RS384", rsaKey, &rsaKey.PublicKey}, {"ES384", ecKey, &ecKey.PublicKey}} {
		ts := newTokenServer(t, c.pub, c.alg)
		now := time.Now()
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		ts.clockAt = clock
		cr, err := New(config(ts, pemOf(t, c.priv)), credential.Deps{HTTPClient: ts.Client(), Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		first := apply(t, cr)
		if !strings.HasPrefix(first, "Bearer at-") || apply(t, cr) != first || ts.calls != 1 {
			t.Fatalf("%s: not cached (%d token requests)", c.alg, ts.calls)
		}
		mu.Lock()
		now = now.Add(280 * time.Second) // within 30 s of the 300 s expiry
		mu.Unlock()
		apply(t, cr)
		if ts.calls != 2 {
			t.Fatalf("%s: not refreshed before expiry (%d requests)", c.alg, ts.calls)
		}
		cr.Invalidate()
		apply(t, cr)
		if ts.calls != 3 || len(ts.jtis) != 3 {
			t.Fatalf("%s: Invalidate did not force a new token (%d requests, %d jtis)", c.alg, ts.calls, len(ts.jtis))
		}
	}
}

func TestTokenErrorsNeverLeak(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	ts := newTokenServer(t, &k.PublicKey, "RS384")
	keyPEM := pemOf(t, k)
	cr, _ := New(config(ts, keyPEM), credential.Deps{HTTPClient: ts.Client()})
	for name, answer := range map[string]func(w http.ResponseWriter){
		"401 json": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			w.Write([]byte(`{"error":"invalid_client","error_description":"unknown key"}`))
		},
		"400 html": func(w http.ResponseWriter) { w.WriteHeader(400); w.Write([]byte("<html>secret stack trace</html>")) },
		"mac token": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token":"x","token_type":"mac"}`))
		},
		"no token": func(w http.ResponseWriter) { w.Header().Set("Content-Type", "application/json"); w.Write([]byte(`{}`)) },
	} {
		ts.answer = answer
		cr.Invalidate()
		req, _ := http.NewRequest("POST", "https://fhir.example.org/Task", nil)
		err := cr.Apply(context.Background(), req, "id", time.Now(), nil)
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		msg := err.Error()
		if strings.Contains(msg, "PRIVATE") || strings.Contains(msg, "eyJ") || strings.Contains(msg, "secret stack") || strings.Contains(msg, ts.URL) {
			t.Errorf("%s: error leaks: %s", name, msg)
		}
		if name == "401 json" && !strings.Contains(msg, "401 (invalid_client)") {
			t.Errorf("%s: %s", name, msg)
		}
	}
}

func TestCheckKeys(t *testing.T) {
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsa2048)}))
	sec1b, _ := x509.MarshalECPrivateKey(p384)
	sec1 := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1b}))
	for name, c := range map[string]struct {
		pem string
		ok  bool
	}{
		"RSA 2048 PKCS#8": {pemOf(t, rsa2048), true}, "RSA 2048 PKCS#1": {pkcs1, true}, "P-384 PKCS#8": {pemOf(t, p384), true},
		"P-384 SEC1": {sec1, true}, "RSA 1024": {pemOf(t, rsa1024), false}, "P-256": {pemOf(t, p256), false},
		"garbage": {"not a key", false}, "certificate": {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", false},
	} {
		err := Check(credential.Config{PrivateKeyPEM: c.pem})
		if (err == nil) != c.ok {
			t.Errorf("%s: %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "MII") {
			t.Errorf("%s: error carries key material", name)
		}
	}
}
