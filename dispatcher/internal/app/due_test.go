package app

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// canvasTask is a Canvas task event (no type, no status: open) due at due.
func canvasTask(id, event string, due time.Time, extra string) string {
	return fmt.Sprintf(`{"task_id":%q,"event":%q,"title":"Call the patient back","due_date":%q,`+
		`"patient":{"id":"67890","first_name":"John","last_name":"Doe"}%s}`, id, event, due.UTC().Format(time.RFC3339Nano), extra)
}

func slackTitles(t *testing.T, reqs []received) []string {
	var out []string
	for _, r := range reqs {
		var m struct {
			Blocks []struct{ Text struct{ Text string } }
		}
		if err := json.Unmarshal(r.Body, &m); err != nil || len(m.Blocks) == 0 {
			t.Fatalf("not a Slack message: %s", r.Body)
		}
		out = append(out, m.Blocks[0].Text.Text)
	}
	return out
}

// TestDueAndOverdueDerived: a Canvas task created with a due date seconds ahead, and nothing
// else sent, yields one task.due at once (its due day has begun) and one task.overdue when
// the date passes, rendered "Task Due" and "Task Overdue"; a task completed before its due date
// gets no overdue; a publisher's own task.due suppresses the derived one; GET /v1/tasks shows
// it all.
func TestDueAndOverdueDerived(t *testing.T) {
	h := start(t, "TASKHOOK_DUE_EVENTS=derive")
	slack := newReceiver(t, answer{status: 200, body: "ok"})
	h.createWebhook(map[string]any{"url": slack.URL + "/services/T0/B0/x", "provider": "slack", "events": []string{"task.due", "task.overdue"},
		"rate_limit_per_second": 100})
	due := time.Now().Add(3 * time.Second)
	h.publish(canvasTask("T-1", "created", due, ""))
	h.publish(canvasTask("T-2", "created", due, ""))
	h.publish(canvasTask("T-2", "updated", due, `,"status":"completed"`))
	h.publish(canvasTask("T-3", "created", due, ""))
	h.publish(`{"task_id":"T-3","event":"due","title":"Call the patient back","due_date":"` + due.UTC().Format(time.RFC3339Nano) + `"}`)

	// T-1: due at once; T-2: completed, nothing; T-3: the publisher's due, relayed, and ours suppressed.
	got := slack.waitFor(t, 2, 10*time.Second)
	if titles := slackTitles(t, got); strings.Join(titles, ",") != "Task Due,Task Due" {
		t.Fatalf("before the due date: %v", titles)
	}
	var v struct {
		Status  string
		DueDate *time.Time `json:"due_date"`
		Due     struct {
			State   string
			FiredAt *time.Time `json:"fired_at"`
			EventID string     `json:"event_id"`
		}
		Overdue struct {
			State  string
			FireAt *time.Time `json:"fire_at"`
		}
		NextFireAt *time.Time `json:"next_fire_at"`
	}
	r := h.do("GET", "/v1/tasks/T-1", viewerToken, nil)
	r.decode(t, &v)
	if r.Status != 200 || v.Status != "open" || v.Due.State != "fired" || v.Overdue.State != "scheduled" || v.Overdue.FireAt == nil ||
		v.Overdue.FireAt.Sub(due).Abs() > time.Microsecond || !strings.HasPrefix(v.Due.EventID, "taskhook-due-") || strings.Contains(string(r.Body), "John") {
		t.Fatalf("task view: %d %s", r.Status, r.Body)
	}
	got = slack.waitFor(t, 4, 15*time.Second) // T-1 and T-3 overdue
	time.Sleep(time.Second)                   // nothing more may follow
	titles := slackTitles(t, slack.requests())
	if strings.Join(titles[2:], ",") != "Task Overdue,Task Overdue" || len(titles) != 4 {
		t.Fatalf("after the due date: %v", titles)
	}
	for _, rq := range got {
		if !strings.Contains(string(rq.Body), "Call the patient back") {
			t.Errorf("reminder without the task's fields: %s", rq.Body)
		}
	}
	h.do("GET", "/v1/tasks/T-2", viewerToken, nil).decode(t, &v)
	if v.Status != "completed" || v.Due.State != "cancelled" || v.Overdue.State != "cancelled" || v.NextFireAt != nil {
		t.Fatalf("completed task: %+v", v)
	}
	if r := h.do("GET", "/v1/tasks/nope", viewerToken, nil); r.Status != 404 {
		t.Fatalf("unknown task: %d", r.Status)
	}
	if n := h.metric("taskhook_due_fired_total", `kind="overdue"`); n != 2 {
		t.Fatalf("overdue fired %v times", n)
	}
	if n := h.metric("taskhook_due_fired_total", `kind="due"`); n != 1 {
		t.Fatalf("due fired %v times (T-3's came from the publisher)", n)
	}
}

// TestDueEventsOff: with TASKHOOK_DUE_EVENTS=off nothing is derived and the task view says why.
func TestDueEventsOff(t *testing.T) {
	h := start(t)
	hook := newReceiver(t)
	h.createWebhook(map[string]any{"url": hook.URL, "events": []string{"task.*"}})
	h.publish(canvasTask("T-9", "created", time.Now().Add(-time.Hour), ""))
	hook.waitFor(t, 1, 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	if n := len(hook.requests()); n != 1 {
		t.Fatalf("%d deliveries with reminders off", n)
	}
	if r := h.do("GET", "/v1/tasks/T-9", viewerToken, nil); r.Status != 404 || !strings.Contains(string(r.Body), "TASKHOOK_DUE_EVENTS") {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
}
