package faults

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// capture is a receiver that keeps every request and answers with status.
type capture struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
	at   []time.Time
}

func newCapture(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, body []byte) bool) *capture {
	c := &capture{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if handler != nil && handler(w, r, b) {
			return
		}
		c.mu.Lock()
		c.reqs, c.body, c.at = append(c.reqs, r), append(c.body, b), append(c.at, time.Now())
		c.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *capture) first(t *testing.T) (*http.Request, []byte) {
	t.Helper()
	waitUntil(t, 20*time.Second, "a delivery", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.reqs) > 0 })
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reqs[0], c.body[0]
}

// TestProvidersOnTheRealBinaries: Slack, Teams, FHIR (with SMART Backend Services) and a
// templated webhook, created through the admin API of bin/dispatcher, each receive the right
// payload for the seed event posted to bin/ingest.
func TestProvidersOnTheRealBinaries(t *testing.T) {
	s := newStack(t)
	s.startDispatcher()
	s.startIngest()
	slack := newCapture(t, nil)
	teams := newCapture(t, func(w http.ResponseWriter, r *http.Request, b []byte) bool { return false })
	tmpl := newCapture(t, nil)
	var tokens int
	var mu sync.Mutex
	fhir := newCapture(t, func(w http.ResponseWriter, r *http.Request, b []byte) bool {
		if r.URL.Path == "/token" {
			mu.Lock()
			tokens++
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"emr-token","token_type":"Bearer","expires_in":600}`)
			return true
		}
		if r.Header.Get("Authorization") != "Bearer emr-token" {
			w.WriteHeader(401)
			return true
		}
		return false
	})
	key, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	s.createWebhook(map[string]any{"name": "care team channel", "url": slack.URL + "/services/T1/B1/x", "provider": "slack"})
	s.createWebhook(map[string]any{"name": "clinic team", "url": teams.URL + "/workflows/1", "provider": "teams", "events": []string{"task.created", "task.overdue"}})
	s.createWebhook(map[string]any{"name": "EMR", "url": fhir.URL + "/fhir/R4", "provider": "fhir",
		"auth": map[string]any{"type": "smart_backend", "client_id": "taskhook", "token_url": fhir.URL + "/token",
			"private_key_pem": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "key_id": "k1", "scope": "system/Task.write"}})
	s.createWebhook(map[string]any{"name": "custom", "url": tmpl.URL, "template": `{"task": {{ json .event.task_id }}, "title": {{ json .event.title }}, "kind": {{ json .type }}}`})

	root := "../.."
	seed, err := os.ReadFile(root + "/examples/seed-task-created.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	_ = json.Unmarshal(seed, &ev)
	if ids := s.postBatch([]map[string]any{ev}); len(ids) != 1 {
		t.Fatal("ingest did not accept the seed")
	}

	_, b := slack.first(t)
	var sl struct{ Text string }
	_ = json.Unmarshal(b, &sl)
	if sl.Text != "📋 New Task Created\nTitle: Follow up with patient\nDue: January 15, 2024 at 10:00 AM\nPatient: John Doe (DOB: 05/15/1980, Male)\nCreated by: Dr. Jane Smith\nAssigned to: Nurse Johnson" {
		t.Errorf("slack text:\n%s", sl.Text)
	}
	_, b = teams.first(t)
	if !strings.Contains(string(b), `"application/vnd.microsoft.card.adaptive"`) || !strings.Contains(string(b), `"color":"Good"`) ||
		!strings.Contains(string(b), `{"title":"Patient","value":"John Doe (DOB: 05/15/1980, Male)"}`) {
		t.Errorf("teams body %s", b)
	}
	r, b := fhir.first(t)
	var task map[string]any
	_ = json.Unmarshal(b, &task)
	if r.URL.Path != "/fhir/R4/Task" || r.Header.Get("Content-Type") != "application/fhir+json" || task["resourceType"] != "Task" ||
		task["status"] != "requested" || task["intent"] != "order" || r.Header.Get("If-None-Exist") == "" {
		t.Errorf("fhir %s %v %s", r.URL.Path, r.Header, b)
	}
	_, b = tmpl.first(t)
	if string(b) != `{"task": "12345", "title": "Follow up with patient", "kind": "task.created"}` {
		t.Errorf("template body %s", b)
	}
	mu.Lock()
	defer mu.Unlock()
	if tokens != 1 {
		t.Errorf("%d SMART token requests, want 1", tokens)
	}
}
