package ui

import (
	"bytes"
	"testing"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

func TestSessionSealing(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	v := session{Token: "the-admin-token", Expires: now.Add(time.Hour).Unix(), Nonce: newNonce()}
	sealed, err := s.seal(v)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains([]byte(sealed), []byte("the-admin-token")) {
		t.Fatal("the token is readable in the cookie")
	}
	got, err := s.open(sealed, now)
	if err != nil || got != v {
		t.Fatalf("open = %+v, %v; want %+v", got, err, v)
	}
	if _, err := s.open(sealed, now.Add(time.Hour)); err == nil {
		t.Error("an expired session opened")
	}
	tampered := []byte(sealed)
	tampered[len(tampered)/2] ^= 1
	if tampered[len(tampered)/2] == sealed[len(sealed)/2] {
		t.Fatal("no change")
	}
	if _, err := s.open(string(tampered), now); err == nil {
		t.Error("a tampered cookie opened")
	}
	other, _ := newSealer(bytes.Repeat([]byte{8}, 32))
	if _, err := other.open(sealed, now); err == nil {
		t.Error("a cookie sealed with another key opened")
	}
	for _, junk := range []string{"", "x", "!!!!", sealed[:10]} {
		if _, err := s.open(junk, now); err == nil {
			t.Errorf("junk %q opened", junk)
		}
	}
	// CSRF tokens are bound to the session.
	w := v
	w.Nonce = newNonce()
	if !s.checkCSRF(v, s.csrf(v)) || s.checkCSRF(w, s.csrf(v)) || s.checkCSRF(v, "") {
		t.Error("a CSRF token must be accepted by its own session only")
	}
	if _, err := newSealer(make([]byte, 16)); err == nil {
		t.Error("a short key was accepted")
	}
}

// The API's 422 pointers land on the form's fields; what has no field is kept apart.
func TestFieldOf(t *testing.T) {
	for ptr, want := range map[string]string{
		"/url": "url", "/events": "events", "/events/2": "events", "/filter": "filter", "/template": "template",
		"/template_content_type": "template_type", "/timezone": "timezone", "/rate_limit_per_second": "rate_limit",
		"/max_attempts": "max_attempts", "/auth/token": "auth_token", "/auth/secret": "auth_secret",
		"/auth/private_key_pem": "private_key", "/auth/client_id": "client_id", "/auth/type": "auth_type", "/auth": "auth_type",
		"/options/identifier_system": "opt-identifier_system", "/options": "options", "/name": "name", "/digest": "digest_mode", "/digest/window": "digest_window",
		"/digest/daily_at": "digest_daily_at", "/send_traceparent": "send_traceparent", "/digestive": "",
	} {
		if got := fieldOf(ptr); got != want {
			t.Errorf("fieldOf(%q) = %q, want %q", ptr, got, want)
		}
	}
	by, other := fieldErrors([]subscription.Problem{{Path: "/url", Message: "a"}, {Path: "/url", Message: "b"}, {Path: "/x", Message: "c"}})
	if len(by["url"]) != 2 || len(other) != 1 || other[0] != "/x: c" {
		t.Errorf("fieldErrors = %v, %v", by, other)
	}
}
