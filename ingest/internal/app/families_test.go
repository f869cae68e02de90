package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhook/taskhook/pkg/families"
	"github.com/taskhook/taskhook/pkg/natstest"
	"github.com/taskhook/taskhook/pkg/natsx"
)

// TestEveryFamilyIsPublishedOnItsType: every catalog example is accepted, stored on the
// subject of its type, with its event id filled in and the rest of the body as sent.
func TestEveryFamilyIsPublishedOnItsType(t *testing.T) {
	h := start(t)
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	var public []string
	for _, typ := range cat.Types() {
		r := h.event(typ.Example)
		if cat.Internal(typ.Type) {
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "only Taskhook publishes") {
				t.Fatalf("%s: an operational event was not refused: %d %s", typ.Type, r.Status, r.Body)
			}
			continue
		}
		public = append(public, typ.Type)
		var acc struct {
			ID, Subject string
		}
		r.json(t, &acc)
		if r.Status != http.StatusAccepted || acc.Subject != typ.Type {
			t.Fatalf("%s: %d %s", typ.Type, r.Status, r.Body)
		}
	}
	msgs := h.streamMsgs()
	if len(msgs) != len(public) {
		t.Fatalf("%d messages stored, want %d", len(msgs), len(public))
	}
	for i, m := range msgs {
		var body map[string]any
		if err := json.Unmarshal(m.Data, &body); err != nil {
			t.Fatal(err)
		}
		if m.Subject != public[i] || body["event_id"] != m.Header.Get(jetstream.MsgIDHeader) || body["event_id"] == "" {
			t.Errorf("message %d: subject %s, event_id %v, Nats-Msg-Id %s", i, m.Subject, body["event_id"], m.Header.Get(jetstream.MsgIDHeader))
		}
	}
}

func TestFamiliesBadInput(t *testing.T) {
	h := start(t)
	cases := []struct {
		name, body, error, path string
	}{
		{"unknown type", `{"type":"battery.empty","device":{"id":"d"}}`, "type is not one Taskhook knows", "/type"},
		{"type and event disagree", `{"type":"task.due","task_id":"1","event":"created","title":"t"}`, "schemas/task-event.v1.json", "/type"},
		{"report without report_id", `{"type":"report.completed","title":"x"}`, "the report event does not match schemas/report-event.v1.json", "/report_id"},
		{"battery without device", `{"type":"battery.critical","battery":{"percent":3}}`, "the battery event does not match schemas/battery-event.v1.json", "/device"},
		{"operational event", `{"type":"delivery.exhausted","webhook_id":"w","count":1}`, "an operational event, which only Taskhook publishes", "/type"},
		{"battery typo", `{"type":"battery.critical","device":{"id":"d"},"measured":"2024-01-01T00:00:00Z"}`, "battery event", "/measured"},
	}
	for _, c := range cases {
		r := h.event([]byte(c.body))
		var e errBody
		r.json(t, &e)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(e.Error, c.error) || len(e.Details) == 0 || e.Details[0].Path != c.path {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
		}
	}
	if n := len(h.streamMsgs()); n != 0 {
		t.Fatalf("%d invalid events stored", n)
	}
}

// TestBatchMixesFamilies: one batch carries a task, a report, a battery and a bad item; each
// gets its own result and subject.
func TestBatchMixesFamilies(t *testing.T) {
	h := start(t)
	body := `[{"task_id":"1","event":"due","title":"t"},
	  {"type":"report.completed","report_id":"R-1"},
	  {"type":"battery.low","device":{"id":"D-1"},"battery":{"percent":17}},
	  {"type":"battery.low"}]`
	r := h.post("/v1/events/batch", "application/json", token, []byte(body), "Idempotency-Key", "mix")
	var items []struct {
		Index, Status int
		ID, Subject   string
		Details       []struct{ Path string }
	}
	r.json(t, &items)
	want := []struct {
		status  int
		subject string
	}{{202, "task.due"}, {202, "report.completed"}, {202, "battery.low"}, {422, ""}}
	if r.Status != 200 || len(items) != len(want) {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	for i, w := range want {
		if items[i].Status != w.status || items[i].Subject != w.subject {
			t.Errorf("item %d: %+v, want %d %s", i, items[i], w.status, w.subject)
		}
	}
	if items[3].Details[0].Path != "/device" || items[2].ID != "mix.2" {
		t.Errorf("items %+v", items)
	}
	var subjects []string
	for _, m := range h.streamMsgs() {
		subjects = append(subjects, m.Subject)
	}
	if strings.Join(subjects, ",") != "task.due,report.completed,battery.low" {
		t.Fatalf("stored %v", subjects)
	}
}

func TestEventTypesCatalog(t *testing.T) {
	h := start(t)
	req, _ := http.NewRequest(http.MethodGet, h.base+"/v1/event-types", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", resp.StatusCode)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		EventTypes []struct {
			Type, Family, Description string
			SchemaFile                string `json:"schema_file"`
			Schema                    map[string]any
			Example                   map[string]any
			Internal                  bool
		} `json:"event_types"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	var types []string
	for _, e := range list.EventTypes {
		types = append(types, e.Type)
		schemaFile := "schemas/" + e.Family + "-event.v1.json"
		if e.Internal {
			schemaFile = "schemas/ops-event.v1.json"
		}
		if e.Schema["$id"] == nil || e.Example == nil || e.SchemaFile != schemaFile || !strings.HasPrefix(e.Type, e.Family+".") {
			t.Errorf("%s: incomplete entry", e.Type)
		}
	}
	if strings.Join(types, ",") != "task.created,task.updated,task.due,task.overdue,report.created,report.completed,battery.low,battery.critical,"+
		"webhook.disabled,webhook.health_changed,delivery.exhausted,delivery.recovered" {
		t.Fatalf("types %v", types)
	}
}

// TestStreamUpgradedInPlace: a stream declared by the previous release (the four task subjects
// only, with an event in it) gains report.* and battery.* when ingest starts, keeps its event,
// and takes a battery event at once.
func TestStreamUpgradedInPlace(t *testing.T) {
	srv := natstest.Start(t)
	declareTaskOnlyStream(t, srv.URL, seedEvent(t))
	h := startOn(t, srv)
	if r := h.event([]byte(`{"type":"battery.critical","device":{"id":"D-1"}}`)); r.Status != http.StatusAccepted {
		t.Fatalf("battery event after the upgrade: %d %s", r.Status, r.Body)
	}
	msgs := h.streamMsgs()
	if len(msgs) != 2 || msgs[0].Subject != "task.created" || msgs[1].Subject != "battery.critical" {
		t.Fatalf("stream after the upgrade: %d messages", len(msgs))
	}
}

// declareTaskOnlyStream declares TASK_EVENTS as the previous release did (the four task
// subjects only) and stores one task event in it.
func declareTaskOnlyStream(t *testing.T, url string, task []byte) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	old := natsx.DefaultStream(1, 2*time.Minute, time.Hour)
	old.Subjects = []string{"task.created", "task.updated", "task.due", "task.overdue"}
	if _, err := natsx.EnsureStream(ctx, js, old); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "task.created", task); err != nil {
		t.Fatal(err)
	}
}
