package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/natsx"
	"github.com/taskhook/taskhook/pkg/typesync"
)

type problemBody struct {
	Error   string `json:"error"`
	Details []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
	} `json:"details"`
	Webhooks []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"webhooks"`
}

type typeView struct {
	Type    string               `json:"type"`
	Family  string               `json:"family"`
	Custom  bool                 `json:"custom"`
	Version int                  `json:"version"`
	Schema  json.RawMessage      `json:"schema"`
	Example json.RawMessage      `json:"example"`
	Summary *event.CustomSummary `json:"summary"`
}

func appointmentBody() map[string]any {
	var m map[string]any
	b, _ := json.Marshal(notifytest.Appointment)
	_ = json.Unmarshal(b, &m)
	return m
}

// TestCustomEventTypes: an admin registers appointment.missed; it is stored, versioned,
// audited, listed, added to the stream's subjects and to the bucket; Slack and Teams webhooks on
// appointment.* render its summary, a generic one filtered on its fields receives the envelope,
// fhir refuses it; a replacement is version 2; deleting it while subscribed is 409 naming the
// webhooks.
func TestCustomEventTypes(t *testing.T) {
	h := start(t)
	body := appointmentBody()
	if r := h.do("POST", "/v1/event-types", viewerToken, body); r.Status != http.StatusForbidden {
		t.Fatalf("viewer create: %d", r.Status)
	}
	if r := h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "x", "url": "http://127.0.0.1:1/", "events": []string{"appointment.*"}}); r.Status != 422 {
		t.Fatalf("webhook on an unknown family: %d %s", r.Status, r.Body)
	}
	r := h.do("POST", "/v1/event-types", adminToken, body)
	var v typeView
	r.decode(t, &v)
	if r.Status != http.StatusCreated || v.Version != 1 || !v.Custom || v.Family != "appointment" || r.Header.Get("Location") != "/v1/event-types/appointment.missed" ||
		!strings.HasPrefix(string(v.Example), `{"type":"appointment.missed",`) || v.Summary.Severity != "warning" {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if r := h.do("POST", "/v1/event-types", adminToken, body); r.Status != http.StatusConflict {
		t.Fatalf("create twice: %d %s", r.Status, r.Body)
	}
	// Listed with the built-in types, readable alone; built-in types too.
	var list struct {
		EventTypes []typeView `json:"event_types"`
	}
	h.do("GET", "/v1/event-types", viewerToken, nil).decode(t, &list)
	if last := list.EventTypes[len(list.EventTypes)-1]; last.Type != "appointment.missed" || !last.Custom || last.Version != 1 {
		t.Fatalf("list ends with %+v", last)
	}
	if r := h.do("GET", "/v1/event-types/appointment.missed", viewerToken, nil); r.Status != 200 || !strings.Contains(string(r.Body), `"created_at"`) {
		t.Fatalf("get: %d %s", r.Status, r.Body)
	}
	if r := h.do("GET", "/v1/event-types/task.created", viewerToken, nil); r.Status != 200 || strings.Contains(string(r.Body), `"custom"`) {
		t.Fatalf("get built-in: %d %s", r.Status, r.Body)
	}
	if r := h.do("GET", "/v1/event-types/appointment.booked", viewerToken, nil); r.Status != 404 {
		t.Fatalf("get unknown: %d", r.Status)
	}
	// Handed to ingest: the stream carries appointment.*, the bucket holds the definition.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, natsx.StreamName)
	if err != nil || !strings.Contains(strings.Join(s.CachedInfo().Config.Subjects, ","), "appointment.*") {
		t.Fatalf("stream subjects: %v %v", s.CachedInfo().Config.Subjects, err)
	}
	kv, err := h.js.KeyValue(ctx, typesync.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "appointment.missed"); err != nil || !strings.Contains(string(e.Value()), `"version":1`) {
		t.Fatalf("bucket: %v", err)
	}

	// Webhooks on the family, on the type with a filter, and fhir refused.
	slack := newReceiver(t, answer{status: 200, body: "ok"})
	teams := newReceiver(t, answer{status: 202})
	generic := newReceiver(t, answer{status: 204})
	sw := h.createWebhook(map[string]any{"name": "front desk", "url": slack.URL + "/services/T0/B0/x", "provider": "slack", "events": []string{"appointment.*"}})
	h.createWebhook(map[string]any{"name": "care team", "url": teams.URL + "/workflows/1", "provider": "teams", "events": []string{"appointment.*"}})
	h.createWebhook(map[string]any{"name": "north only", "url": generic.URL, "events": []string{"appointment.missed"}, "filter": `event.clinic == "Cardiology North"`})
	r = h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "emr", "url": "http://127.0.0.1:1/r4", "provider": "fhir", "events": []string{"appointment.*"}})
	var pb problemBody
	r.decode(t, &pb)
	if r.Status != 422 || pb.Details[0].Path != "/events/0" || !strings.Contains(pb.Details[0].Message, "does not render appointment") {
		t.Fatalf("fhir on a custom type: %d %s", r.Status, r.Body)
	}
	// A test send renders the type's example through the real provider.
	if r := h.do("POST", "/v1/webhooks/"+sw.ID+"/test?event=appointment.missed", adminToken, map[string]any{}); r.Status != 200 || !strings.Contains(string(r.Body), `"ok":true`) {
		t.Fatalf("test send: %d %s", r.Status, r.Body)
	}
	if rq := slack.waitFor(t, 1, 5*time.Second); !strings.Contains(string(rq[0].Body), "Cardiology North") {
		t.Fatalf("test send body: %s", rq[0].Body)
	}
	// As ingest publishes it: with the version that validated it, which the delivery log shows.
	m := &nats.Msg{Subject: "appointment.missed", Header: nats.Header{}, Data: []byte(`{"event_id":"appt-1","type":"appointment.missed","appointment_id":"A-77",` +
		`"clinic":"Cardiology North","url":"https://goreporter.example.org/appointments/A-77","patient":{"id":"P-1","name":"John Doe"}}`)}
	m.Header.Set(jetstream.MsgIDHeader, "appt-1")
	m.Header.Set(event.TypeVersionHeader, "1")
	if _, err := h.js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	h.publishRaw("appointment.missed", []byte(`{"event_id":"appt-2","type":"appointment.missed","appointment_id":"A-78","clinic":"South","patient":{"id":"P-2"}}`), "appt-2")
	sl := slack.waitFor(t, 3, 15*time.Second) // the test send, then both events
	if all := string(sl[1].Body) + string(sl[2].Body); !strings.Contains(all, `"text":"Missed appointment"`) || !strings.Contains(all, "John Doe") {
		t.Fatalf("slack: %s", all)
	}
	tm := teams.waitFor(t, 2, 15*time.Second)
	if all := string(tm[0].Body) + string(tm[1].Body); !strings.Contains(all, `"color":"Warning"`) || !strings.Contains(all, `"Action.OpenUrl"`) {
		t.Fatalf("teams: %s", all)
	}
	g := generic.waitFor(t, 1, 15*time.Second)
	time.Sleep(300 * time.Millisecond)
	if n := len(generic.requests()); n != 1 || !strings.Contains(string(g[0].Body), `"type":"appointment.missed"`) || !strings.Contains(string(g[0].Body), "A-77") {
		t.Fatalf("generic got %d: %s", n, g[0].Body)
	}

	var versions []string
	for _, d := range h.deliveries(sw.ID) {
		var dv struct {
			EventID string `json:"event_id"`
			Version *int   `json:"event_type_version"`
		}
		h.do("GET", "/v1/deliveries/"+d.ID, viewerToken, nil).decode(t, &dv)
		if dv.Version != nil {
			versions = append(versions, fmt.Sprintf("%s:%d", dv.EventID, *dv.Version))
		} else {
			versions = append(versions, dv.EventID+":-")
		}
	}
	sort.Strings(versions)
	if strings.Join(versions, ",") != "appt-1:1,appt-2:-" {
		t.Fatalf("the delivery log's type versions: %v", versions)
	}

	// Replace: version 2, the example must still validate; the type in the body must match the URL.
	body["schema"] = json.RawMessage(`{"type":"object","required":["appointment_id","patient","clinic"]}`)
	body["example"] = json.RawMessage(`{"appointment_id":"A","patient":{"id":"P"}}`)
	r = h.do("PUT", "/v1/event-types/appointment.missed", adminToken, body)
	r.decode(t, &pb)
	if r.Status != 422 || pb.Details[0].Path != "/example/clinic" {
		t.Fatalf("replace with an example that fails: %d %s", r.Status, r.Body)
	}
	body["example"] = json.RawMessage(`{"appointment_id":"A","patient":{"id":"P"},"clinic":"North"}`)
	if r := h.do("PUT", "/v1/event-types/appointment.booked", adminToken, body); r.Status != 422 {
		t.Fatalf("replace under another name: %d %s", r.Status, r.Body)
	}
	r = h.do("PUT", "/v1/event-types/appointment.missed", adminToken, body)
	r.decode(t, &v)
	if r.Status != 200 || v.Version != 2 {
		t.Fatalf("replace: %d %s", r.Status, r.Body)
	}
	delete(body, "type")
	if r := h.do("PUT", "/v1/event-types/appointment.cancelled", adminToken, body); r.Status != 404 {
		t.Fatalf("replace a missing type: %d %s", r.Status, r.Body)
	}

	// Delete: 409 while webhooks name it or its family, naming them; built-in types never.
	r = h.do("DELETE", "/v1/event-types/appointment.missed", adminToken, nil)
	r.decode(t, &pb)
	if r.Status != http.StatusConflict || len(pb.Webhooks) != 3 || !strings.Contains(pb.Error, `"front desk"`) || !strings.Contains(pb.Error, `"north only"`) {
		t.Fatalf("delete in use: %d %s", r.Status, r.Body)
	}
	if r := h.do("DELETE", "/v1/event-types/task.created", adminToken, nil); r.Status != http.StatusConflict || !strings.Contains(string(r.Body), "built-in") {
		t.Fatalf("delete built-in: %d %s", r.Status, r.Body)
	}
	for _, w := range pb.Webhooks {
		if r := h.do("DELETE", "/v1/webhooks/"+w.ID, adminToken, nil); r.Status != 204 {
			t.Fatalf("delete webhook: %d", r.Status)
		}
	}
	if r := h.do("DELETE", "/v1/event-types/appointment.missed", adminToken, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := h.do("GET", "/v1/event-types/appointment.missed", viewerToken, nil); r.Status != 404 {
		t.Fatalf("get deleted: %d", r.Status)
	}
	if _, err := kv.Get(ctx, "appointment.missed"); err == nil {
		t.Fatal("deleted type still in the bucket")
	}
	// Audited, versions kept: re-created, it continues the numbering.
	var audit struct {
		Entries []struct {
			Action   string `json:"action"`
			TargetID string `json:"target_id"`
		} `json:"entries"`
	}
	h.do("GET", "/v1/audit", viewerToken, nil).decode(t, &audit)
	var actions []string
	for _, e := range audit.Entries {
		if e.TargetID == "appointment.missed" {
			actions = append(actions, e.Action)
		}
	}
	if strings.Join(actions, ",") != "event_type.delete,event_type.replace,event_type.create" {
		t.Fatalf("audit %v", actions)
	}
	body["type"] = "appointment.missed"
	r = h.do("POST", "/v1/event-types", adminToken, body)
	r.decode(t, &v)
	if r.Status != 201 || v.Version != 3 {
		t.Fatalf("re-created: %d %s", r.Status, r.Body)
	}
}

// TestEventTypeBadRequests: malformed and ill-typed bodies are 400 and 422 with pointers.
func TestEventTypeBadRequests(t *testing.T) {
	h := start(t)
	cases := []struct {
		name string
		body any
		code int
		path string
	}{
		{"not JSON", []byte(`{"type":`), 400, ""},
		{"unknown field", map[string]any{"type": "a.b", "summry": map[string]any{}}, 422, "/summry"},
		{"schema of the wrong kind", []byte(`{"type":"a.b","summary":{"title":"x","facts":{}}}`), 422, "/summary/facts"},
		{"key twice", []byte(`{"type":"a.b","type":"a.c"}`), 422, "/type"},
		{"built-in family", map[string]any{"type": "report.signed", "schema": map[string]any{"type": "object"}, "example": map[string]any{}, "summary": map[string]any{"title": "x"}}, 422, "/type"},
		{"remote ref", map[string]any{"type": "a.b", "schema": map[string]any{"type": "object", "$ref": "http://example.org/s.json"}, "example": map[string]any{}, "summary": map[string]any{"title": "x"}}, 422, "/schema/$ref"},
	}
	for _, k := range cases {
		r := h.do("POST", "/v1/event-types", adminToken, k.body)
		var pb problemBody
		r.decode(t, &pb)
		if r.Status != k.code || (k.path != "" && (len(pb.Details) == 0 || pb.Details[0].Path != k.path)) {
			t.Errorf("%s: %d %s", k.name, r.Status, r.Body)
		}
	}
}
