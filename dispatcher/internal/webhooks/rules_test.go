package webhooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

func TestDecode(t *testing.T) {
	cases := []struct {
		name, body string
		kind       error
		path, msg  string // the first problem (ErrInvalid) or the message
	}{
		{"valid", `{"name": "a", "events": ["task.created"]}`, nil, "", ""},
		{"wrong type", `{"name": 5}`, ErrInvalid, "/name", "must be a string, got a number"},
		{"array of strings", `{"events": "task.created"}`, ErrInvalid, "/events", "must be an array of strings, got a string"},
		{"nested", `{"auth": {"type": 1}}`, ErrInvalid, "/auth/type", "must be a string, got a number"},
		{"unknown field", `{"nmae": "a"}`, ErrInvalid, "/nmae", "unknown field (check the spelling"}, //nolint:misspell // the misspelling is the test
		{"key twice", `{"name": "a", "name": "b"}`, ErrInvalid, "/name", ""},
		{"two values", `{} {}`, ErrBadRequest, "", "malformed JSON: "},
		{"truncated", `{"name": `, ErrBadRequest, "", "malformed JSON: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var in Input
			err := Decode([]byte(tc.body), &in)
			if tc.kind == nil {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tc.kind) {
				t.Fatalf("Decode = %v, want a %v", err, tc.kind)
			}
			if tc.kind == ErrInvalid {
				if e.Message != BodyInvalidMessage || len(e.Problems) == 0 || e.Problems[0].Path != tc.path || !strings.HasPrefix(e.Problems[0].Message, tc.msg) {
					t.Fatalf("got %q %+v, want %s: %s", e.Message, e.Problems, tc.path, tc.msg)
				}
			} else if !strings.HasPrefix(e.Message, tc.msg) {
				t.Fatalf("message %q, want %q", e.Message, tc.msg)
			}
		})
	}
}

func TestParseDigest(t *testing.T) {
	cases := []struct {
		raw   string
		paths []string
		off   bool
	}{
		{``, nil, false},
		{`null`, nil, true},
		{`{"window": "15m"}`, nil, false},
		{`{"daily_at": "08:00", "send_empty": true}`, nil, false},
		{`"15m"`, []string{"/digest"}, false},
		{`{"daily_at": 8, "send_empty": "yes", "every": 1}`, []string{"/digest/daily_at", "/digest/every", "/digest/send_empty"}, false},
	}
	for _, tc := range cases {
		w := &subscription.Webhook{Digest: &digest.Spec{}}
		var raw []byte
		if tc.raw != "" {
			raw = []byte(tc.raw)
		}
		ps := parseDigest(raw, w)
		var paths []string
		for _, p := range ps {
			paths = append(paths, p.Path)
		}
		if strings.Join(paths, ",") != strings.Join(tc.paths, ",") {
			t.Errorf("%s: problems at %v, want %v", tc.raw, paths, tc.paths)
		}
		if tc.off != (w.Digest == nil) {
			t.Errorf("%s: digest %+v", tc.raw, w.Digest)
		}
	}
}

func TestSettleDigest(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	window := &digest.Spec{Window: digest.Duration(15 * time.Minute)}
	daily := &digest.Spec{DailyAt: "08:00"}
	dailyEmpty := &digest.Spec{DailyAt: "08:00", SendEmpty: true}
	cases := []struct {
		name        string
		old, cur    *digest.Spec
		close, open bool
	}{
		{"none to none", nil, nil, false, false},
		{"new window", nil, window, false, false},
		{"unchanged", window, &digest.Spec{Window: digest.Duration(15 * time.Minute)}, false, false},
		{"changed", window, daily, true, false},
		{"removed", daily, nil, true, false},
		{"daily sending empty days always has a window", nil, dailyEmpty, false, true},
		{"changed to daily sending empty days", window, dailyEmpty, true, true},
	}
	for _, tc := range cases {
		ch := settleDigest(tc.old, tc.cur, time.UTC, now)
		if ch.Close != tc.close || ch.Open != tc.open {
			t.Errorf("%s: %+v, want close %v open %v", tc.name, ch, tc.close, tc.open)
		}
		if ch.Open && (!ch.OpenAt.Equal(now) || !ch.Closes.After(now)) {
			t.Errorf("%s: window %v to %v", tc.name, ch.OpenAt, ch.Closes)
		}
	}
}

func TestMergeAuth(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	grace := 24 * time.Hour
	hmac := func(secret string) credential.Config { return credential.Config{Type: credential.HMAC, Secret: secret} }
	cases := []struct {
		name          string
		cur, prev     credential.Config
		generated     bool   // a secret was generated (to show once)
		previous      string // the secret that keeps signing through the grace period
		previousUntil time.Time
	}{
		{"rotate: new secret generated, old one kept", hmac(""), hmac("whsec_old"), true, "whsec_old", now.Add(grace)},
		{"rotate to a given secret", hmac("whsec_new"), hmac("whsec_old"), false, "whsec_old", now.Add(grace)},
		{"same secret again: nothing to keep", hmac("whsec_old"), hmac("whsec_old"), false, "", time.Time{}},
		{"from bearer to hmac", hmac(""), credential.Config{Type: credential.Bearer, Token: "t"}, true, "", time.Time{}},
		{"bearer: nothing generated", credential.Config{Type: credential.Bearer, Token: "t2"}, credential.Config{Type: credential.Bearer, Token: "t"}, false, "", time.Time{}},
	}
	for _, tc := range cases {
		cur := tc.cur
		gen := mergeAuth(&cur, tc.prev, now, grace)
		if (gen != "") != tc.generated || (gen != "" && gen != cur.Secret) {
			t.Errorf("%s: generated %q, secret %q", tc.name, gen, cur.Secret)
		}
		if cur.PreviousSecret != tc.previous || !cur.PreviousUntil.Equal(tc.previousUntil) {
			t.Errorf("%s: previous %q until %v, want %q until %v", tc.name, cur.PreviousSecret, cur.PreviousUntil, tc.previous, tc.previousUntil)
		}
	}
}

// TestMergeAuthSMART: an update without a key keeps the key (and its id); rotate_key makes a
// new one and keeps the old public key in the JWK Set through the grace period.
func TestMergeAuthSMART(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	prev := credential.Config{Type: credential.SMARTBackend, ClientID: "c", TokenURL: "https://fhir.example/token"}
	if err := completeSMART(&prev); err != nil {
		t.Fatal(err)
	}
	keep := credential.Config{Type: credential.SMARTBackend, ClientID: "c2", TokenURL: prev.TokenURL}
	mergeAuth(&keep, prev, now, time.Hour)
	if keep.PrivateKeyPEM != prev.PrivateKeyPEM || keep.KeyID != prev.KeyID || keep.PreviousKeyID != "" {
		t.Fatalf("an update without a key did not keep it: key id %q (was %q), previous %q", keep.KeyID, prev.KeyID, keep.PreviousKeyID)
	}
	rot := credential.Config{Type: credential.SMARTBackend, ClientID: "c", TokenURL: prev.TokenURL, RotateKey: true}
	mergeAuth(&rot, prev, now, time.Hour)
	if rot.PrivateKeyPEM == prev.PrivateKeyPEM || rot.KeyID == prev.KeyID || rot.RotateKey {
		t.Fatal("rotate_key did not make a new key with its own id")
	}
	if rot.PreviousKeyID != prev.KeyID || rot.PreviousPublicKeyPEM == "" || !rot.PreviousUntil.Equal(now.Add(time.Hour)) {
		t.Fatalf("the rotated key is not kept for the grace period: %q until %v", rot.PreviousKeyID, rot.PreviousUntil)
	}
}

func TestParseTLS(t *testing.T) {
	stored := &subscription.TLSConfig{ClientCertificatePEM: "CERT", ClientKeyPEM: "KEY", CAPEM: "CA"}
	cases := []struct {
		name, raw string
		paths     []string
		want      *subscription.TLSConfig // the webhook's tls afterwards
	}{
		{"absent: unchanged", ``, nil, stored},
		{"null: none", `null`, nil, nil},
		{"same certificate without its key keeps the stored key", `{"client_certificate_pem": "CERT"}`, nil,
			&subscription.TLSConfig{ClientCertificatePEM: "CERT", ClientKeyPEM: "KEY"}},
		{"another certificate without a key keeps none", `{"client_certificate_pem": "OTHER"}`, nil,
			&subscription.TLSConfig{ClientCertificatePEM: "OTHER"}},
		{"a CA alone", `{"ca_pem": "CA2"}`, nil, &subscription.TLSConfig{CAPEM: "CA2"}},
		{"not an object", `"pem"`, []string{"/tls"}, stored},
		{"every unknown field at its pointer", `{"ca": "x", "key": "y"}`, []string{"/tls/ca", "/tls/key"}, stored},
		{"wrong type", `{"ca_pem": 5}`, []string{"/tls/ca_pem"}, stored},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cp := *stored
			w := &subscription.Webhook{TLS: &cp}
			var raw []byte
			if tc.raw != "" {
				raw = []byte(tc.raw)
			}
			var paths []string
			for _, p := range parseTLS(raw, w) {
				paths = append(paths, p.Path)
			}
			if strings.Join(paths, ",") != strings.Join(tc.paths, ",") {
				t.Fatalf("problems at %v, want %v", paths, tc.paths)
			}
			if (w.TLS == nil) != (tc.want == nil) || (w.TLS != nil && *w.TLS != *tc.want) {
				t.Fatalf("tls %+v, want %+v", w.TLS, tc.want)
			}
		})
	}
}

// TestMergeOwnAuth: an update naming routing_key or smtp without the secret keeps the stored
// one (the smtp password only for the same user); anything else is taken as given.
func TestMergeOwnAuth(t *testing.T) {
	rk := func(k string) credential.Config { return credential.Config{Type: credential.RoutingKey, RoutingKey: k} }
	smtp := func(u, p string) credential.Config {
		return credential.Config{Type: credential.SMTP, Username: u, Password: p}
	}
	cases := []struct {
		name      string
		cur, prev credential.Config
		want      credential.Config
	}{
		{"routing key kept", rk(""), rk("k1"), rk("k1")},
		{"routing key replaced", rk("k2"), rk("k1"), rk("k2")},
		{"no routing key to keep", rk(""), smtp("u", "p"), rk("")},
		{"smtp password kept for the same user", smtp("u", ""), smtp("u", "p"), smtp("u", "p")},
		{"smtp password not carried to another user", smtp("v", ""), smtp("u", "p"), smtp("v", "")},
		{"smtp password replaced", smtp("u", "p2"), smtp("u", "p"), smtp("u", "p2")},
		{"bearer untouched", credential.Config{Type: credential.Bearer}, rk("k1"), credential.Config{Type: credential.Bearer}},
	}
	for _, tc := range cases {
		cur := tc.cur
		mergeAuth(&cur, tc.prev, time.Now(), time.Hour)
		if cur != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, cur, tc.want)
		}
	}
}

// TestDiffDestinations: ordering, tls and the providers' own credentials are audited, secrets
// never with their values.
func TestDiffDestinations(t *testing.T) {
	c := &subscription.Compiler{}
	base := subscription.Webhook{Auth: credential.Config{Type: credential.RoutingKey, RoutingKey: "k1"}}
	cases := []struct {
		name   string
		change func(w *subscription.Webhook)
		field  string
	}{
		{"ordering", func(w *subscription.Webhook) { w.Ordering = "subject" }, "ordering"},
		{"tls", func(w *subscription.Webhook) { w.TLS = &subscription.TLSConfig{CAPEM: "CA"} }, "tls"},
		{"routing key", func(w *subscription.Webhook) { w.Auth.RoutingKey = "k2" }, "auth"},
		{"smtp password", func(w *subscription.Webhook) {
			w.Auth = credential.Config{Type: credential.SMTP, Username: "u", Password: "secret-2"}
		}, "auth"},
	}
	for _, tc := range cases {
		old := base
		if tc.name == "smtp password" {
			old.Auth = credential.Config{Type: credential.SMTP, Username: "u", Password: "secret-1"}
		}
		cur := old
		tc.change(&cur)
		ch := diff(c, &old, &cur)
		if _, ok := ch[tc.field]; !ok || len(ch) != 1 || (tc.name == "smtp password" && fmt.Sprint(ch) != "map[auth:map[password:changed type:smtp username:u]]") {
			t.Errorf("%s: changes %v, want only %s", tc.name, ch, tc.field)
		}
		if b, _ := json.Marshal(ch); strings.Contains(string(b), "k2") || strings.Contains(string(b), "secret-2") || strings.Contains(string(b), `"CA"`) {
			t.Errorf("%s: a secret in the audit: %s", tc.name, b)
		}
	}
}
