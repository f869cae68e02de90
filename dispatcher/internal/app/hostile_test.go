package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHostileAdminInput: what a hostile probe found, each answered with the right 4xx and a
// pointer to what to fix, never a 5xx or a silent default.
func TestHostileAdminInput(t *testing.T) {
	h := start(t)
	base := `"url":"http://127.0.0.1:9/x"`
	cases := []struct {
		name, body   string
		status       int
		path, substr string
	}{
		{"duplicate key", `{"name":"a",` + base + `,"name":"b"}`, 422, "/name", "twice"},
		{"duplicate nested key", `{"name":"a",` + base + `,"auth":{"type":"bearer","token":"x","token":"y"}}`, 422, "/auth/token", "twice"},
		{"NUL in the name", `{"name":"a\u0000b",` + base + `}`, 422, "/name", "NUL"},
		{"NUL in the description", `{"name":"a","description":"x\u0000",` + base + `}`, 422, "/description", "NUL"},
		{"lone surrogate", `{"name":"a\ud800",` + base + `}`, 422, "/name", "surrogate"},
		{"invalid UTF-8", "{\"name\":\"caf\xe9\"," + base + "}", 422, "/name", "UTF-8"},
		{"events as a string", `{"name":"a",` + base + `,"events":"task.created"}`, 422, "/events", "must be an array of strings, got a string"},
		{"filter not boolean", `{"name":"a",` + base + `,"filter":"event.title"}`, 422, "/filter", "boolean"},
		{"filter over its cost", `{"name":"a",` + base + `,"filter":"[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, a+b+c+d+e > 0)))))"}`, 422, "/filter", "cost limit"},
		{"IPv4-compatible IPv6", `{"name":"a","url":"https://[::127.0.0.1]/x"}`, 422, "/url", "IPv4-compatible"},
		{"IPv4-compatible IPv6, hex", `{"name":"a","url":"https://[::7f00:1]/x"}`, 422, "/url", "IPv4-compatible"},
	}
	for _, c := range cases {
		r := h.do("POST", "/v1/webhooks", adminToken, []byte(c.body))
		var eb struct {
			Error   string
			Details []struct{ Path, Message string }
		}
		r.decode(t, &eb)
		if r.Status != c.status || len(eb.Details) == 0 || eb.Details[0].Path != c.path || !strings.Contains(eb.Details[0].Message, c.substr) {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
		}
	}
	for _, q := range []string{"/v1/stats?window=1h';--", "/v1/webhooks?Token=x", "/v1/webhooks?ACCESS_TOKEN=x", "/v1/webhooks?a=1;b=2"} {
		if r := h.do("GET", q, adminToken, nil); r.Status != 400 {
			t.Errorf("GET %s: %d %s", q, r.Status, r.Body)
		}
	}
	if r := h.do("GET", "/v1/stats?window=1h", adminToken, nil); r.Status != 200 {
		t.Errorf("a good window: %d", r.Status)
	}
}

// TestUserProgramsAndContexts: a template that would hold a CPU is stopped (also inside the
// test endpoint) and the dispatcher stays responsive; a test whose caller goes away cancels
// the outbound request.
func TestUserProgramsAndContexts(t *testing.T) {
	h := start(t)
	hook := newReceiver(t)
	start := time.Now()
	r := h.do("POST", "/v1/webhooks/test", adminToken, map[string]any{"name": "x", "url": hook.URL, "template": "{{range 100000000}}{{end}}", "template_content_type": "text/plain"})
	// Refused before anything is sent: it exceeds its budget on the catalog's examples.
	if r.Status != 422 || !strings.Contains(string(r.Body), "iterations") || time.Since(start) > 2*time.Second {
		t.Fatalf("hostile template: %d %s after %s", r.Status, r.Body, time.Since(start))
	}
	if r := h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "x", "url": hook.URL, "template": `{{define "a"}}x{{end}}{{template "a"}}`}); r.Status != 422 {
		t.Fatalf("nested templates: %d %s", r.Status, r.Body)
	}

	cancelled := make(chan time.Time, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // (a server notices a client gone only once the body is read)
		select {
		case <-r.Context().Done():
			cancelled <- time.Now()
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	body, _ := json.Marshal(map[string]any{"name": "x", "url": slow.URL})
	req, _ := http.NewRequest("POST", h.base+"/v1/webhooks/test", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := (&http.Client{Timeout: 200 * time.Millisecond}).Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the slow test answered")
	}
	gone := time.Now()
	select {
	case at := <-cancelled:
		if at.Sub(gone) > 400*time.Millisecond { // (the attempt timeout, 1 s here, would cancel it only 1 s after the start)
			t.Fatalf("the outbound request was cancelled %s after the caller left", at.Sub(gone))
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the outbound request was not cancelled")
	}
	if r := h.do("GET", "/healthz", "", nil); r.Status != 200 {
		t.Fatalf("healthz: %d", r.Status)
	}
}
