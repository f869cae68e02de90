package ui

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDescribeAudit(t *testing.T) {
	for _, tc := range []struct {
		action, details string
		want            auditLine
	}{
		{"webhook.create", `{"name":"Desk","provider":"slack","url":"https://hooks.slack.com/…XXXX","events":["task.*","battery.*"],"active":true,"auth":"none"}`,
			auditLine{"Created", []string{"slack webhook “Desk”, active", "Events: task.*, battery.*", "URL: https://hooks.slack.com/…XXXX", "Authentication: none"}}},
		{"webhook.update", `{"changes":{"active":{"from":true,"to":false},"name":{"from":"a","to":"b"},"template":{"changed":true}}}`,
			auditLine{"Changed", []string{"Paused", "Name: a → b", "Template changed"}}},
		{"webhook.update", `{"changes":{"auth":{"type":"hmac","secret":"rotated","previous_valid_until":"2024-01-16T10:00:00Z"}}}`,
			auditLine{"Changed", []string{"Signing secret rotated; the previous one signs too until 2024-01-16 10:00 UTC"}}},
		{"webhook.update", `{"changes":{"events":{"from":["task.*"],"to":["*"]},"digest":{"from":null,"to":{"window":"15m0s"}}}}`,
			auditLine{"Changed", []string{"Digest: — → window 15m0s", "Events: task.* → *"}}},
		{"webhook.delete", `{"name":"Desk","provider":"teams"}`, auditLine{"Deleted", []string{"teams webhook “Desk” and its delivery log"}}},
		{"webhook.test", `{"ok":true,"status_code":200}`, auditLine{"Test sent", []string{"Test succeeded, HTTP 200"}}},
		{"webhook.test", `{"ok":false,"status_code":null,"url":"https://x.example/…","provider":"generic"}`,
			auditLine{"Test sent", []string{"Test failed (an unsaved generic webhook at https://x.example/…)"}}},
		{"delivery.retry", `{"attempt":3,"result":"success","status_code":200}`, auditLine{"Delivery retried", []string{"Attempt 3: success, HTTP 200"}}},
		{"webhook.auto_disable", `{"failing_for":"24h0m0s"}`, auditLine{"Turned off by Taskhook", []string{"Failing for 24h0m0s: deliveries stopped until someone resumes it"}}},
		{"something.new", `{"b":1,"a":"x"}`, auditLine{"something.new", []string{"a: x", "b: 1"}}},
	} {
		got := describeAudit(tc.action, []byte(tc.details))
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %s:\n got %#v\nwant %#v", tc.action, tc.details, got, tc.want)
		}
		for _, c := range got.Changes {
			if strings.ContainsAny(c, "{}\"") {
				t.Errorf("%s: raw JSON in %q", tc.action, c)
			}
		}
	}
}

func TestRelative(t *testing.T) {
	now := time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"}, {-5 * time.Second, "just now"}, {30 * time.Second, "30 s ago"}, {5 * time.Minute, "5 min ago"},
		{3 * time.Hour, "3 h ago"}, {47 * time.Hour, "47 h ago"}, {72 * time.Hour, "3 days ago"}, {-10 * time.Minute, "in 10 min"},
	} {
		if got := relative(now.Add(-tc.d), now); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.d, got, tc.want)
		}
	}
}
