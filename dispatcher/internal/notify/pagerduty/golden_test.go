package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
)

const testKey = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY00"

// enqueueSchema is PagerDuty's published request body of /v2/enqueue (testdata/SOURCE.md).
func enqueueSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/enqueue.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("enqueue.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("enqueue.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// declared checks that every key of body is a property the description declares (the
// description does not forbid others, but PagerDuty would ignore a misspelt one).
func declared(t *testing.T, name string, body []byte) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{"payload": true, "routing_key": true, "event_action": true, "dedup_key": true, "client": true, "client_url": true, "links": true, "images": true}
	for k := range top {
		if !known[k] {
			t.Errorf("%s: key %q is not in the Events API v2 description", name, k)
		}
	}
	if p, ok := top["payload"]; ok {
		var payload map[string]json.RawMessage
		if err := json.Unmarshal(p, &payload); err != nil {
			t.Fatal(err)
		}
		known := map[string]bool{"summary": true, "timestamp": true, "severity": true, "source": true, "component": true, "group": true, "class": true, "custom_details": true}
		for k := range payload {
			if !known[k] {
				t.Errorf("%s: payload key %q is not in the Events API v2 description", name, k)
			}
		}
	}
}

// TestGolden renders every event type and shape, checks each body against PagerDuty's
// description and compares it with testdata/golden (go test -update rewrites them).
func TestGolden(t *testing.T) {
	schema := enqueueSchema(t)
	cat := notifytest.Catalog(t)
	p := New(cat)
	for _, c := range notifytest.Cases() {
		if _, f, _ := cat.Lookup(c.Type); !notify.Renders(p, f.Name) {
			t.Fatalf("%s: pagerduty does not render family %s", c.Name, f.Name)
		}
		req, err := p.Render(context.Background(), &notify.Target{URL: "https://events.pagerduty.com/v2/enqueue", Secrets: notify.Secrets{RoutingKey: testKey}}, notifytest.Message(c))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(req.Body))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if err := schema.Validate(doc); err != nil {
			t.Errorf("%s: not a valid Events API v2 event: %v", c.Name, err)
		}
		declared(t, c.Name, req.Body)
		var ev Event
		if err := json.Unmarshal(req.Body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.DedupKey == "" || ev.RoutingKey != testKey {
			t.Errorf("%s: dedup_key %q routing_key %q", c.Name, ev.DedupKey, ev.RoutingKey)
		}
		if ev.Payload != nil && utf8.RuneCountInString(ev.Payload.Summary) > MaxSummary {
			t.Errorf("%s: summary of %d characters", c.Name, utf8.RuneCountInString(ev.Payload.Summary))
		}
		notifytest.Golden(t, c.Name, req.Body)
	}
}
