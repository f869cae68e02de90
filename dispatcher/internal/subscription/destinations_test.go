package subscription

import (
	"context"
	"testing"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
)

const routingKey = "0123456789abcdef0123456789ABCDEF"

func TestCheckOwnAuth(t *testing.T) {
	c := compiler(t)
	pd := func(a credential.Config) *Webhook {
		w := valid()
		w.Provider, w.URL, w.Auth = "pagerduty", "https://events.pagerduty.com/v2/enqueue", a
		Normalize(w)
		return w
	}
	mail := func(url string, a credential.Config) *Webhook {
		w := valid()
		w.Provider, w.URL, w.Auth, w.Options = "email", url, a, []byte(`{"from":"a@b.example","to":["c@d.example"]}`)
		Normalize(w)
		return w
	}
	cases := []struct {
		name string
		w    *Webhook
		path string // "" valid
	}{
		{"pagerduty with a routing key", pd(credential.Config{Type: credential.RoutingKey, RoutingKey: routingKey}), ""},
		{"pagerduty without auth", pd(credential.Config{}), "/auth/type"},
		{"pagerduty with a bearer token", pd(credential.Config{Type: credential.Bearer, Token: "x"}), "/auth/type"},
		{"routing key missing", pd(credential.Config{Type: credential.RoutingKey}), "/auth/routing_key"},
		{"routing key short", pd(credential.Config{Type: credential.RoutingKey, RoutingKey: "abc"}), "/auth/routing_key"},
		{"routing key with a space", pd(credential.Config{Type: credential.RoutingKey, RoutingKey: routingKey[:31] + " "}), "/auth/routing_key"},
		{"routing key with a stray password", pd(credential.Config{Type: credential.RoutingKey, RoutingKey: routingKey, Password: "p"}), "/auth/password"},
		{"email with a login", mail("smtp://mail.example.org", credential.Config{Type: credential.SMTP, Username: "u", Password: "p"}), ""},
		{"email over implicit TLS without login", mail("smtps://mail.example.org:465", credential.Config{}), ""},
		{"email over https", mail("https://mail.example.org", credential.Config{}), "/url"},
		{"email to a private host", mail("smtp://internal.test:25", credential.Config{}), "/url"},
		{"email login without password", mail("smtp://mail.example.org", credential.Config{Type: credential.SMTP, Username: "u"}), "/auth/password"},
		{"email with a routing key", mail("smtp://mail.example.org", credential.Config{Type: credential.RoutingKey, RoutingKey: routingKey}), "/auth/type"},
		{"email without recipients", func() *Webhook {
			w := mail("smtp://mail.example.org", credential.Config{})
			w.Options = []byte(`{"from":"a@b.example","to":[]}`)
			return w
		}(), "/options"},
		{"generic with a routing key", func() *Webhook {
			w := valid()
			w.Auth = credential.Config{Type: credential.RoutingKey, RoutingKey: routingKey}
			return w
		}(), "/auth/type"},
		{"generic with a stray routing key", func() *Webhook {
			w := valid()
			w.Auth = credential.Config{Type: credential.Bearer, Token: "tok", RoutingKey: routingKey}
			return w
		}(), "/auth/routing_key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps := c.Check(context.Background(), tc.w)
			if tc.path == "" {
				if len(ps) != 0 {
					t.Fatalf("refused: %+v", ps)
				}
				cw, err := c.Compile(tc.w)
				if err != nil {
					t.Fatal(err)
				}
				if cw.Target.Secrets != secretsOf(tc.w.Auth) {
					t.Fatalf("target secrets %+v", cw.Target.Secrets)
				}
				return
			}
			for _, p := range ps {
				if p.Path == tc.path && p.Message != "" {
					return
				}
			}
			t.Fatalf("want a problem at %s, got %+v", tc.path, ps)
		})
	}
}
