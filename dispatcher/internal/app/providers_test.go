package app

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSlackAndTeams(t *testing.T) {
	h := start(t)
	sl := newReceiver(t, answer{status: 200, body: "ok"})
	red := newReceiver(t, answer{status: 200, body: "ok"})
	tm := newReceiver(t, answer{status: 202})
	gone := newReceiver(t, answer{status: 404, body: "channel_is_archived"})
	nf := newReceiver(t, answer{status: 404, body: "channel_not_found"})
	h.createWebhook(map[string]any{"url": sl.URL + "/services/T0/B0/abc", "provider": "slack", "timezone": "America/New_York"})
	h.createWebhook(map[string]any{"url": red.URL + "/services/T0/B1/abc", "provider": "slack", "redact": true})
	h.createWebhook(map[string]any{"url": tm.URL + "/workflows/x", "provider": "teams"})
	whGone := h.createWebhook(map[string]any{"url": gone.URL, "provider": "slack"})
	whNF := h.createWebhook(map[string]any{"url": nf.URL, "provider": "slack"})
	h.publish(seed(t))

	var s struct {
		Text   string
		Blocks []struct{ Type string }
	}
	_ = json.Unmarshal(sl.waitFor(t, 1, 10*time.Second)[0].Body, &s)
	if !strings.Contains(s.Text, "📋 New Task Created\nTitle: Follow up with patient\nDue: January 15, 2024 at 5:00 AM\nPatient: John Doe (DOB: 05/15/1980, Male)") ||
		len(s.Blocks) != 2 {
		t.Fatalf("slack body %+v", s)
	}
	redBody := string(red.waitFor(t, 1, 10*time.Second)[0].Body)
	if !strings.Contains(redBody, "Patient: 67890") || strings.Contains(redBody, "John Doe") || strings.Contains(redBody, "1980") {
		t.Fatalf("redacted slack body %s", redBody)
	}
	var tb struct {
		Type        string
		Attachments []struct {
			Content struct {
				Version string
				Body    []map[string]any
			}
		}
	}
	_ = json.Unmarshal(tm.waitFor(t, 1, 10*time.Second)[0].Body, &tb)
	if tb.Type != "message" || tb.Attachments[0].Content.Version != "1.4" || tb.Attachments[0].Content.Body[0]["color"] != "Good" {
		t.Fatalf("teams body %+v", tb)
	}
	d := h.waitDelivery(whGone.ID, "failed", 10*time.Second)
	var v webhookView
	h.do("GET", "/v1/webhooks/"+whGone.ID, adminToken, nil).decode(t, &v)
	if !strings.Contains(d.LastError, "channel_is_archived") || v.Active {
		t.Fatalf("archived channel: %+v, active %v", d, v.Active)
	}
	if d := h.waitDelivery(whNF.ID, "failed", 10*time.Second); d.LastError != "slack: channel_not_found" || d.Attempts != 1 {
		t.Fatalf("channel_not_found: %+v", d)
	}
	if r := h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "x", "url": sl.URL, "provider": "slack", "options": map[string]any{"x": 1}}); r.Status != 422 {
		t.Fatalf("slack options: %d", r.Status)
	}
	var sv struct {
		URL                string   `json:"url"`
		RateLimitPerSecond *float64 `json:"rate_limit_per_second"`
	}
	h.do("GET", "/v1/webhooks", adminToken, nil)
	r := h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "y", "url": sl.URL + "/services/T0/B0/SECRETTOKEN42", "provider": "slack"})
	r.decode(t, &sv)
	if strings.Contains(string(r.Body), "SECRETTOKEN") || !strings.HasSuffix(sv.URL, "EN42") {
		t.Fatalf("slack URL not masked: %s", r.Body)
	}
}

// smartFHIR plays an EMR: a SMART token endpoint and a FHIR server with conditional create that
// accepts only the tokens it issued (and rejects the first one once, as if revoked).
type smartFHIR struct {
	*httptest.Server
	mu        sync.Mutex
	issued    map[string]bool
	tokens    int
	revoked   string
	tasks     map[string][]byte
	posts     []*http.Request
	rejectOne bool
}

func newSmartFHIR(t *testing.T) *smartFHIR {
	s := &smartFHIR{issued: map[string]bool{}, tasks: map[string][]byte{}, rejectOne: true}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch r.URL.Path {
		case "/oauth2/token":
			_ = r.ParseForm()
			if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("client_assertion") == "" {
				w.WriteHeader(400)
				return
			}
			s.tokens++
			tok := fmt.Sprintf("access-%d", s.tokens)
			s.issued[tok] = true
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":300}`, tok)
		case "/api/FHIR/R4/Task":
			tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !s.issued[tok] || tok == s.revoked {
				w.WriteHeader(401)
				return
			}
			if s.rejectOne {
				s.rejectOne, s.revoked = false, tok
				w.WriteHeader(401)
				return
			}
			s.posts = append(s.posts, r)
			b, _ := io.ReadAll(r.Body)
			if r.Method == "PUT" { // conditional update on ?identifier=: replace, or create
				_, existed := s.tasks[r.URL.RawQuery]
				s.tasks[r.URL.RawQuery] = b
				w.WriteHeader(map[bool]int{true: 200, false: 201}[existed])
				return
			}
			key := r.Header.Get("If-None-Exist") // conditional create
			if _, ok := s.tasks[key]; ok {
				w.WriteHeader(200)
				return
			}
			s.tasks[key] = b
			w.WriteHeader(201)
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestFHIRWithSMARTBackendAuth(t *testing.T) {
	h := start(t)
	emr := newSmartFHIR(t)
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	body := map[string]any{"name": "EMR", "url": emr.URL + "/api/FHIR/R4", "provider": "fhir", "options": map[string]any{"identifier_system": "urn:oid:1.2.3.4"},
		"auth": map[string]any{"type": "smart_backend", "client_id": "taskhook", "token_url": emr.URL + "/oauth2/token",
			"private_key_pem": keyPEM, "key_id": "k1", "scope": "system/Task.write"}}
	r := h.do("POST", "/v1/webhooks", adminToken, body)
	if r.Status != 201 || strings.Contains(string(r.Body), "PRIVATE KEY") || !strings.Contains(string(r.Body), `"client_id":"taskhook"`) {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var wh webhookView
	r.decode(t, &wh)
	h.publish(seed(t))
	d := h.waitDelivery(wh.ID, "succeeded", 10*time.Second)
	h.publish(strings.Replace(seed(t), `"event": "created"`, `"event": "updated"`, 1)) // the same task again
	eventually(t, 10*time.Second, "second event delivered", func() bool { return len(h.deliveries(wh.ID)) == 2 && h.deliveries(wh.ID)[1].Status == "succeeded" })
	emr.mu.Lock()
	defer emr.mu.Unlock()
	// The first token was revoked by the server (401): dropped, a new one fetched, the same
	// attempt succeeded; the second delivery reused the cached token.
	if emr.tokens != 2 || len(emr.posts) != 2 || d.Attempts != 1 {
		t.Fatalf("%d tokens, %d posts, attempts %d", emr.tokens, len(emr.posts), d.Attempts)
	}
	if len(emr.tasks) != 1 {
		t.Fatalf("%d Tasks created for one task id", len(emr.tasks))
	}
	// The created task: a conditional create; the updated one: a conditional update of it.
	if p := emr.posts[0]; p.Method != "POST" || p.Header.Get("Content-Type") != "application/fhir+json" || p.Header.Get("If-None-Exist") != "identifier=urn%3Aoid%3A1.2.3.4|12345" {
		t.Fatalf("created: %s %v", p.Method, p.Header)
	}
	if p := emr.posts[1]; p.Method != "PUT" || p.Header.Get("Content-Type") != "application/fhir+json" || p.URL.RawQuery != "identifier=urn%3Aoid%3A1.2.3.4|12345" {
		t.Fatalf("updated: %s %s %v", p.Method, p.URL, p.Header)
	}
	for _, task := range emr.tasks {
		var m map[string]any
		_ = json.Unmarshal(task, &m)
		if m["resourceType"] != "Task" || m["description"] != "Follow up with patient" || m["for"].(map[string]any)["reference"] != "Patient/67890" ||
			m["businessStatus"].(map[string]any)["text"] != "updated" {
			t.Fatalf("task %s", task)
		}
	}
	bad := map[string]any{"url": emr.URL + "/api/FHIR/R4", "provider": "fhir", "auth": map[string]any{"type": "smart_backend", "client_id": "c",
		"token_url": emr.URL + "/t", "private_key_pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "key_id": "k"}}
	if r := h.do("POST", "/v1/webhooks", adminToken, bad); r.Status != 422 || !strings.Contains(string(r.Body), "/auth/private_key_pem") {
		t.Fatalf("bad key: %d %s", r.Status, r.Body)
	}
}

func TestTemplatedWebhook(t *testing.T) {
	h := start(t)
	rcv := newReceiver(t)
	tmpl := `{"summary": {{ json .event.title }}, "who": {{ json (join " " .event.patient.first_name .event.patient.last_name) }}, ` +
		`"due": {{ json (date "Jan 2 15:04" .event.due_date) }}, "kind": {{ json .type }}, "hook": {{ json .webhook.name }}}`
	wh := h.createWebhook(map[string]any{"url": rcv.URL, "name": "Desk", "template": tmpl, "timezone": "Europe/Paris", "auth": map[string]any{"type": "hmac"}})
	h.publish(seed(t))
	got := rcv.waitFor(t, 1, 10*time.Second)[0]
	var b map[string]string
	if err := json.Unmarshal(got.Body, &b); err != nil {
		t.Fatalf("%s", got.Body)
	}
	if b["summary"] != "Follow up with patient" || b["who"] != "John Doe" || b["due"] != "Jan 15 11:00" || b["kind"] != "task.created" || b["hook"] != "Desk" {
		t.Fatalf("%v", b)
	}
	if got.Header.Get("webhook-signature") == "" || got.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers and signing must stay: %v", got.Header)
	}
	h.waitDelivery(wh.ID, "succeeded", 5*time.Second)
	// An execution error fails at once, with the reason.
	bad := h.createWebhook(map[string]any{"url": rcv.URL, "template": `{{ .event.assignee.team.name }}`, "template_content_type": "text/plain"})
	if r := h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "x", "url": rcv.URL, "template": "{{ .event.title "}); r.Status != 422 {
		t.Fatalf("parse error: %d", r.Status)
	}
	h.publish(taskEvent("t2", "due", ""))
	if d := h.waitDelivery(bad.ID, "failed", 10*time.Second); d.Attempts != 1 || !strings.Contains(d.LastError, "template") {
		t.Fatalf("%+v", d)
	}
}

func TestRateLimitNeverDelaysOthers(t *testing.T) {
	h := start(t)
	slow, fast := newReceiver(t), newReceiver(t)
	h.createWebhook(map[string]any{"url": slow.URL, "rate_limit_per_second": 4})
	h.createWebhook(map[string]any{"url": fast.URL})
	begin := time.Now()
	for i := 0; i < 8; i++ {
		h.publish(taskEvent(fmt.Sprintf("rl-%d", i), "due", ""))
	}
	fastDone := fast.waitFor(t, 8, 10*time.Second)
	slowDone := slow.waitFor(t, 8, 15*time.Second)
	fastTook := fastDone[7].At.Sub(begin)
	slowSpan := slowDone[7].At.Sub(slowDone[0].At)
	if slowSpan < 1500*time.Millisecond {
		t.Fatalf("8 deliveries at 4/s took %v, faster than the rate", slowSpan)
	}
	if fastTook > slowSpan {
		t.Fatalf("the unlimited webhook (%v) waited behind the limited one (%v)", fastTook, slowSpan)
	}
	var v struct {
		RateLimitPerSecond *float64 `json:"rate_limit_per_second"`
	}
	h.do("GET", "/v1/webhooks", adminToken, nil)
	r := h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "s", "url": slow.URL, "provider": "slack"})
	r.decode(t, &v)
	if v.RateLimitPerSecond != nil {
		t.Fatalf("slack default must not be stored as an explicit rate: %s", r.Body)
	}
}

// TestRateLimitedBacklogWaitsInPostgres: a burst far beyond a webhook's rate keeps its overflow
// in PostgreSQL, due about when the webhook's lane will have drained, rather than being claimed
// and released again every poll.
func TestRateLimitedBacklogWaitsInPostgres(t *testing.T) {
	h := start(t, "TASKHOOK_LEASE=60s")
	rcv := newReceiver(t)
	wh := h.createWebhook(map[string]any{"url": rcv.URL, "rate_limit_per_second": 2})
	for i := 0; i < 200; i++ {
		h.publish(taskEvent(fmt.Sprintf("burst-%03d", i), "due", ""))
	}
	eventually(t, 10*time.Second, "all 200 deliveries recorded", func() bool { return len(h.deliveries(wh.ID)) == 200 })
	var later int
	_ = h.db.Get(&later, `SELECT count(*) FROM deliveries WHERE webhook_id = $1 AND due_at > now() + interval '10 seconds' AND lease_token IS NULL`, wh.ID)
	if later < 100 {
		t.Fatalf("%d of the overflow wait beyond 10 s; the lane holds about a minute of work at 2/s", later)
	}
	claimsBefore := h.metric("taskhook_dispatch_claim_duration_seconds_count")
	time.Sleep(2 * time.Second)
	var churn int
	_ = h.db.Get(&churn, `SELECT count(*) FROM deliveries WHERE webhook_id = $1 AND updated_at > now() - interval '2 seconds' AND status = 'pending' AND lease_token IS NULL`, wh.ID)
	if churn > 10 {
		t.Fatalf("%d waiting deliveries were touched in the last 2 s: claimed and released again", churn)
	}
	if got := len(rcv.requests()); got > 15 {
		t.Fatalf("%d requests in about 3 s at 2/s", got)
	}
	t.Logf("claims during 2 s: %.0f; waiting beyond 10 s: %d", h.metric("taskhook_dispatch_claim_duration_seconds_count")-claimsBefore, later)
}
