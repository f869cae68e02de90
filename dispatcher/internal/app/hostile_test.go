package app

import (
	"strings"
	"testing"
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
