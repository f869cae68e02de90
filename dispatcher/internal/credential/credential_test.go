package credential

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks specification's published test vector.
func TestSignStandardWebhooksVector(t *testing.T) {
	key, err := SecretKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

func TestHMACRotationSendsBothSignatures(t *testing.T) {
	old, cur := GenerateSecret(), GenerateSecret()
	now := time.Now()
	body := []byte(`{"a":1}`)
	for _, c := range []struct {
		until time.Time
		n     int
	}{{now.Add(time.Hour), 2}, {now.Add(-time.Second), 1}} {
		cr, err := New(Config{Type: HMAC, Secret: cur, PreviousSecret: old, PreviousUntil: c.until}, Deps{Now: func() time.Time { return now }}, nil)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", "https://x", nil)
		if err := cr.Apply(context.Background(), req, "id-1", now, body); err != nil {
			t.Fatal(err)
		}
		h := req.Header.Get("webhook-signature")
		if len(strings.Fields(h)) != c.n || !Verify(cur, h, "id-1", now, body) {
			t.Fatalf("header %q", h)
		}
		if Verify(old, h, "id-1", now, body) != (c.n == 2) {
			t.Fatalf("previous secret validity wrong in %q", h)
		}
		if Verify(cur, h, "id-2", now, body) || Verify(cur, h, "id-1", now.Add(time.Second), body) || Verify(cur, h, "id-1", now, []byte(`{"a":2}`)) {
			t.Fatal("signature verifies for another id, time or body")
		}
	}
}

func TestSecretsAndHints(t *testing.T) {
	s := GenerateSecret()
	if k, err := SecretKey(s); err != nil || len(k) != 32 {
		t.Fatal(k, err)
	}
	for _, bad := range []string{"", "abc", "whsec_", "whsec_!!!", "whsec_c2hvcnQ="} {
		if _, err := SecretKey(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	for _, c := range []Config{{Type: Bearer, Token: "super-secret-token-1234"}, {Type: HMAC, Secret: s}} {
		h := Hint(c)
		if strings.Contains(h, c.Token+c.Secret) || len(h) > 40 || (c.Token != "" && strings.Contains(h, "super")) {
			t.Errorf("hint %q leaks", h)
		}
	}
	req, _ := http.NewRequest("POST", "https://x", nil)
	cr, _ := New(Config{Type: Bearer, Token: "t0k"}, Deps{}, nil)
	_ = cr.Apply(context.Background(), req, "", time.Now(), nil)
	if req.Header.Get("Authorization") != "Bearer t0k" {
		t.Fatal(req.Header)
	}
	if _, err := New(Config{Type: "kerberos"}, Deps{}, nil); err == nil {
		t.Fatal("unknown type accepted")
	}
	if _, err := New(Config{Type: SMARTBackend}, Deps{}, nil); err == nil {
		t.Fatal("smart_backend without a factory accepted")
	}
}
