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
				if cw.Target.Secrets.RoutingKey != routingKey {
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
