package pagerduty

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
	"github.com/taskhook/taskhook/pkg/families/battery"
)

func render(t *testing.T, raw string, target notify.Target) Event {
	t.Helper()
	m := notifytest.Published(t, []byte(raw))
	if target.URL == "" {
		target.URL = "https://events.pagerduty.com/v2/enqueue"
	}
	req, err := New(notifytest.Catalog(t)).Render(context.Background(), &target, m)
	if err != nil {
		t.Fatal(err)
	}
	var ev Event
	if err := json.Unmarshal(req.Body, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func task(event, status string) string {
	return `{"task_id":"T-7","event":"` + event + `","title":"Call back","status":"` + status + `",` +
		`"patient":{"id":"67890","first_name":"John","last_name":"Doe","birth_date":"1980-05-15"}}`
}

func TestSeverityAndLifecycle(t *testing.T) {
	cases := []struct {
		name, raw, action, severity, key string
	}{
		{"battery critical pages", battery.Example, "trigger", "critical", "taskhook:device:D-991"},
		{"battery low warns", strings.Replace(battery.Example, `"battery.critical"`, `"battery.low"`, 1), "trigger", "warning", "taskhook:device:D-991"},
		{"overdue task pages", task("overdue", "open"), "trigger", "critical", "taskhook:task:T-7"},
		{"task due today warns", task("due", "open"), "trigger", "warning", "taskhook:task:T-7"},
		{"new task informs", task("created", "open"), "trigger", "info", "taskhook:task:T-7"},
		{"completed task resolves", task("updated", "completed"), "resolve", "", "taskhook:task:T-7"},
		{"closed task resolves", task("updated", "closed"), "resolve", "", "taskhook:task:T-7"},
		{"reopened task triggers again", task("updated", "open"), "trigger", "info", "taskhook:task:T-7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := render(t, c.raw, notify.Target{Secrets: notify.Secrets{RoutingKey: testKey}})
			if ev.EventAction != c.action || ev.DedupKey != c.key {
				t.Fatalf("action %q key %q, want %q %q", ev.EventAction, ev.DedupKey, c.action, c.key)
			}
			if c.action == "resolve" {
				if ev.Payload != nil {
					t.Fatalf("resolve with a payload: %+v", ev.Payload)
				}
				return
			}
			if ev.Payload.Severity != c.severity {
				t.Fatalf("severity %q, want %q", ev.Payload.Severity, c.severity)
			}
		})
	}
}

func TestRedactAndSource(t *testing.T) {
	ev := render(t, task("overdue", "open"), notify.Target{Redact: true, Options: json.RawMessage(`{"source":"clinic-east"}`)})
	b, _ := json.Marshal(ev)
	for _, leak := range []string{"John", "Doe", "1980"} {
		if strings.Contains(string(b), leak) {
			t.Fatalf("redacted event carries %q: %s", leak, b)
		}
	}
	if ev.Payload.CustomDetails["Patient"] == "" || ev.Payload.Source != "clinic-east" {
		t.Fatalf("details %v source %q", ev.Payload.CustomDetails, ev.Payload.Source)
	}
	full := render(t, task("overdue", "open"), notify.Target{})
	if !strings.Contains(full.Payload.CustomDetails["Patient"], "John Doe") {
		t.Fatalf("unredacted patient %q", full.Payload.CustomDetails["Patient"])
	}
}

func TestSummaryBound(t *testing.T) {
	long := strings.Repeat("é", 3000)
	ev := render(t, `{"task_id":"T-8","event":"created","title":"`+long+`"}`, notify.Target{})
	if n := len([]rune(ev.Payload.Summary)); n != MaxSummary {
		t.Fatalf("summary of %d characters", n)
	}
}

func TestCheckOptions(t *testing.T) {
	p := New(notifytest.Catalog(t))
	for opts, ok := range map[string]bool{``: true, `null`: true, `{}`: true, `{"source":"x"}`: true,
		`{"sauce":"x"}`: false, `{"source":1}`: false, `{"source":"` + strings.Repeat("a", 256) + `"}`: false} {
		if err := p.CheckOptions(json.RawMessage(opts)); (err == nil) != ok {
			t.Errorf("options %s: %v", opts, err)
		}
	}
}

func TestClassify(t *testing.T) {
	p := New(notifytest.Catalog(t))
	cases := []struct {
		resp notify.Response
		want notify.Result
	}{
		{notify.Response{StatusCode: http.StatusAccepted, Body: []byte(`{"status":"success","message":"Event processed","dedup_key":"k"}`)}, notify.Success},
		{notify.Response{StatusCode: http.StatusBadRequest, Body: []byte(`{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect"]}`)}, notify.Fail},
		{notify.Response{StatusCode: http.StatusTooManyRequests}, notify.Retry},
		{notify.Response{StatusCode: http.StatusInternalServerError}, notify.Retry},
		{notify.Response{StatusCode: http.StatusServiceUnavailable}, notify.Retry},
		{notify.Response{StatusCode: http.StatusNotFound}, notify.Fail},
		{notify.Response{Err: syscall.ECONNREFUSED}, notify.Retry},
	}
	for _, c := range cases {
		out := p.Classify(&c.resp)
		if out.Result != c.want || (out.Result != notify.Success && out.Reason == "") {
			t.Errorf("HTTP %d / %v: %v %q, want %v", c.resp.StatusCode, c.resp.Err, out.Result, out.Reason, c.want)
		}
		if strings.Contains(out.Reason, "routing_key") {
			t.Errorf("reason quotes the receiver: %q", out.Reason)
		}
	}
}

func TestNoDigest(t *testing.T) {
	if _, refuse := notify.DigestOf(New(notifytest.Catalog(t))); refuse == "" {
		t.Fatal("pagerduty takes digests")
	}
}
