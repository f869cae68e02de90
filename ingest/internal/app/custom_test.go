package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/natsx"
	"github.com/taskhook/taskhook/pkg/typesync"
)

func appointmentType(version int, required ...string) event.Custom {
	req, _ := json.Marshal(append([]string{"type", "patient_id"}, required...))
	return event.Custom{Type: "appointment.missed", Description: "A patient missed an appointment", Version: version,
		UpdatedAt: time.Unix(int64(version), 0).UTC(),
		Schema:    []byte(`{"type":"object","required":` + string(req) + `,"properties":{"patient_id":{"type":"string","minLength":1},"clinic":{"type":"string"}}}`),
		Example:   []byte(`{"type":"appointment.missed","patient_id":"P-1","clinic":"North"}`),
		Summary:   event.CustomSummary{Title: "Missed appointment", Severity: "warning"}}
}

// publishType does what the dispatcher does for a new type: the stream gains the family's
// subjects, then the bucket gets the definition.
func publishType(t *testing.T, url string, def event.Custom) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, natsx.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.Subjects = natsx.MergeSubjects(cfg.Subjects, []string{def.Family() + ".*"})
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	kv, err := typesync.EnsureBucket(ctx, js, typesync.Bucket, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := typesync.Sync(ctx, kv, []event.Custom{def}); err != nil {
		t.Fatal(err)
	}
}

// TestCustomTypeFromTheBucket: a type the bucket gains is accepted within 5 s (and stored on
// its subject with the version that validated it), a body that fails its schema is refused
// with a pointer, GET /v1/event-types lists it as custom, and a replacement applies at once.
func TestCustomTypeFromTheBucket(t *testing.T) {
	h := start(t)
	valid := []byte(`{"type":"appointment.missed","patient_id":"P-9"}`)
	if r := h.event(valid); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("unknown type: %d %s", r.Status, r.Body)
	}
	publishType(t, h.nats.URL, appointmentType(1))
	deadline := time.Now().Add(5 * time.Second)
	for h.event(valid).Status != http.StatusAccepted {
		if time.Now().After(deadline) {
			t.Fatalf("custom type not accepted within 5 s: %s", h.event(valid).Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := h.event([]byte(`{"type":"appointment.missed","patient_id":""}`))
	var e errBody
	r.json(t, &e)
	if r.Status != http.StatusUnprocessableEntity || e.Details[0].Path != "/patient_id" || !strings.Contains(e.Error, "registered schema of appointment.missed, version 1") {
		t.Fatalf("invalid body: %d %s", r.Status, r.Body)
	}
	msgs := h.streamMsgs()
	if len(msgs) != 1 || msgs[0].Subject != "appointment.missed" || msgs[0].Header.Get(event.TypeVersionHeader) != "1" {
		t.Fatalf("stored %+v", msgs)
	}
	req, _ := http.NewRequest(http.MethodGet, h.base+"/v1/event-types", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		EventTypes []struct {
			Type    string          `json:"type"`
			Custom  bool            `json:"custom"`
			Version int             `json:"version"`
			Schema  json.RawMessage `json:"schema"`
		} `json:"event_types"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	last := list.EventTypes[len(list.EventTypes)-1]
	if last.Type != "appointment.missed" || !last.Custom || last.Version != 1 || !strings.Contains(string(last.Schema), "patient_id") {
		t.Fatalf("event types end with %+v", last)
	}
	// The served OpenAPI document's enums follow the catalog.
	od, err := http.Get(h.base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	ob, _ := io.ReadAll(od.Body)
	od.Body.Close()
	if od.StatusCode != 200 || !strings.Contains(string(ob), `"appointment.missed"`) {
		t.Fatalf("openapi.json without the custom type: %d", od.StatusCode)
	}
	publishType(t, h.nats.URL, appointmentType(2, "clinic"))
	deadline = time.Now().Add(5 * time.Second)
	for h.event(valid).Status != http.StatusUnprocessableEntity {
		if time.Now().After(deadline) {
			t.Fatal("replacement not enforced within 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
