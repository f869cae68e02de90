package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

type jwkSet struct {
	Keys []struct {
		Kty, Kid, Alg, Crv, X, Y string
	}
}

func (h *harness) jwks(t *testing.T) jwkSet {
	t.Helper()
	var s jwkSet
	r := h.do("GET", "/.well-known/jwks.json", "", nil)
	if r.Status != 200 {
		t.Fatalf("jwks: %d %s", r.Status, r.Body)
	}
	r.decode(t, &s)
	return s
}

// TestGeneratedSMARTKeysAndJWKS: a smart_backend webhook without a key gets a P-384 key and a
// stable key_id; its public key is in the unauthenticated JWK Set, and the client assertions it
// signs verify with it. A rotated key stays in the set for the grace period beside the new one;
// the set is the same after a restart.
func TestGeneratedSMARTKeysAndJWKS(t *testing.T) {
	srv, dbURL := natstestStart(t), newDB(t)
	h := startWith(t, srv, dbURL, dbURL)
	var mu sync.Mutex
	var assertions []string
	token := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		assertions = append(assertions, r.PostForm.Get("client_assertion"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"t","token_type":"bearer","expires_in":300}`))
	}))
	defer token.Close()
	emr := newReceiver(t, answer{status: 201})
	r := h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "Epic", "url": emr.URL + "/R4", "provider": "fhir",
		"auth": map[string]any{"type": "smart_backend", "client_id": "taskhook", "token_url": token.URL + "/oauth2/token"}})
	var v struct {
		ID   string
		Auth struct {
			KeyID string `json:"key_id"`
		}
	}
	r.decode(t, &v)
	if r.Status != 201 || len(v.Auth.KeyID) != len("taskhook-")+16 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	set := h.jwks(t)
	if len(set.Keys) != 1 || set.Keys[0].Kid != v.Auth.KeyID || set.Keys[0].Kty != "EC" || set.Keys[0].Crv != "P-384" || set.Keys[0].Alg != "ES384" {
		t.Fatalf("jwks %+v", set)
	}
	// The assertion of a test send verifies with the published key.
	h.do("POST", "/v1/webhooks/"+v.ID+"/test", adminToken, nil)
	mu.Lock()
	if len(assertions) == 0 {
		mu.Unlock()
		t.Fatal("no client assertion reached the token endpoint")
	}
	assertion := assertions[len(assertions)-1]
	mu.Unlock()
	k := set.Keys[0]
	xb, _ := base64.RawURLEncoding.DecodeString(k.X)
	yb, _ := base64.RawURLEncoding.DecodeString(k.Y)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P384(), append(append([]byte{4}, xb...), yb...))
	if err != nil || len(xb) != 48 || len(yb) != 48 {
		t.Fatalf("the published key is not a P-384 point of 48-byte coordinates: %v", err)
	}
	tok, err := jwt.Parse(assertion, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithValidMethods([]string{"ES384"}))
	if err != nil || tok.Header["kid"] != v.Auth.KeyID {
		t.Fatalf("the assertion does not verify with the published key: %v", err)
	}

	// Rotation: a new key and id, the old one kept in the set through the grace period.
	r = h.do("PATCH", "/v1/webhooks/"+v.ID, adminToken, map[string]any{"auth": map[string]any{"type": "smart_backend", "client_id": "taskhook",
		"token_url": token.URL + "/oauth2/token", "rotate_key": true}})
	var after struct {
		Auth struct {
			KeyID string `json:"key_id"`
		}
	}
	r.decode(t, &after)
	if r.Status != 200 || after.Auth.KeyID == v.Auth.KeyID || after.Auth.KeyID == "" {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	set = h.jwks(t)
	kids := map[string]bool{}
	for _, k := range set.Keys {
		kids[k.Kid] = true
	}
	if len(set.Keys) != 2 || !kids[v.Auth.KeyID] || !kids[after.Auth.KeyID] {
		t.Fatalf("after rotation: %+v", set)
	}
	h.stop()
	again := startWith(t, srv, dbURL, dbURL, "TASKHOOK_ENCRYPTION_KEY="+h.cfg.EncryptionKey)
	if got := again.jwks(t); len(got.Keys) != 2 || got.Keys[0] != set.Keys[0] || got.Keys[1] != set.Keys[1] {
		t.Fatalf("the set changed across a restart: %+v, was %+v", got, set)
	}
}
