package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// reminderSink is a generic receiver that records, per (task, event), the event ids and
// webhook-ids it received.
type reminderSink struct {
	*capture
	mu    sync.Mutex
	byKey map[string]map[string]string // "T-3 overdue" -> event id -> webhook-id
}

func newReminderSink(t *testing.T) *reminderSink {
	s := &reminderSink{byKey: map[string]map[string]string{}}
	s.capture = newCapture(t, func(w http.ResponseWriter, r *http.Request, b []byte) bool {
		var env struct {
			Data struct {
				EventID string `json:"event_id"`
				TaskID  string `json:"task_id"`
				Event   string `json:"event"`
			} `json:"data"`
		}
		_ = json.Unmarshal(b, &env)
		key := env.Data.TaskID + " " + env.Data.Event
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.byKey[key] == nil {
			s.byKey[key] = map[string]string{}
		}
		if prev, ok := s.byKey[key][env.Data.EventID]; ok && prev != r.Header.Get("webhook-id") {
			t.Errorf("%s delivered again under another webhook-id", key)
		}
		s.byKey[key][env.Data.EventID] = r.Header.Get("webhook-id")
		return false
	})
	return s
}

func (s *reminderSink) count(event string, tasks int) (complete bool, distinct int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	complete = true
	for i := range tasks {
		n := len(s.byKey[fmt.Sprintf("R-%02d %s", i, event)])
		distinct += n
		complete = complete && n >= 1
	}
	return complete, distinct
}

// TestRemindersExactlyOnceAcrossCrashAndReplicas: Canvas tasks created with a due date seconds
// ahead (nothing else sent) yield, through bin/ingest and bin/dispatcher, one task.due at once
// and one task.overdue when the date passes, although a dispatcher is killed (kill -9) just
// before the due date and restarted after it: beside a second replica, and alone. A Slack
// webhook renders them "Task Due" and "Task Overdue".
func TestRemindersExactlyOnceAcrossCrashAndReplicas(t *testing.T) {
	for _, replicas := range []int{2, 1} {
		t.Run(fmt.Sprintf("%d replicas", replicas), func(t *testing.T) { remindersAcrossCrash(t, replicas) })
	}
}

func remindersAcrossCrash(t *testing.T, replicas int) {
	s := newStack(t, "TASKHOOK_DUE_EVENTS=derive", "TASKHOOK_POLL_INTERVAL=50ms")
	s.startDispatcher()
	if replicas == 2 {
		s.startReplica()
	}
	s.startIngest()
	hook := newReminderSink(t)
	slack := newCapture(t, nil)
	s.createWebhook(map[string]any{"name": "reminders", "url": hook.URL, "events": []string{"task.due", "task.overdue"}})
	s.createWebhook(map[string]any{"name": "care team", "url": slack.URL + "/services/T1/B1/x", "provider": "slack",
		"events": []string{"task.due", "task.overdue"}, "rate_limit_per_second": 1000})
	const tasks = 20
	due := time.Now().Add(5 * time.Second)
	var events []map[string]any
	for i := range tasks {
		events = append(events, map[string]any{"task_id": fmt.Sprintf("R-%02d", i), "event": "created", "title": "Call the patient back",
			"due_date": due.UTC().Format(time.RFC3339Nano), "patient": map[string]any{"id": "67890"}})
	}
	if ids := s.postBatch(events); len(ids) != tasks {
		t.Fatalf("ingest accepted %d of %d tasks", len(ids), tasks)
	}
	waitUntil(t, 15*time.Second, "every task.due", func() bool { ok, _ := hook.count("due", tasks); return ok })

	time.Sleep(time.Until(due.Add(-500 * time.Millisecond)))
	s.dispatcher.Kill()
	time.Sleep(time.Until(due.Add(time.Second)))
	s.startDispatcher()
	waitUntil(t, 30*time.Second, "every task.overdue", func() bool { ok, _ := hook.count("overdue", tasks); return ok })
	time.Sleep(2 * time.Second) // a second reminder of either kind would have come by now

	for _, kind := range []string{"due", "overdue"} {
		if _, n := hook.count(kind, tasks); n != tasks {
			t.Errorf("%d distinct task.%s events for %d tasks, want exactly one each", n, kind, tasks)
		}
	}
	titles := map[string]map[string]bool{}
	slack.mu.Lock()
	for i, b := range slack.body {
		var m struct {
			Blocks []struct{ Text struct{ Text string } }
		}
		_ = json.Unmarshal(b, &m)
		title := m.Blocks[0].Text.Text
		if titles[title] == nil {
			titles[title] = map[string]bool{}
		}
		titles[title][slack.reqs[i].Header.Get("webhook-id")] = true
	}
	slack.mu.Unlock()
	if len(titles["Task Due"]) != tasks || len(titles["Task Overdue"]) != tasks || len(titles) != 2 {
		t.Errorf("slack: %d Task Due, %d Task Overdue deliveries (%d titles), want %d each", len(titles["Task Due"]), len(titles["Task Overdue"]), len(titles), tasks)
	}
}
