package app

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/providers"
	"github.com/taskhook/taskhook/pkg/families"
	"github.com/taskhook/taskhook/pkg/openapitest"
)

func TestWebhookAPI(t *testing.T) {
	h := start(t)
	rcv := newReceiver(t)
	body := map[string]any{"name": "Cardiology", "url": rcv.URL + "/x", "events": []string{"task.created", "task.*"},
		"filter": `type == "task.created"`, "auth": map[string]any{"type": "bearer", "token": "canvas-auth-token-9876"},
		"max_attempts": 4, "timezone": "America/New_York", "description": "desk"}
	created := h.do("POST", "/v1/webhooks", adminToken, body)
	if created.Status != 201 || created.Header.Get("Location") == "" {
		t.Fatalf("%d %s", created.Status, created.Body)
	}
	var v webhookView
	created.decode(t, &v)
	if v.Auth.Type != "bearer" || v.Auth.Secret != "" || !strings.HasSuffix(v.Auth.Hint, "9876") || v.MaxAttempts != 4 || v.Health.State != "green" || v.URL != rcv.URL+"/x" {
		t.Fatalf("%s", created.Body)
	}
	for _, r := range []reply{created, h.do("GET", "/v1/webhooks", viewerToken, nil), h.do("GET", "/v1/webhooks/"+v.ID, viewerToken, nil)} {
		if r.Status != 200 && r.Status != 201 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), "canvas-auth-token") {
			t.Fatalf("secret echoed: %s", r.Body)
		}
	}
	var list struct{ Webhooks []webhookView }
	h.do("GET", "/v1/webhooks", adminToken, nil).decode(t, &list)
	if len(list.Webhooks) != 1 || list.Webhooks[0].ID != v.ID {
		t.Fatalf("list %+v", list)
	}
	// Slack URLs are credentials: masked in responses.
	sl := h.createWebhook(map[string]any{"url": rcv.URL + "/services/T0/B0/secretpart1234", "provider": "generic"})
	if sl.URL == "" {
		t.Fatal("url missing")
	}

	if r := h.do("DELETE", "/v1/webhooks/"+v.ID, viewerToken, nil); r.Status != 403 {
		t.Fatalf("viewer delete: %d", r.Status)
	}
	if r := h.do("POST", "/v1/webhooks", viewerToken, body); r.Status != 403 {
		t.Fatalf("viewer create: %d", r.Status)
	}
	if r := h.do("DELETE", "/v1/webhooks/"+v.ID, adminToken, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := h.do("GET", "/v1/webhooks/"+v.ID, adminToken, nil); r.Status != 404 {
		t.Fatalf("after delete: %d", r.Status)
	}
	if r := h.do("DELETE", "/v1/webhooks/"+v.ID, adminToken, nil); r.Status != 404 {
		t.Fatalf("second delete: %d", r.Status)
	}
}

func TestWebhookAPIBadInput(t *testing.T) {
	h := start(t)
	ok := map[string]any{"name": "n", "url": "http://127.0.0.1:9/x"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range ok {
			m[a] = b
		}
		m[k] = v
		return m
	}
	cases := []struct {
		name   string
		token  string
		ctype  string
		body   any
		status int
		path   string
	}{
		{"no token", "", "", ok, 401, ""},
		{"unknown token", "nope", "", ok, 401, ""},
		{"malformed JSON", adminToken, "", []byte(`{"name":`), 400, ""},
		{"wrong content type", adminToken, "text/plain", ok, 415, ""},
		{"unknown field", adminToken, "", with("evnets", []string{"task.created"}), 422, "/evnets"},
		{"wrong type", adminToken, "", with("events", "task.created"), 422, "/events"},
		{"https required", adminToken, "", with("url", "ftp://x.example/"), 422, "/url"},
		{"unknown event", adminToken, "", with("events", []string{"task.deleted"}), 422, "/events/0"},
		{"bad filter", adminToken, "", with("filter", "event.title =="), 422, "/filter"},
		{"bad template", adminToken, "", with("template", "{{ .event.title "), 422, "/template"},
		{"unknown provider", adminToken, "", with("provider", "carrier-pigeon"), 422, "/provider"},
		{"bad timezone", adminToken, "", with("timezone", "Moon/Base"), 422, "/timezone"},
		{"zero attempts", adminToken, "", with("max_attempts", 0), 422, "/max_attempts"},
		{"bad hmac secret", adminToken, "", with("auth", map[string]any{"type": "hmac", "secret": "plain"}), 422, "/auth/secret"},
	}
	for _, c := range cases {
		var r reply
		if c.ctype != "" {
			r = h.doType("POST", "/v1/webhooks", c.token, c.ctype, c.body)
		} else {
			r = h.do("POST", "/v1/webhooks", c.token, c.body)
		}
		if r.Status != c.status {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
			continue
		}
		var eb struct {
			Error   string
			Details []struct{ Path, Message string }
		}
		r.decode(t, &eb)
		if eb.Error == "" {
			t.Errorf("%s: no error message: %s", c.name, r.Body)
		}
		if c.path != "" && (len(eb.Details) == 0 || eb.Details[0].Path != c.path) {
			t.Errorf("%s: details %+v, want %s", c.name, eb.Details, c.path)
		}
	}
	for path, want := range map[string]int{"/v1/webhooks/not-a-uuid": 400, "/v1/webhooks/0195f0e8-0000-7000-8000-000000000000": 404, "/v1/nope": 404} {
		if r := h.do("GET", path, adminToken, nil); r.Status != want {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}
	if r := h.do("GET", "/v1/webhooks?access_token="+adminToken, "", nil); r.Status != 400 {
		t.Errorf("token in query: %d", r.Status)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	base := testEnv("nats://127.0.0.1:4222", "postgres://x")
	for env, want := range map[string]string{
		"TASKHOOK_ADMIN_TOKENS=":                "TASKHOOK_ADMIN_TOKENS",
		"TASKHOOK_ENCRYPTION_KEY=c2hvcnQ=":      "TASKHOOK_ENCRYPTION_KEY",
		"TASKHOOK_ENCRYPTION_KEY=!!":            "TASKHOOK_ENCRYPTION_KEY",
		"TASKHOOK_ALLOWED_NETWORKS=10.0.0.0/33": "TASKHOOK_ALLOWED_NETWORKS",
		"TASKHOOK_RETRY_SCHEDULE=5s,soon":       "TASKHOOK_RETRY_SCHEDULE",
		"TASKHOOK_ALLOW_HTTP=perhaps":           "TASKHOOK_ALLOW_HTTP",
		"TASKHOOK_LEASE=500ms":                  "TASKHOOK_LEASE",
		"DISPATCHER_ADDR=nope":                  "DISPATCHER_ADDR",
	} {
		_, err := Load(append(append([]string{}, base...), env))
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", env, err)
		}
	}
	_, err := Load([]string{"TASKHOOK_ADMIN_TOKENS=x"})
	if err == nil || !strings.HasPrefix(err.Error(), "TASKHOOK_ENCRYPTION_KEY") {
		t.Errorf("missing key: %v", err)
	}
}

func TestOpenAPIMatchesTheRoutes(t *testing.T) {
	h := start(t)
	openapitest.Compare(t, OpenAPI, h.routes)
	if r := h.do("GET", "/openapi.json", "", nil); r.Status != 200 || !strings.Contains(string(r.Body), `"openapi": "3.1.0"`) ||
		!strings.Contains(string(r.Body), `"battery.*"`) || !strings.Contains(string(r.Body), `"smart_backend"`) {
		t.Fatalf("%d: the served document is not filled from the registries", r.Status)
	}
	// GET /v1/providers: what each provider needs, from the registry, for viewers too.
	r := h.do("GET", "/v1/providers", viewerToken, nil)
	var list struct {
		Providers []struct {
			Name        string   `json:"name"`
			Label       string   `json:"label"`
			URLIsSecret bool     `json:"url_is_secret"`
			AuthTypes   []string `json:"auth_types"`
			Options     []struct {
				Name string `json:"name"`
			} `json:"options"`
		} `json:"providers"`
		AuthTypes []struct {
			Type string `json:"type"`
		} `json:"auth_types"`
	}
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	reg := providers.All(cat)
	if r.Status != 200 || json.Unmarshal(r.Body, &list) != nil || len(list.Providers) != len(reg.Names()) || len(list.AuthTypes) != len(credential.Kinds()) {
		t.Fatalf("GET /v1/providers: %d %s", r.Status, r.Body)
	}
	for i, p := range list.Providers {
		if p.Name != reg.Names()[i] || p.URLIsSecret != reg.URLIsSecret(p.Name) || p.Label == "" || len(p.AuthTypes) == 0 {
			t.Errorf("provider %+v", p)
		}
	}
	if r := h.do("GET", "/v1/providers", "", nil); r.Status != 401 {
		t.Errorf("GET /v1/providers without a token: %d", r.Status)
	}
}
