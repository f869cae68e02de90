package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/families/report"
)

// compileSchemas compiles the FHIR R4 schema's definitions of the resources Taskhook writes,
// once per test binary (the schema is 3.9 MB; compiling takes about a second).
var compileSchemas = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	f, err := os.Open("testdata/fhir.schema.v4.json")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("fhir.schema.json", doc); err != nil {
		return nil, err
	}
	out := map[string]*jsonschema.Schema{}
	for _, kind := range []string{"Task", "DiagnosticReport", "Observation"} {
		if out[kind], err = c.Compile("fhir.schema.json#/definitions/" + kind); err != nil {
			return nil, err
		}
	}
	return out, nil
})

// schemaOf is the FHIR R4 JSON Schema of a resource type.
func schemaOf(t *testing.T, kind string) *jsonschema.Schema {
	t.Helper()
	s, err := compileSchemas()
	if err != nil {
		t.Fatal(err)
	}
	if s[kind] == nil {
		t.Fatalf("no schema for %q", kind)
	}
	return s[kind]
}

func taskSchema(t *testing.T) *jsonschema.Schema { return schemaOf(t, "Task") }

func seedRaw(t *testing.T) []byte {
	b, err := os.ReadFile("../../../../examples/seed-task-created.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var at = time.Date(2024, 1, 10, 9, 0, 0, 0, time.UTC)

func render(t *testing.T, s *jsonschema.Schema, raw []byte, tgt notify.Target) (*notify.Request, map[string]any) {
	t.Helper()
	if tgt.URL == "" {
		tgt.URL = "https://fhir.example.org/api/FHIR/R4/"
	}
	req, err := New().Render(context.Background(), &tgt, &notify.Message{Timestamp: at, Event: event.NewLazy(raw)})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(req.Body))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(doc); err != nil {
		t.Fatalf("Task does not validate against FHIR R4: %v\n%s", err, req.Body)
	}
	return req, doc.(map[string]any)
}

func TestSeedTask(t *testing.T) {
	s := taskSchema(t)
	req, task := render(t, s, seedRaw(t), notify.Target{})
	if req.URL != "https://fhir.example.org/api/FHIR/R4/Task" || req.ContentType != "application/fhir+json" {
		t.Fatalf("%s %s", req.URL, req.ContentType)
	}
	if got := req.Header.Get("If-None-Exist"); got != "identifier=urn%3Ataskhook%3Atask-id|12345" {
		t.Fatalf("If-None-Exist %q", got)
	}
	want := map[string]any{"resourceType": "Task", "status": "requested", "intent": "order", "priority": "routine",
		"description": "Follow up with patient", "authoredOn": "2024-01-10T09:00:00Z"}
	for k, v := range want {
		if task[k] != v {
			t.Errorf("%s = %v, want %v", k, task[k], v)
		}
	}
	ref := func(k string) string { return task[k].(map[string]any)["reference"].(string) }
	if ref("for") != "Patient/67890" || ref("requester") != "Practitioner/11111" || ref("owner") != "Practitioner/22222" {
		t.Errorf("references %v %v %v", task["for"], task["requester"], task["owner"])
	}
	id := task["identifier"].([]any)[0].(map[string]any)
	if id["system"] != DefaultIdentifierSystem || id["value"] != "12345" {
		t.Errorf("identifier %v", id)
	}
	if end := task["restriction"].(map[string]any)["period"].(map[string]any)["end"]; end != "2024-01-15T10:00:00Z" {
		t.Errorf("restriction end %v", end)
	}
}

func TestMappings(t *testing.T) {
	s := taskSchema(t)
	ny, _ := time.LoadLocation("America/New_York")
	cases := []struct {
		body  string
		check func(map[string]any) bool
	}{
		{`{"event_id":"e","task_id":"1","event":"updated","title":"t","status":"completed"}`, func(m map[string]any) bool { return m["status"] == "completed" }},
		{`{"event_id":"e","task_id":"1","event":"updated","title":"t","status":"closed"}`, func(m map[string]any) bool { return m["status"] == "cancelled" }},
		{`{"event_id":"e","task_id":"1","event":"overdue","title":"t","status":"open"}`, func(m map[string]any) bool {
			return m["status"] == "requested" && m["priority"] == "urgent" && m["businessStatus"].(map[string]any)["text"] == "overdue"
		}},
		{`{"event_id":"e","task_id":"1","event":"due","title":"t","assignee":{"staff":null,"team":{"id":"t9","name":"Cardiology"}}}`, func(m map[string]any) bool {
			o := m["owner"].(map[string]any)
			return o["reference"] == "CareTeam/t9" && o["display"] == "Cardiology"
		}},
		{`{"event_id":"e","task_id":"1","event":"due","title":"t","patient":null,"due_date":null}`, func(m map[string]any) bool {
			return m["for"] == nil && m["restriction"] == nil && m["owner"] == nil
		}},
		{`{"event_id":"e","task_id":"1","event":"due","title":"t","occurred_at":"2024-02-01T12:30:00Z"}`, func(m map[string]any) bool {
			return m["authoredOn"] == "2024-02-01T07:30:00-05:00" && m["lastModified"] == "2024-01-10T04:00:00-05:00"
		}},
	}
	for _, c := range cases {
		_, task := render(t, s, []byte(c.body), notify.Target{Location: ny})
		if !c.check(task) {
			t.Errorf("%s → %v", c.body, task)
		}
	}
}

func TestOptions(t *testing.T) {
	p := New()
	for opts, ok := range map[string]bool{``: true, `{}`: true, `{"identifier_system":"https://ehr.example.org/task"}`: true,
		`{"identifier_system":"urn:oid:1.2.840.1"}`: true, `{"identifier_system":"task-ids"}`: false, `{"identifier_system":3}`: false,
		`{"identifer_system":"urn:x"}`: false, `[1]`: false, `{"identifier_system":"urn:a|b"}`: false} { //nolint:misspell // a misspelled option is refused
		if err := p.CheckOptions(json.RawMessage(opts)); (err == nil) != ok {
			t.Errorf("%s: %v", opts, err)
		}
	}
	req, task := render(t, taskSchema(t), seedRaw(t), notify.Target{Options: json.RawMessage(`{"identifier_system":"https://ehr.example.org/task,id"}`)})
	if task["identifier"].([]any)[0].(map[string]any)["system"] != "https://ehr.example.org/task,id" {
		t.Fatal("system option not applied")
	}
	q, err := url.ParseQuery(req.Header.Get("If-None-Exist"))
	if err != nil || q.Get("identifier") != `https://ehr.example.org/task\,id|12345` {
		t.Fatalf("If-None-Exist %q decodes to %q", req.Header.Get("If-None-Exist"), q.Get("identifier"))
	}
}

// fhirServer plays a FHIR server with conditional create: a POST whose If-None-Exist matches a
// stored Task answers 200 with it and creates nothing.
type fhirServer struct {
	mu    sync.Mutex
	tasks map[string][]byte // If-None-Exist → Task
	posts int
}

func (f *fhirServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts++
	if !strings.HasSuffix(r.URL.Path, "/Task") || r.Header.Get("Content-Type") != ContentType {
		w.WriteHeader(400)
		return
	}
	if r.Method == "PUT" { // conditional update: replace the Task with this identifier, or create it
		if r.URL.RawQuery == "" {
			w.WriteHeader(400)
			return
		}
		b, _ := io.ReadAll(r.Body)
		_, existed := f.tasks[r.URL.RawQuery]
		f.tasks[r.URL.RawQuery] = b
		if existed {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusCreated)
		}
		return
	}
	if r.Method != "POST" {
		w.WriteHeader(405)
		return
	}
	key := r.Header.Get("If-None-Exist")
	if b, ok := f.tasks[key]; ok {
		w.Header().Set("Content-Type", ContentType)
		w.WriteHeader(http.StatusOK)
		w.Write(b)
		return
	}
	b, _ := io.ReadAll(r.Body)
	f.tasks[key] = b
	w.Header().Set("Location", "Task/1/_history/1")
	w.WriteHeader(http.StatusCreated)
}

func TestConditionalCreateNeverDuplicates(t *testing.T) {
	fs := &fhirServer{tasks: map[string][]byte{}}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	for i := 0; i < 2; i++ { // a delivery and its retry
		req, err := New().Render(context.Background(), &notify.Target{URL: srv.URL + "/fhir/r4"}, &notify.Message{Timestamp: at, Event: event.NewLazy(seedRaw(t))})
		if err != nil {
			t.Fatal(err)
		}
		hr, _ := http.NewRequest("POST", req.URL, bytes.NewReader(req.Body))
		hr.Header = req.Header.Clone()
		hr.Header.Set("Content-Type", req.ContentType)
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if o := New().Classify(&notify.Response{StatusCode: resp.StatusCode}); o.Result != notify.Success {
			t.Fatalf("post %d: %d %+v", i, resp.StatusCode, o)
		}
	}
	if fs.posts != 2 || len(fs.tasks) != 1 {
		t.Fatalf("%d posts created %d Tasks, want 1", fs.posts, len(fs.tasks))
	}
	if o := New().Classify(&notify.Response{StatusCode: 412}); o.Result != notify.Fail || !strings.Contains(o.Reason, "several resources") {
		t.Fatalf("412: %+v", o)
	}
}

// TestUpdatesReachTheTask: task.created creates the Task once; a later task.updated (then its
// retry) replaces it through a conditional update on the same identifier: one Task, with the
// new status.
func TestUpdatesReachTheTask(t *testing.T) {
	fs := &fhirServer{tasks: map[string][]byte{}}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	send := func(raw []byte) int {
		req, err := New().Render(context.Background(), &notify.Target{URL: srv.URL + "/fhir/r4"}, &notify.Message{Timestamp: at, Event: event.NewLazy(raw)})
		if err != nil {
			t.Fatal(err)
		}
		method := req.Method
		if method == "" {
			method = "POST"
		}
		hr, _ := http.NewRequest(method, req.URL, bytes.NewReader(req.Body))
		hr.Header = req.Header.Clone()
		hr.Header.Set("Content-Type", req.ContentType)
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	created := seedRaw(t)
	updated := bytes.Replace(created, []byte(`"event": "created"`), []byte(`"event": "updated", "status": "completed"`), 1)
	if !bytes.Contains(updated, []byte(`"completed"`)) {
		t.Fatal("test event not rewritten")
	}
	for i, raw := range [][]byte{created, updated, updated} {
		if code := send(raw); code != 200 && code != 201 {
			t.Fatalf("send %d: %d", i, code)
		}
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var completed int
	for key, b := range fs.tasks {
		if strings.Contains(string(b), `"status":"completed"`) {
			completed++
			if !strings.HasPrefix(key, "identifier=urn%3Ataskhook%3Atask-id|12345") {
				t.Errorf("updated under %q", key)
			}
		}
	}
	if completed != 1 {
		t.Fatalf("%d completed Tasks among %d stored", completed, len(fs.tasks))
	}
}

func TestSchemaCatchesBadTasks(t *testing.T) {
	s := taskSchema(t)
	for _, bad := range []string{`{"resourceType":"Task","status":"open"}`, `{"resourceType":"Task","authoredOn":"2024-01-15 10:00"}`,
		`{"resourceType":"Task","intent":"wish"}`, `{"resourceType":"Task","bogus":1}`} {
		doc, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if s.Validate(doc) == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// TestReportsAndBatteries: a report becomes a DiagnosticReport and a battery an Observation,
// each posted to its resource type with a conditional create on its identifier, with the
// webhook's identifier systems and report code.
func TestReportsAndBatteries(t *testing.T) {
	opts := json.RawMessage(`{"report_identifier_system":"https://goreporter.example.org/report-id","patient_identifier_system":"urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14",` +
		`"device_identifier_system":"https://goreporter.example.org/device-id","observation_identifier_system":"https://goreporter.example.org/event-id",` +
		`"report_code":{"system":"http://loinc.org","code":"34139-6","display":"Pacemaker interrogation"}}`)
	if err := New().CheckOptions(opts); err != nil {
		t.Fatal(err)
	}
	tgt := &notify.Target{URL: "https://fhir.example.org/R4/", Options: opts}
	cases := []struct {
		msg        *notify.Message
		kind, cond string
		check      func(map[string]any) bool
	}{
		{notifytest.Published(t, []byte(report.Example)), "DiagnosticReport", "identifier=https://goreporter.example.org/report-id|R-2024-0042",
			func(r map[string]any) bool {
				code := r["code"].(map[string]any)
				subject := r["subject"].(map[string]any)["identifier"].(map[string]any)
				return r["status"] == "final" && code["coding"].([]any)[0].(map[string]any)["code"] == "34139-6" && code["text"] == "remote interrogation" &&
					subject["value"] == "67890" && strings.HasPrefix(subject["system"].(string), "urn:oid:") &&
					r["presentedForm"].([]any)[0].(map[string]any)["url"] == "https://goreporter.example.org/reports/R-2024-0042"
			}},
		{notifytest.Published(t, []byte(`{"event_id":"b-1","type":"battery.low","device":{"id":"D-7"},"battery":{"percent":18}}`)), "Observation",
			"identifier=https://goreporter.example.org/event-id|b-1",
			func(o map[string]any) bool {
				v := o["valueQuantity"].(map[string]any)
				return v["value"] == 18.0 && v["code"] == "%" && o["subject"] == nil &&
					o["device"].(map[string]any)["identifier"].(map[string]any)["value"] == "D-7"
			}},
	}
	for _, c := range cases {
		req, err := New().Render(context.Background(), tgt, c.msg)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		_ = json.Unmarshal(req.Body, &doc)
		v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(req.Body))
		if err := schemaOf(t, c.kind).Validate(v); err != nil {
			t.Errorf("%s: not valid FHIR R4: %v", c.kind, err)
		}
		cond, _ := url.QueryUnescape(req.Header.Get("If-None-Exist"))
		if req.URL != "https://fhir.example.org/R4/"+c.kind || doc["resourceType"] != c.kind || cond != c.cond || req.ContentType != ContentType {
			t.Errorf("%s: %s %q %s", c.kind, req.URL, cond, req.Body)
		}
		if !c.check(doc) {
			t.Errorf("%s: %s", c.kind, req.Body)
		}
	}
	for opts, ok := range map[string]bool{`{"report_code":{"system":"http://loinc.org","code":"x y"}}`: false, `{"report_code":{"code":"1"}}`: false,
		`{"device_identifier_system":"devices"}`: false, `{"patient_identifier_system":"urn:x"}`: true, `{"report_code":"34139-6"}`: false} {
		if err := New().CheckOptions(json.RawMessage(opts)); (err == nil) != ok {
			t.Errorf("%s: %v", opts, err)
		}
	}
}
