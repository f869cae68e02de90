package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fhirStore is a FHIR server keeping the last Task per identifier, whose first attempt at
// creating task T-1 fails (500); it records the order in which each Task's versions were
// applied and how many requests of one task were in flight at once.
type fhirStore struct {
	*httptest.Server
	mu        sync.Mutex
	applied   map[string][]string // identifier → descriptions, in the order applied
	inflight  map[string]int
	overlap   int // requests of a task that overlapped another of the same task
	failFirst bool
}

func newFHIRStore(t *testing.T) *fhirStore {
	s := &fhirStore{applied: map[string][]string{}, inflight: map[string]int{}, failFirst: true}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var task struct {
			Description string `json:"description"`
			Identifier  []struct {
				Value string `json:"value"`
			} `json:"identifier"`
		}
		_ = json.Unmarshal(b, &task)
		id := task.Identifier[0].Value
		s.mu.Lock()
		s.inflight[id]++
		if s.inflight[id] > 1 {
			s.overlap++
		}
		fail := s.failFirst && id == "T-1"
		s.failFirst = s.failFirst && id != "T-1"
		s.mu.Unlock()
		time.Sleep(20 * time.Millisecond) // long enough for a racing attempt to overlap
		s.mu.Lock()
		s.inflight[id]--
		if !fail {
			s.applied[id] = append(s.applied[id], task.Description)
		}
		s.mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *fhirStore) state() (map[string][]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for k, v := range s.applied {
		out[k] = append([]string(nil), v...)
	}
	return out, s.overlap
}

// TestOrderedDelivery: a FHIR webhook (ordering "subject" by default) whose receiver fails the
// first attempt of a task's created still ends with every update applied in stream order, one
// at a time; another task is not held back meanwhile.
func TestOrderedDelivery(t *testing.T) {
	h := start(t)
	emr := newFHIRStore(t)
	r := h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "EMR", "url": emr.URL + "/fhir", "provider": "fhir",
		"options": map[string]any{"identifier_system": "urn:oid:1.2.3.4"}})
	if r.Status != 201 || !strings.Contains(string(r.Body), `"ordering":"subject"`) {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var wh webhookView
	r.decode(t, &wh)
	ev := func(task, name, title string) string {
		return fmt.Sprintf(`{"event_id":"%s-%s","task_id":%q,"event":%q,"title":%q,"status":"open"}`, task, title, task, name, title)
	}
	h.publish(ev("T-1", "created", "v1"))
	for i := 2; i <= 5; i++ {
		h.publish(ev("T-1", "updated", fmt.Sprintf("v%d", i)))
	}
	h.publish(ev("T-2", "created", "w1"))
	eventually(t, 20*time.Second, "every version applied", func() bool {
		s, _ := emr.state()
		return len(s["T-1"]) == 5 && len(s["T-2"]) == 1
	})
	s, overlap := emr.state()
	if strings.Join(s["T-1"], ",") != "v1,v2,v3,v4,v5" || overlap != 0 {
		t.Fatalf("T-1 applied %v, %d overlapping requests", s["T-1"], overlap)
	}
	var ds []delivery
	eventually(t, 10*time.Second, "six deliveries succeeded", func() bool {
		ds = h.deliveries(wh.ID)
		ok := len(ds) == 6
		for _, d := range ds {
			ok = ok && d.Status == "succeeded"
		}
		return ok
	})
	var first delivery
	for _, d := range ds {
		if d.EventID == "T-1-v1" {
			first = d
		}
	}
	if first.Attempts != 2 {
		t.Fatalf("the failed create: %+v", first)
	}

	// ordering none: the same receiver gets the events as they come (no gate), and a bad value is 422.
	if r := h.do("PATCH", "/v1/webhooks/"+wh.ID, adminToken, map[string]any{"ordering": "none"}); r.Status != 200 || !strings.Contains(string(r.Body), `"ordering":"none"`) {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	if r := h.do("PATCH", "/v1/webhooks/"+wh.ID, adminToken, map[string]any{"ordering": "sometimes"}); r.Status != 422 || !strings.Contains(string(r.Body), "/ordering") {
		t.Fatalf("bad ordering: %d %s", r.Status, r.Body)
	}
	var n int
	if err := h.db.Get(&n, `SELECT count(*) FROM deliveries WHERE webhook_id = $1 AND order_key = 'task:T-1'`, wh.ID); err != nil || n != 5 {
		t.Fatalf("%d ordered rows of T-1 (%v)", n, err)
	}
}
