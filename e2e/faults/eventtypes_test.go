package faults

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/e2e/proc"
)

// startIngestAt runs one more bin/ingest (a replica) on addr, logging to name.log.
func (s *stack) startIngestAt(addr, name string) *proc.Process {
	s.t.Helper()
	p, err := proc.Start(name, filepath.Join(s.bin, "ingest"), nil, append([]string{
		"NATS_URL=" + s.natsURL, "INGEST_ADDR=" + addr, "TASKHOOK_INGEST_TOKENS=" + ingestToken,
		"TASKHOOK_PUBLISH_TIMEOUT=2s", "TASKHOOK_LOG_LEVEL=info"}, s.extraEnv...), filepath.Join(s.logDir, name+".log"))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	if err := p.WaitHTTP("http://"+addr+"/readyz", 30*time.Second); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// post sends one event to an ingest and returns the status and the first detail's path.
func (s *stack) post(addr string, body string) (int, string) {
	s.t.Helper()
	var v any
	_ = json.Unmarshal([]byte(body), &v)
	code, b := s.call("POST", "http://"+addr+"/v1/events", ingestToken, v)
	var e struct {
		Details []struct{ Path string } `json:"details"`
	}
	_ = json.Unmarshal(b, &e)
	if len(e.Details) > 0 {
		return code, e.Details[0].Path
	}
	return code, ""
}

// untilBoth waits until every ingest answers want (and the pointer path, for a 422) for body;
// it returns how long that took.
func (s *stack) untilBoth(addrs []string, body string, want int, path string, within time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	for {
		ok := true
		for _, a := range addrs {
			code, p := s.post(a, body)
			if code != want || (want == 422 && p != path) {
				ok = false
				if time.Since(start) > within {
					s.t.Fatalf("ingest %s answers %d %q for %s, want %d %q, after %s", a, code, p, body, want, path, within)
				}
			}
		}
		if ok {
			return time.Since(start)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestCustomEventTypesOnTheRealBinaries: an admin registers appointment.missed on bin/dispatcher;
// within 5 s both of two bin/ingest replicas accept a valid body and refuse an invalid one with
// a pointer; Slack and Teams webhooks on appointment.* receive its summary; a replaced schema is
// enforced within 5 s; deleting it while subscribed is 409; an ingest restarted while the
// dispatcher is down still validates it (from the bucket).
func TestCustomEventTypesOnTheRealBinaries(t *testing.T) {
	s := newStack(t)
	s.startDispatcher()
	s.startIngest()
	port, _ := proc.FreePort()
	second := fmt.Sprintf("127.0.0.1:%d", port)
	replica := s.startIngestAt(second, "ingest-2")
	ingests := []string{s.ingestAddr, second}
	disp := "http://" + s.dispAddr

	valid := `{"type":"appointment.missed","appointment_id":"A-77","clinic":"Cardiology North","url":"https://goreporter.example.org/appointments/A-77","patient":{"id":"P-1","name":"John Doe"}}`
	invalid := `{"type":"appointment.missed","appointment_id":"A-78"}`
	if code, _ := s.post(s.ingestAddr, valid); code != 422 {
		t.Fatalf("before registration: %d", code)
	}
	def := map[string]any{
		"type": "appointment.missed", "description": "A patient did not come to an appointment",
		"schema": json.RawMessage(`{"type":"object","required":["appointment_id","patient"],"properties":{"appointment_id":{"type":"string"},` +
			`"clinic":{"type":"string"},"url":{"type":"string"},"patient":{"type":"object","required":["id"],"properties":{"id":{"type":"string"},"name":{"type":"string"}}}}}`),
		"example": json.RawMessage(valid),
		"summary": map[string]any{"title": "Missed appointment", "severity": "warning", "link": "{{.event.url}}",
			"facts": []map[string]string{{"name": "Patient", "value": `{{get .event "patient.name"}}`}, {"name": "Clinic", "value": "{{.event.clinic}}"}}},
	}
	created := time.Now()
	if code, b := s.call("POST", disp+"/v1/event-types", adminToken, def); code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	took := s.untilBoth(ingests, valid, 202, "", 5*time.Second)
	s.untilBoth(ingests, invalid, 422, "/patient", 5*time.Second-time.Since(created))
	t.Logf("appointment.missed accepted by both ingests %s after its creation (%s of polling)", time.Since(created).Round(time.Millisecond), took.Round(time.Millisecond))

	slack := newCapture(t, nil)
	teams := newCapture(t, nil)
	slackID := s.createWebhook(map[string]any{"name": "front desk", "url": slack.URL + "/services/T1/B1/x", "provider": "slack", "events": []string{"appointment.*"}})
	s.createWebhook(map[string]any{"name": "care team", "url": teams.URL + "/workflows/1", "provider": "teams", "events": []string{"appointment.*"}})
	if code, _ := s.post(second, valid); code != 202 {
		t.Fatalf("post: %d", code)
	}
	_, sb := slack.first(t)
	if !strings.Contains(string(sb), `"text":"Missed appointment"`) || !strings.Contains(string(sb), "John Doe") || !strings.Contains(string(sb), "goreporter.example.org/appointments/A-77") {
		t.Fatalf("slack: %s", sb)
	}
	// The delivery log shows the version that validated the event.
	// (The outcome of an attempt is written just after the receiver answered: wait for it.)
	var log struct {
		Deliveries []struct{ ID string } `json:"deliveries"`
	}
	waitUntil(t, 10*time.Second, "the delivery in the log", func() bool {
		_, lb := s.call("GET", disp+"/v1/webhooks/"+slackID+"/deliveries", adminToken, nil)
		return json.Unmarshal(lb, &log) == nil && len(log.Deliveries) == 1
	})
	if _, db := s.call("GET", disp+"/v1/deliveries/"+log.Deliveries[0].ID, adminToken, nil); !strings.Contains(string(db), `"event_type_version":1`) {
		t.Fatalf("the delivery does not show the type's version: %s", db)
	}
	_, tb := teams.first(t)
	for _, want := range []string{`"text":"Missed appointment"`, `"color":"Warning"`, `"title":"Patient","value":"John Doe"`, `"type":"Action.OpenUrl"`} {
		if !strings.Contains(string(tb), want) {
			t.Fatalf("teams lacks %s: %s", want, tb)
		}
	}

	// Replace: the clinic becomes required; both ingests enforce it within 5 s.
	def["schema"] = json.RawMessage(`{"type":"object","required":["appointment_id","patient","clinic"]}`)
	noClinic := `{"type":"appointment.missed","appointment_id":"A-79","patient":{"id":"P-3"}}`
	replaced := time.Now()
	if code, b := s.call("PUT", disp+"/v1/event-types/appointment.missed", adminToken, def); code != 200 || !strings.Contains(string(b), `"version":2`) {
		t.Fatalf("replace: %d %s", code, b)
	}
	s.untilBoth(ingests, noClinic, 422, "/clinic", 5*time.Second)
	t.Logf("the replaced schema was enforced by both ingests %s after the PUT", time.Since(replaced).Round(time.Millisecond))

	if code, b := s.call("DELETE", disp+"/v1/event-types/appointment.missed", adminToken, nil); code != 409 || !strings.Contains(string(b), "front desk") || !strings.Contains(string(b), "care team") {
		t.Fatalf("delete while subscribed: %d %s", code, b)
	}

	// The dispatcher goes down; an ingest restarted meanwhile has the catalog from the bucket.
	if err := s.dispatcher.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := replica.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := replica.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := replica.WaitHTTP("http://"+second+"/readyz", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if code, _ := s.post(second, valid); code != 202 {
		t.Fatalf("restarted ingest refuses a valid body: %d", code)
	}
	if code, p := s.post(second, noClinic); code != 422 || p != "/clinic" {
		t.Fatalf("restarted ingest: %d %q, want 422 /clinic", code, p)
	}
}
