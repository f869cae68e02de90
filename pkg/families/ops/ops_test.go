package ops_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/families"
	"github.com/taskhook/taskhook/pkg/families/ops"
)

func catalog(t *testing.T) *event.Catalog {
	t.Helper()
	c, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSummaries: each type renders readably for Slack and Teams, with its severity.
func TestSummaries(t *testing.T) {
	c := catalog(t)
	cases := []struct {
		typ, body string
		severity  event.Severity
		lines     string
	}{
		{ops.Disabled, ops.ExampleDisabled, event.Attention, "Webhook disabled: EMR inbox\n" +
			"Webhook: EMR inbox (0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f)\n" +
			"Reason: HTTP 410 Gone: the receiver says this endpoint is gone; webhook deactivated\n" +
			"Last status: HTTP 410\nCount: once in the last 5m"},
		{ops.HealthChanged, ops.ExampleHealthChanged, event.Attention, "Webhook health changed: EMR inbox\n" +
			"Webhook: EMR inbox (0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f)\nReason: 5 consecutive failures\n" +
			"Health: green → red\nCount: 2 times in the last 5m"},
		{ops.Exhausted, ops.ExampleExhausted, event.Attention, "Deliveries gave up: EMR inbox\n" +
			"Webhook: EMR inbox (0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f)\nLast status: HTTP 503\nLast error: HTTP 503\n" +
			"Count: 50 deliveries in the last 5m\nDelivery: 6f1c2d3e-4a5b-5c6d-8e7f-901a2b3c4d5e\nAttempts: 8"},
		{ops.Recovered, ops.ExampleRecovered, event.Good, "Webhook recovered: EMR inbox\n" +
			"Webhook: EMR inbox (0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f)\nReason: succeeded after 12 consecutive failures\n" +
			"Health: yellow\nCount: once in the last 5m"},
		{ops.HealthChanged, `{"type":"webhook.health_changed","webhook_id":"w1","webhook_name":"","health":"green","previous_health":"yellow","count":1,` +
			`"window":{"start":"2024-01-15T10:00:00Z","end":"2024-01-15T10:00:03Z"}}`, event.Good,
			"Webhook health changed: w1\nWebhook: w1\nHealth: yellow → green\nCount: once in the last 3s"},
	}
	for _, k := range cases {
		s, err := c.Summarize(k.typ, []byte(k.body), time.UTC, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(s.Lines(), "\n"); got != k.lines || s.Severity != k.severity {
			t.Errorf("%s:\n%s (%s)\nwant\n%s (%s)", k.typ, got, s.Severity, k.lines, k.severity)
		}
	}
}

func TestCountText(t *testing.T) {
	cases := []struct {
		typ  string
		n    int
		d    time.Duration
		want string
	}{
		{ops.Exhausted, 50, 5 * time.Minute, "50 deliveries in the last 5m"},
		{ops.Exhausted, 1, 5 * time.Minute, "1 delivery in the last 5m"},
		{ops.Disabled, 1, 90 * time.Minute, "once in the last 1h30m"},
		{ops.HealthChanged, 3, time.Hour, "3 times in the last 1h"},
		{ops.Recovered, 2, 2500 * time.Millisecond, "2 times in the last 2.5s"},
	}
	for _, k := range cases {
		if got := ops.CountText(k.typ, k.n, k.d); got != k.want {
			t.Errorf("%s %d %s: %q, want %q", k.typ, k.n, k.d, got, k.want)
		}
	}
}

func TestHealthChange(t *testing.T) {
	for _, k := range [][3]string{{"green", "red", "green → red"}, {"", "red", "red"}, {"yellow", "", "yellow"}, {"yellow", "yellow", "yellow → … → yellow"}} {
		if got := ops.HealthChange(k[0], k[1]); got != k[2] {
			t.Errorf("%q %q: %q, want %q", k[0], k[1], got, k[2])
		}
	}
}

// TestEventIDIsStable: the id depends on webhook, type and window start only, and is a valid
// event id.
func TestEventIDIsStable(t *testing.T) {
	start := time.Date(2024, 1, 15, 10, 0, 0, 123456000, time.UTC)
	a := ops.EventID("0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f", ops.HealthChanged, start)
	if a != ops.EventID("0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f", ops.HealthChanged, start.In(time.FixedZone("x", 3600))) || !event.ValidIDKey(a) {
		t.Fatalf("unstable or invalid id %q", a)
	}
	for _, b := range []string{
		ops.EventID("0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f", ops.Disabled, start),
		ops.EventID("0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e00", ops.HealthChanged, start),
		ops.EventID("0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f", ops.HealthChanged, start.Add(time.Microsecond)),
	} {
		if a == b {
			t.Fatalf("two windows share the id %s", a)
		}
	}
}

// TestValidateInternal: the publisher's check accepts the examples and refuses what the schema
// forbids (unknown fields such as a URL, a bad health, a missing window) and public types.
func TestValidateInternal(t *testing.T) {
	c := catalog(t)
	for _, typ := range ops.Types() {
		tp, _, _ := c.Lookup(typ)
		v, err := c.ValidateInternal(tp.Example)
		if err != nil || v.Type != typ || v.Family != typ[:strings.Index(typ, ".")] || !strings.HasPrefix(v.ID, "ops:"+typ+":") {
			t.Errorf("%s: %+v %v", typ, v, err)
		}
	}
	cases := []struct{ name, body, path string }{
		{"url", strings.Replace(ops.ExampleDisabled, `"count":1`, `"count":1,"url":"https://x.example/hook"`, 1), "/url"},
		{"bad health", strings.Replace(ops.ExampleHealthChanged, `"health":"red"`, `"health":"purple"`, 1), "/health"},
		{"no window", `{"type":"delivery.recovered","event_id":"e","occurred_at":"2024-01-15T10:00:00Z","webhook_id":"0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f","webhook_name":"n","count":1}`, "/window"},
		{"count zero", strings.Replace(ops.ExampleExhausted, `"count":50`, `"count":0`, 1), "/count"},
		{"public type", `{"type":"battery.low","device":{"id":"d"}}`, "/type"},
		{"no type", `{"task_id":"1","event":"created","title":"t"}`, "/type"},
	}
	for _, k := range cases {
		_, err := c.ValidateInternal([]byte(k.body))
		var ie *event.InvalidError
		if !errors.As(err, &ie) || ie.Details[0].Path != k.path {
			t.Errorf("%s: %v, want an error at %s", k.name, err, k.path)
		}
	}
}

func TestAbout(t *testing.T) {
	if got := ops.About([]byte(ops.ExampleExhausted)); got != "0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f" {
		t.Fatalf("About = %q", got)
	}
	if got := ops.About([]byte(`[`)); got != "" {
		t.Fatalf("About of junk = %q", got)
	}
}
