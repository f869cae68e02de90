package faults

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

type catalogEntry struct {
	Type    string          `json:"type"`
	Family  string          `json:"family"`
	Example json.RawMessage `json:"example"`
	// Internal: an operational event (Taskhook publishes it; ingest refuses it).
	Internal bool `json:"internal"`
}

// catalog reads GET /v1/event-types from a service.
func (s *stack) catalog(url, token string) []catalogEntry {
	s.t.Helper()
	code, b := s.call("GET", url+"/v1/event-types", token, nil)
	var list struct {
		EventTypes []catalogEntry `json:"event_types"`
	}
	if err := json.Unmarshal(b, &list); code != 200 || err != nil || len(list.EventTypes) == 0 {
		s.t.Fatalf("event types: %d %s", code, b)
	}
	return list.EventTypes
}

// compileFHIR compiles the FHIR R4 JSON Schema definitions of the resources Taskhook writes.
func compileFHIR(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	f, err := os.Open("../../dispatcher/internal/notify/fhir/testdata/fhir.schema.v4.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("fhir.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]*jsonschema.Schema{}
	for _, kind := range []string{"Task", "DiagnosticReport", "Observation"} {
		if out[kind], err = c.Compile("fhir.schema.json#/definitions/" + kind); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestEveryTypeOnTheRealBinaries: both services serve the same catalog; every example in it,
// posted to bin/ingest, reaches a Slack, a Teams, a FHIR and a generic webhook of
// bin/dispatcher, each rendered for its type.
func TestEveryTypeOnTheRealBinaries(t *testing.T) {
	s := newStack(t)
	s.startDispatcher()
	s.startIngest()
	types := s.catalog("http://"+s.ingestAddr, ingestToken)
	if disp := s.catalog("http://"+s.dispAddr, adminToken); !slices.EqualFunc(types, disp, func(a, b catalogEntry) bool { return a.Type == b.Type && a.Family == b.Family }) {
		t.Fatalf("ingest and dispatcher catalogs differ: %v / %v", types, disp)
	}
	slack := newCapture(t, nil)
	teams := newCapture(t, func(w http.ResponseWriter, r *http.Request, b []byte) bool { return false })
	fhir := newCapture(t, nil)
	generic := newCapture(t, nil)
	s.createWebhook(map[string]any{"name": "on call", "url": slack.URL + "/services/T1/B1/x", "provider": "slack", "events": []string{"*"}, "rate_limit_per_second": 100})
	s.createWebhook(map[string]any{"name": "clinic", "url": teams.URL + "/workflows/1", "provider": "teams", "events": []string{"*"}})
	s.createWebhook(map[string]any{"name": "EMR", "url": fhir.URL + "/fhir/R4", "provider": "fhir", "events": []string{"*"}})
	s.createWebhook(map[string]any{"name": "any", "url": generic.URL, "events": []string{"task.*", "report.*", "battery.*"}})

	ids := map[string]string{} // type -> event id
	types = slices.DeleteFunc(types, func(e catalogEntry) bool { return e.Internal })
	for _, e := range types {
		code, b := s.call("POST", "http://"+s.ingestAddr+"/v1/events", ingestToken, e.Example)
		var acc struct{ ID, Subject string }
		_ = json.Unmarshal(b, &acc)
		if code != 202 || acc.Subject != e.Type {
			t.Fatalf("%s: %d %s", e.Type, code, b)
		}
		ids[e.Type] = acc.ID
	}
	n := len(types)
	for name, c := range map[string]*capture{"slack": slack, "teams": teams, "fhir": fhir, "generic": generic} {
		waitUntil(t, 30*time.Second, name+" deliveries", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.reqs) >= n })
	}

	// generic: the envelope of each type, data as posted plus its event id.
	for _, b := range generic.body {
		var env struct {
			Type string
			Data map[string]any
		}
		_ = json.Unmarshal(b, &env)
		if env.Data["event_id"] != ids[env.Type] {
			t.Errorf("generic %s carries event %v, want %s", env.Type, env.Data["event_id"], ids[env.Type])
		}
	}
	// slack: one header per type.
	var headers []string
	for _, b := range slack.body {
		var m struct {
			Blocks []struct{ Text struct{ Text string } }
		}
		_ = json.Unmarshal(b, &m)
		headers = append(headers, m.Blocks[0].Text.Text)
	}
	slices.Sort(headers)
	want := []string{"Battery Critical", "Battery Low", "Report Completed", "Report Created", "Task Due", "Task Overdue", "Task Updated", "📋 New Task Created"}
	if !slices.Equal(headers, want) {
		t.Errorf("slack headers %q, want %q", headers, want)
	}
	// teams: colours by type.
	colours := map[string]int{}
	for _, b := range teams.body {
		var env struct {
			Attachments []struct {
				Content struct{ Body []map[string]any }
			}
		}
		_ = json.Unmarshal(b, &env)
		colours[env.Attachments[0].Content.Body[0]["text"].(string)+"="+env.Attachments[0].Content.Body[0]["color"].(string)]++
	}
	for _, c := range []string{"Battery Critical=Attention", "Task Overdue=Attention", "Battery Low=Warning", "Task Due=Warning", "Report Completed=Good", "📋 New Task Created=Good", "Report Created=Default", "Task Updated=Default"} {
		if colours[c] != 1 {
			t.Errorf("teams: %s %d times (%v)", c, colours[c], colours)
		}
	}
	// fhir: a Task per task event, a DiagnosticReport per report, an Observation per battery
	// event, each valid FHIR R4, conditionally created (or, for a task's later events,
	// conditionally updated).
	schemas := compileFHIR(t)
	kinds := map[string]int{}
	for i, r := range fhir.reqs {
		kind := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		kinds[kind]++
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(fhir.body[i]))
		if schemas[kind] == nil || err != nil {
			t.Errorf("fhir: posted to %s: %v", r.URL.Path, err)
			continue
		}
		conditional := r.Method == "POST" && r.Header.Get("If-None-Exist") != "" || r.Method == "PUT" && strings.HasPrefix(r.URL.RawQuery, "identifier=")
		if err := schemas[kind].Validate(doc); err != nil || !conditional {
			t.Errorf("fhir %s: %v (%s, If-None-Exist %q, query %q)", kind, err, r.Method, r.Header.Get("If-None-Exist"), r.URL.RawQuery)
		}
	}
	if kinds["Task"] != 4 || kinds["DiagnosticReport"] != 2 || kinds["Observation"] != 2 {
		t.Errorf("fhir resources %v", kinds)
	}
}
