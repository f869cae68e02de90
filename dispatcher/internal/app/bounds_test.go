package app

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestTemplateBudget: a template that builds a huge value without writing it is refused at
// save time (it exceeds its budget on the catalog's examples) and stopped at once by the test
// endpoint; one that exceeds the budget only on a real event fails that delivery permanently,
// with the reason in the log.
func TestTemplateBudget(t *testing.T) {
	h := start(t)
	hook := newReceiver(t)
	doubling := func(n string) string {
		return `{{ $x := printf "%999999s" "x" }}{{ range ` + n + ` }}{{ $x = printf "%s%s" $x $x }}{{ end }}{{ len $x }}`
	}
	began := time.Now()
	r := h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "x", "url": hook.URL, "template": doubling("30"), "template_content_type": "text/plain"})
	var eb struct {
		Details []struct{ Path, Message string }
	}
	r.decode(t, &eb)
	if r.Status != 422 || len(eb.Details) != 1 || eb.Details[0].Path != "/template" || !strings.Contains(eb.Details[0].Message, "budget") {
		t.Fatalf("save: %d %s", r.Status, r.Body)
	}
	r = h.do("POST", "/v1/webhooks/test", adminToken, map[string]any{"name": "x", "url": hook.URL, "template": doubling("8"), "template_content_type": "text/plain"})
	if r.Status != 422 && !strings.Contains(string(r.Body), "budget") {
		t.Fatalf("test endpoint: %d %s", r.Status, r.Body)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("took %s", took)
	}
	// Within budget on the examples (short titles), over it on a long title.
	wh := h.createWebhook(map[string]any{"url": hook.URL, "template_content_type": "text/plain",
		"template": `{{ if gt (len .event.title) 200 }}{{ $x := .event.title }}{{ range 20 }}{{ $x = print $x $x }}{{ end }}{{ end }}ok`})
	h.publish(`{"event_id":"long","task_id":"t-long","event":"created","title":"` + strings.Repeat("t", 300) + `"}`)
	h.publish(taskEvent("short", "created", ""))
	hook.waitFor(t, 1, 10*time.Second)
	var d delivery
	eventually(t, 10*time.Second, "the long title's delivery fails", func() bool {
		for _, d = range h.deliveries(wh.ID) {
			if d.EventID == "long" && d.Status == "failed" {
				return true
			}
		}
		return false
	})
	if d.Attempts != 1 || d.EventID != "long" || !strings.Contains(d.LastError, "budget") || !strings.Contains(d.LastError, "bytes") {
		t.Fatalf("%+v", d)
	}
}

// TestDigestSplitByBytes: events of ~9 KB into one window become generic messages of at most
// TASKHOOK_DIGEST_MAX_BYTES each (numbered part of parts), every event in exactly one of them.
func TestDigestSplitByBytes(t *testing.T) {
	const maxBytes = 64 << 10
	h := start(t, "TASKHOOK_DIGEST_MAX_BYTES=64KiB")
	gen := newReceiver(t)
	h.createWebhook(map[string]any{"url": gen.URL + "/hook", "events": []string{"task.*"}, "digest": map[string]any{"window": "5s"}})
	const n = 30
	for i := 0; i < n; i++ {
		// < is what json.Marshal would write as six bytes.
		h.publish(fmt.Sprintf(`{"event_id":"big-%02d","task_id":"t-%02d","event":"created","title":%q}`, i, i, strings.Repeat("<", 9000)))
	}
	gen.waitFor(t, 4, 20*time.Second)
	time.Sleep(time.Second)
	reqs := gen.requests()
	seen := map[string]bool{}
	for _, r := range reqs {
		var d struct {
			Part, Parts, Count, Total int
			Events                    []struct {
				Data struct {
					EventID string `json:"event_id"`
				}
			}
		}
		if err := json.Unmarshal(r.Body, &d); err != nil {
			t.Fatal(err)
		}
		if len(r.Body) > maxBytes || d.Parts != len(reqs) || d.Total != n || d.Count != len(d.Events) {
			t.Errorf("part %d/%d of %d messages: %d bytes, count %d, total %d", d.Part, d.Parts, len(reqs), len(r.Body), d.Count, d.Total)
		}
		for _, e := range d.Events {
			if seen[e.Data.EventID] {
				t.Errorf("%s twice", e.Data.EventID)
			}
			seen[e.Data.EventID] = true
		}
	}
	if len(seen) != n || len(reqs) < 4 {
		t.Fatalf("%d events in %d messages", len(seen), len(reqs))
	}
}

// rawRequest sends head (a request's line and headers, without the blank line) on a new TCP
// connection and no body, then reads the answer and whether the connection was closed after
// it, giving up after wait.
func rawRequest(t *testing.T, base, head string, wait time.Duration) (status int, closed bool, took time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_ = conn.SetDeadline(start.Add(wait))
	if _, err := io.WriteString(conn, head+"\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, false, time.Since(start) // no answer in time
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	_, err = br.ReadByte()
	return res.StatusCode, err == io.EOF, time.Since(start)
}

// TestSlowBodies: a request that announces a body and never sends it is answered at once
// without a valid token (and the connection closed), after TASKHOOK_READ_TIMEOUT with one or
// on the dashboard's sign-in (whose credential is the body).
func TestSlowBodies(t *testing.T) {
	h := start(t, "TASKHOOK_READ_TIMEOUT=1s", "TASKHOOK_IDLE_TIMEOUT=1s")
	head := func(path string) string {
		return "POST " + path + " HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100"
	}
	cases := []struct {
		name, head string
		status     int
		within     time.Duration
	}{
		{"no token", head("/v1/webhooks"), 401, 500 * time.Millisecond},
		{"a wrong token", head("/v1/webhooks") + "\r\nAuthorization: Bearer nope", 401, 500 * time.Millisecond},
		{"a viewer token", head("/v1/webhooks") + "\r\nAuthorization: Bearer " + viewerToken, 403, 500 * time.Millisecond},
		{"an admin token", head("/v1/webhooks") + "\r\nAuthorization: Bearer " + adminToken, 408, 3 * time.Second},
		{"the test endpoint", head("/v1/webhooks/test") + "\r\nAuthorization: Bearer " + adminToken, 408, 3 * time.Second},
		{"sign-in", "POST /ui/login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100", 401, 3 * time.Second},
	}
	for _, c := range cases {
		if status, closed, took := rawRequest(t, h.base, c.head, 6*time.Second); status != c.status || !closed || took > c.within {
			t.Errorf("%s: %d, closed %v, after %s", c.name, status, closed, took)
		}
	}
}

// TestSignInFromTheBodyOnly: the dashboard takes the token from the form body, never from the
// URL (which lands in logs and history).
func TestSignInFromTheBodyOnly(t *testing.T) {
	h := start(t)
	for _, q := range []string{"?token=" + adminToken, "?Token=" + adminToken} {
		req, _ := http.NewRequest("POST", h.base+"/ui/login"+q, strings.NewReader(""))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", h.base)
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 400 || len(res.Cookies()) != 0 {
			t.Errorf("%s: %d, cookies %v", q, res.StatusCode, res.Cookies())
		}
	}
	req, _ := http.NewRequest("POST", h.base+"/ui/login", strings.NewReader(url.Values{"token": {adminToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", h.base)
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || len(res.Cookies()) == 0 {
		t.Fatalf("a body sign-in: %d", res.StatusCode)
	}
}

// TestParametersPostgreSQLCannotHold: NUL and invalid UTF-8 in any path or query parameter are
// 400 before a query (PostgreSQL refuses the bytes, which was a 500); a long multibyte task id
// within the schema's 128 characters is looked up.
func TestParametersPostgreSQLCannotHold(t *testing.T) {
	h := start(t, "TASKHOOK_DUE_EVENTS=derive")
	for _, p := range []string{"/v1/tasks/%00", "/v1/tasks/%ff", "/v1/tasks/a%00b", "/v1/tasks/%ed%a0%80", "/v1/webhooks/%00",
		"/v1/deliveries/%ff/attempts", "/v1/audit?webhook_id=%00", "/v1/webhooks?x=%ff", "/v1/stats?window=%00"} {
		if r := h.do("GET", p, viewerToken, nil); r.Status != 400 {
			t.Errorf("GET %s: %d %s", p, r.Status, r.Body)
		}
	}
	if r := h.do("GET", "/v1/tasks/"+strings.Repeat("%C3%A9", 128), viewerToken, nil); r.Status != 404 {
		t.Errorf("128 characters: %d %s", r.Status, r.Body)
	}
	if r := h.do("GET", "/v1/tasks/"+strings.Repeat("%C3%A9", 129), viewerToken, nil); r.Status != 400 {
		t.Errorf("129 characters: %d %s", r.Status, r.Body)
	}
}

// TestExactPointers: every unknown field, wrong type and out-of-range number of an admin body
// is reported at its full pointer, in one answer, with messages that never echo a value whole.
func TestExactPointers(t *testing.T) {
	h := start(t)
	hook := newReceiver(t)
	base := `"name":"a","url":"` + hook.URL + `"`
	million := strings.Repeat("7", 200000) // within the admin body limit (256 KiB)
	type detail struct{ Path, Message string }
	cases := []struct {
		name, method, path, body string
		status                   int
		want                     []detail // path and a part of the message, in order
	}{
		{"nested unknown", "POST", "/v1/webhooks", `{` + base + `,"auth":{"type":"bearer","token":"t","x":1}}`, 422, []detail{{"/auth/x", "unknown field"}}},
		{"every unknown", "POST", "/v1/webhooks", `{` + base + `,"zz":1,"auth":{"type":"bearer","token":"t","y":1}}`, 422, []detail{{"/auth/y", "unknown"}, {"/zz", "unknown"}}},
		{"unknown options", "POST", "/v1/webhooks", `{` + base + `,"options":{"a":1,"b":2}}`, 422, []detail{{"/options/a", "no options"}, {"/options/b", "no options"}}},
		{"unknown fhir option", "POST", "/v1/webhooks", `{` + base + `,"provider":"fhir","events":["task.*"],"options":{"identifier_system":"urn:x","bogus":1}}`, 422, []detail{{"/options/bogus", "unknown field"}}},
		{"zero window", "POST", "/v1/webhooks", `{` + base + `,"digest":{"window":"0s"}}`, 422, []detail{{"/digest/window", "between"}}},
		{"an event as a number", "POST", "/v1/webhooks", `{` + base + `,"events":[5]}`, 422, []detail{{"/events/0", "must be a string, got a number"}}},
		{"a fraction of attempts", "POST", "/v1/webhooks", `{` + base + `,"max_attempts":2.5}`, 422, []detail{{"/max_attempts", "must be a whole number, got 2.5"}}},
		{"1e400", "POST", "/v1/webhooks", `{` + base + `,"rate_limit_per_second":1e400}`, 422, []detail{{"/rate_limit_per_second", "out of range"}}},
		{"a million digits", "POST", "/v1/webhooks", `{` + base + `,"max_attempts":` + million + `}`, 422, []detail{{"/max_attempts", "whole number between"}}},
		{"a million digits, test", "POST", "/v1/webhooks/test", `{` + base + `,"rate_limit_per_second":-` + million + `}`, 422, []detail{{"/rate_limit_per_second", "out of range"}}},
	}
	for _, c := range cases {
		r := h.do(c.method, c.path, adminToken, []byte(c.body))
		var eb struct {
			Error   string
			Details []detail
		}
		r.decode(t, &eb)
		ok := r.Status == c.status && len(eb.Details) == len(c.want) && len(r.Body) < 4096
		for i := 0; ok && i < len(c.want); i++ {
			ok = eb.Details[i].Path == c.want[i].Path && strings.Contains(eb.Details[i].Message, c.want[i].Message)
		}
		if !ok {
			t.Errorf("%s: %d %.600s", c.name, r.Status, r.Body)
		}
	}
	// A replay body is not a webhook; a FHIR webhook is not tested with an event it cannot send.
	wh := h.createWebhook(map[string]any{"url": hook.URL})
	r := h.do("POST", "/v1/webhooks/"+wh.ID+"/replay", adminToken, []byte(`{"since":"2024-01-01T00:00:00Z","nope":1}`))
	if r.Status != 422 || strings.Contains(string(r.Body), "webhook is not valid") || !strings.Contains(string(r.Body), `"/nope"`) {
		t.Errorf("replay: %d %s", r.Status, r.Body)
	}
	fh := h.createWebhook(map[string]any{"url": hook.URL, "provider": "fhir", "events": []string{"task.*"}})
	if r := h.do("POST", "/v1/webhooks/"+fh.ID+"/test?event=webhook.disabled", adminToken, map[string]any{}); r.Status != 422 || !strings.Contains(string(r.Body), "does not render") {
		t.Errorf("fhir test of webhook.disabled: %d %s", r.Status, r.Body)
	}
}

// TestFilterErrors: a filter that fails on the catalog's examples is refused at save time; one
// that fails only on a real event is counted (metric), shown as the webhook's health hint, and
// the other events still flow.
func TestFilterErrors(t *testing.T) {
	h := start(t)
	hook := newReceiver(t)
	for _, f := range []string{"1/0 == 1", "1 % 0 == 1", "9223372036854775807 + event.title.size() > 0"} {
		r := h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "x", "url": hook.URL, "filter": f})
		if r.Status != 422 || !strings.Contains(string(r.Body), `"/filter"`) || !strings.Contains(string(r.Body), "fails") {
			t.Errorf("%s: %d %s", f, r.Status, r.Body)
		}
	}
	// The examples' titles are longer than 5 characters; a title of 5 divides by zero.
	wh := h.createWebhook(map[string]any{"url": hook.URL, "filter": "10 / (event.title.size() - 5) != 0"})
	h.publish(`{"event_id":"five","task_id":"t-5","event":"created","title":"abcde"}`)
	h.publish(taskEvent("ok", "created", ""))
	hook.waitFor(t, 1, 10*time.Second)
	eventually(t, 5*time.Second, "the filter error is counted", func() bool {
		return h.metric("taskhook_dispatch_filter_errors_total", `kind="division by zero"`) == 1
	})
	var v struct {
		Health struct{ Hint string }
	}
	h.do("GET", "/v1/webhooks/"+wh.ID, viewerToken, nil).decode(t, &v)
	if !strings.Contains(v.Health.Hint, "division by zero") || !strings.Contains(v.Health.Hint, "1 times") {
		t.Fatalf("health hint %q", v.Health.Hint)
	}
	if ds := h.deliveries(wh.ID); len(ds) != 1 || ds[0].EventID != "ok" {
		t.Fatalf("deliveries %+v", ds)
	}
}
