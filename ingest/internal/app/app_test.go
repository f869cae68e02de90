package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhook/taskhook/pkg/logtest"
	"github.com/taskhook/taskhook/pkg/natstest"
	"github.com/taskhook/taskhook/pkg/natsx"
	"github.com/taskhook/taskhook/pkg/openapitest"
)

const token = "test-ingest-token"

type harness struct {
	t      *testing.T
	nats   *natstest.Server
	base   string
	stop   func()
	routes []*echo.Route
}

func start(t *testing.T, mutate ...func(*Config)) *harness {
	t.Helper()
	return startOn(t, natstest.Start(t), mutate...)
}

// startOn runs ingest against srv.
func startOn(t *testing.T, srv *natstest.Server, mutate ...func(*Config)) *harness {
	t.Helper()
	return startHooks(t, srv, Hooks{}, mutate...)
}

// startHooks is startOn with hooks a test sets (Ready and Routes are the harness's).
func startHooks(t *testing.T, srv *natstest.Server, hooks Hooks, mutate ...func(*Config)) *harness {
	t.Helper()
	cfg, err := Load([]string{"NATS_URL=" + srv.URL, "INGEST_ADDR=127.0.0.1:0", "TASKHOOK_INGEST_TOKENS=other," + token,
		"TASKHOOK_PUBLISH_TIMEOUT=2s"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mutate {
		m(&cfg)
	}
	log := logtest.Logger(t, logtest.SeedPHI...)
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	routes := make(chan []*echo.Route, 1)
	go func() {
		hooks.Ready, hooks.Routes = func(a net.Addr) { addrc <- a }, func(r []*echo.Route) { routes <- r }
		done <- Run(ctx, cfg, log, hooks)
	}()
	h := &harness{t: t, nats: srv}
	h.routes = <-routes
	select {
	case a := <-addrc:
		h.base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("ingest exited: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("ingest did not listen")
	}
	h.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ingest returned %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("ingest did not stop")
		}
	}
	t.Cleanup(h.stop)
	h.waitReady()
	return h
}

func (h *harness) waitReady() {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(h.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatal("ingest not ready within 15s")
}

type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body is not JSON (%v): %s", err, r.Body)
	}
}

func (h *harness) post(path, contentType, tok string, body []byte, hdr ...string) reply {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.base+path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

func (h *harness) event(body []byte, hdr ...string) reply {
	h.t.Helper()
	return h.post("/v1/events", "application/json", token, body, hdr...)
}

func seedEvent(t testing.TB) []byte {
	b, err := os.ReadFile("../../../examples/seed-task-created.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// streamMsgs reads every message of TASK_EVENTS.
func (h *harness) streamMsgs() []*nats.Msg {
	h.t.Helper()
	nc, err := nats.Connect(h.nats.URL)
	if err != nil {
		h.t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, natsx.StreamName)
	if err != nil {
		h.t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	var out []*nats.Msg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
	}
	return out
}

type errBody struct {
	Error   string `json:"error"`
	Details []struct {
		Path, Message string
	} `json:"details"`
}

func TestPostEventStoresItDurably(t *testing.T) {
	h := start(t)
	r := h.event(seedEvent(t))
	if r.Status != http.StatusAccepted {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	var acc struct {
		ID, Subject string
		Duplicate   bool
	}
	r.json(t, &acc)
	if acc.ID == "" || acc.Subject != "task.created" || acc.Duplicate {
		t.Fatalf("%+v", acc)
	}
	msgs := h.streamMsgs()
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Subject != "task.created" || m.Header.Get("Nats-Msg-Id") != acc.ID {
		t.Fatalf("subject %q msg id %q", m.Subject, m.Header.Get("Nats-Msg-Id"))
	}
	var stored map[string]any
	_ = json.Unmarshal(m.Data, &stored)
	if stored["event_id"] != acc.ID || stored["task_id"] != "12345" {
		t.Fatalf("stored body %s", m.Data)
	}
}

func TestDuplicatesAnswer202WithoutStoringAgain(t *testing.T) {
	h := start(t)
	for i, want := range []bool{false, true, true} {
		r := h.event(seedEvent(t), "Idempotency-Key", "canvas-task-12345-v1")
		var acc struct {
			ID        string
			Duplicate bool
		}
		r.json(t, &acc)
		if r.Status != 202 || acc.ID != "canvas-task-12345-v1" || acc.Duplicate != want {
			t.Fatalf("post %d: %d %s", i, r.Status, r.Body)
		}
	}
	withID := []byte(`{"event_id":"evt-9","task_id":"9","event":"due","title":"t"}`)
	h.event(withID)
	r := h.event(withID, "Idempotency-Key", "ignored-when-body-has-id")
	if !bytes.Contains(r.Body, []byte(`"id":"evt-9"`)) || !bytes.Contains(r.Body, []byte(`"duplicate":true`)) {
		t.Fatalf("body event_id must win: %s", r.Body)
	}
	if n := len(h.streamMsgs()); n != 2 {
		t.Fatalf("stream holds %d messages, want 2", n)
	}
	if r := h.event(seedEvent(t), "Idempotency-Key", "has space"); r.Status != 400 {
		t.Fatalf("bad Idempotency-Key: %d %s", r.Status, r.Body)
	}
}

func TestBadInput(t *testing.T) {
	h := start(t, func(c *Config) { c.MaxBodyBytes = 2048 })
	big := append([]byte(`{"task_id":"1","event":"created","title":"`), bytes.Repeat([]byte("x"), 4096)...)
	big = append(big, `"}`...)
	cases := []struct {
		name        string
		ct, tok     string
		body        string
		raw         []byte
		status      int
		msg, detail string // substrings of error and of the first detail path
	}{
		{name: "malformed JSON", body: `{"task_id": "1",`, status: 400, msg: "malformed JSON"},
		{name: "wrong content type", ct: "text/plain", body: `{}`, status: 415, msg: "application/json"},
		{name: "no content type", ct: "-", body: `{}`, status: 415, msg: "application/json"},
		{name: "over-size body", raw: big, status: 413, msg: "2048 bytes"},
		{name: "unknown field", body: `{"task_id":"1","event":"created","title":"t","priority":"high"}`, status: 422, detail: "/priority"},
		{name: "missing required field", body: `{"task_id":"1","event":"created"}`, status: 422, detail: "/title"},
		{name: "bad date", body: `{"task_id":"1","event":"created","title":"t","due_date":"tomorrow"}`, status: 422, detail: "/due_date"},
		{name: "bad birth date", body: `{"task_id":"1","event":"created","title":"t","patient":{"id":"p","birth_date":"1980-5-15"}}`, status: 422, detail: "/patient/birth_date"},
		{name: "wrong event name", body: `{"task_id":"1","event":"deleted","title":"t"}`, status: 422, detail: "/event"},
		{name: "missing token", tok: "-", body: `{}`, status: 401, msg: "Authorization"},
		{name: "wrong token", tok: "nope", body: `{}`, status: 401, msg: "unknown bearer token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct, tok := c.ct, c.tok
			switch ct {
			case "":
				ct = "application/json; charset=utf-8"
			case "-":
				ct = ""
			}
			switch tok {
			case "":
				tok = token
			case "-":
				tok = ""
			}
			body := c.raw
			if body == nil {
				body = []byte(c.body)
			}
			r := h.post("/v1/events", ct, tok, body)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			var eb errBody
			r.json(t, &eb)
			if eb.Error == "" || !strings.Contains(eb.Error, c.msg) {
				t.Fatalf("error %q does not mention %q", eb.Error, c.msg)
			}
			if c.detail != "" && (len(eb.Details) == 0 || eb.Details[0].Path != c.detail || eb.Details[0].Message == "") {
				t.Fatalf("details %+v, want path %s", eb.Details, c.detail)
			}
		})
	}
	if r := h.post("/v1/events?access_token="+token, "application/json", "", seedEvent(t)); r.Status != 400 {
		t.Fatalf("token in query string: %d %s", r.Status, r.Body)
	}
	if n := len(h.streamMsgs()); n != 0 {
		t.Fatalf("bad input reached the stream: %d messages", n)
	}
}

type batchItem struct {
	Index, Status int
	ID, Subject   string
	Duplicate     bool
	Error         string
	Details       []struct{ Path, Message string }
}

func TestBatch(t *testing.T) {
	h := start(t)
	items := []string{
		string(seedEvent(t)),
		`{"task_id":"2","event":"overdue","title":"t","bogus":1}`,
		`{"event_id":"b-3","task_id":"3","event":"due","title":"t"}`,
		`"not an object"`,
		`{"event_id":"b-3","task_id":"3","event":"due","title":"t"}`,
	}
	r := h.post("/v1/events/batch", "application/json", token, []byte("["+strings.Join(items, ",")+"]"))
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var res []batchItem
	r.json(t, &res)
	if len(res) != len(items) {
		t.Fatalf("%d results for %d items", len(res), len(items))
	}
	want := []int{202, 422, 202, 422, 202}
	for i, it := range res {
		if it.Index != i || it.Status != want[i] {
			t.Fatalf("item %d: %+v", i, it)
		}
	}
	if res[1].Details[0].Path != "/bogus" || res[0].Subject != "task.created" || res[2].ID != "b-3" || !res[4].Duplicate || res[2].Duplicate {
		t.Fatalf("results %+v", res)
	}
	if n := len(h.streamMsgs()); n != 2 {
		t.Fatalf("stream holds %d messages, want the 2 distinct valid ones", n)
	}

	// An Idempotency-Key makes a whole batch safe to retry.
	body := []byte(`[{"task_id":"a","event":"created","title":"t"},{"task_id":"b","event":"updated","title":"t"}]`)
	for i, dup := range []bool{false, true} {
		var res []batchItem
		h.post("/v1/events/batch", "application/json", token, body, "Idempotency-Key", "batch-7").json(t, &res)
		if len(res) != 2 || res[0].ID != "batch-7.0" || res[1].ID != "batch-7.1" || res[0].Duplicate != dup || res[1].Duplicate != dup {
			t.Fatalf("attempt %d: %+v", i, res)
		}
	}

	var over bytes.Buffer
	over.WriteString("[")
	for i := 0; i < 1001; i++ {
		if i > 0 {
			over.WriteString(",")
		}
		fmt.Fprintf(&over, `{"task_id":"%d","event":"created","title":"t"}`, i)
	}
	over.WriteString("]")
	for name, c := range map[string]struct {
		body   []byte
		status int
		msg    string
	}{
		"empty batch":    {[]byte(`[]`), 422, "empty batch"},
		"over 1000":      {over.Bytes(), 413, "1001"},
		"not an array":   {[]byte(`{"task_id":"1"}`), 400, "JSON array"},
		"null":           {[]byte(`null`), 400, "JSON array"},
		"malformed JSON": {[]byte(`[{"task_id":`), 400, "malformed"},
	} {
		r := h.post("/v1/events/batch", "application/json", token, c.body)
		var eb errBody
		r.json(t, &eb)
		if r.Status != c.status || !strings.Contains(eb.Error, c.msg) {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	if r := h.post("/v1/events/batch", "text/csv", token, []byte(`[]`)); r.Status != 415 {
		t.Errorf("batch content type: %d", r.Status)
	}
	if r := h.post("/v1/events/batch", "application/json", "", []byte(`[]`)); r.Status != 401 {
		t.Errorf("batch without token: %d", r.Status)
	}
	if n := len(h.streamMsgs()); n != 4 {
		t.Fatalf("stream holds %d messages, want 4", n)
	}
}

// TestNATSDownAndRestarted: while NATS is down every publish answers 503 with Retry-After
// within the publish timeout; once it is back, ingest recovers by itself.
func TestNATSDownAndRestarted(t *testing.T) {
	h := start(t)
	if r := h.event(seedEvent(t)); r.Status != 202 {
		t.Fatalf("before: %d", r.Status)
	}
	h.nats.Shutdown()
	for i := 0; i < 3; i++ {
		began := time.Now()
		r := h.event(seedEvent(t))
		took := time.Since(began)
		if r.Status != 503 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("while down: %d %v %s", r.Status, r.Header, r.Body)
		}
		var eb struct {
			Error string
			ID    string
		}
		r.json(t, &eb)
		if eb.ID == "" || !strings.Contains(eb.Error, "retry") {
			t.Fatalf("503 body %s", r.Body)
		}
		if took > 2*time.Second+time.Second { // publish timeout 2s; a hang would be far longer
			t.Fatalf("503 took %v, more than the publish timeout", took)
		}
		var res []batchItem
		rb := h.post("/v1/events/batch", "application/json", token, []byte("["+string(seedEvent(t))+"]"))
		rb.json(t, &res)
		if rb.Status != 200 || res[0].Status != 503 || rb.Header.Get("Retry-After") == "" {
			t.Fatalf("batch while down: %d %s", rb.Status, rb.Body)
		}
	}
	resp, err := http.Get(h.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("readyz while NATS is down: %d", resp.StatusCode)
	}
	h.nats.Start()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := h.event(seedEvent(t))
		if r.Status == 202 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ingest did not recover after NATS restart: %d %s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.waitReady()
	if n := len(h.streamMsgs()); n < 2 {
		t.Fatalf("stream lost events across the restart: %d", n)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	h := start(t)
	h.event(seedEvent(t))
	h.event([]byte(`{}`))
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/nope": 404} {
		resp, err := http.Get(h.base + path)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("%s: %v %v", path, resp.StatusCode, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !json.Valid(b) {
			t.Fatalf("%s answered non-JSON %s", path, b)
		}
	}
	resp, _ := http.Get(h.base + "/metrics")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, s := range []string{
		`taskhook_ingest_events_total{outcome="accepted",type="task.created"} 1`,
		`taskhook_ingest_events_total{outcome="invalid",type="unknown"} 1`,
		`taskhook_ingest_publish_duration_seconds_count 1`,
		`taskhook_ingest_http_requests_total{code="202",route="/v1/events"} 1`,
		`taskhook_ingest_http_requests_total{code="422",route="/v1/events"} 1`,
	} {
		if !strings.Contains(string(b), s) {
			t.Errorf("metrics lack %s", s)
		}
	}
}

// TestStreamRecreatedWhenLost: a NATS server that comes back without its store (say a new
// pod without a volume) gets the stream declared again by ingest, without a restart.
func TestStreamRecreatedWhenLost(t *testing.T) {
	h := start(t)
	nc, _ := nats.Connect(h.nats.URL)
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(context.Background(), natsx.StreamName); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if r := h.event(seedEvent(t)); r.Status == 202 {
			break
		} else if r.Status != 503 {
			t.Fatalf("unexpected %d %s", r.Status, r.Body)
		}
		if time.Now().After(deadline) {
			t.Fatal("stream not re-created")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	for env, want := range map[string]string{
		"":                              "TASKHOOK_INGEST_TOKENS",
		"TASKHOOK_STREAM_REPLICAS=0":    "TASKHOOK_STREAM_REPLICAS",
		"TASKHOOK_PUBLISH_TIMEOUT=x":    "TASKHOOK_PUBLISH_TIMEOUT",
		"INGEST_ADDR=8080":              "INGEST_ADDR",
		"TASKHOOK_MAX_BATCH_BYTES=2048": "TASKHOOK_MAX_BATCH_BYTES",
		"TASKHOOK_DUPLICATE_WINDOW=-1s": "TASKHOOK_DUPLICATE_WINDOW",
		"TASKHOOK_INGEST_TOKENS= , ":    "TASKHOOK_INGEST_TOKENS",
		"TASKHOOK_STREAM_MAX_AGE=1m":    "TASKHOOK_STREAM_MAX_AGE",
	} {
		environ := []string{"TASKHOOK_INGEST_TOKENS=t"}
		if env == "" {
			environ = nil
		} else {
			environ = append(environ, env)
		}
		_, err := Load(environ)
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: got %v, want one line starting with %s", env, err, want)
		}
	}
}

func TestOpenAPIMatchesTheRoutes(t *testing.T) {
	h := start(t)
	openapitest.Compare(t, OpenAPI, h.routes)
	resp, err := http.Get(h.base + "/openapi.json")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
}
