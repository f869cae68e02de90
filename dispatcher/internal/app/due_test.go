package app

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// canvasTask is a Canvas task event (no type, no status: open) due at due, titled after its id.
func canvasTask(id, event string, due time.Time, extra string) string {
	return fmt.Sprintf(`{"task_id":%q,"event":%q,"title":"Call back %s","due_date":%q,`+
		`"patient":{"id":"67890","first_name":"John","last_name":"Doe"}%s}`, id, event, id, due.UTC().Format(time.RFC3339Nano), extra)
}

// reminders counts the Slack messages received by header and task ("Task Due T-1").
func reminders(t *testing.T, reqs []received) map[string]int {
	out := map[string]int{}
	for _, r := range reqs {
		var m struct {
			Text string
		}
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatalf("not a Slack message: %s", r.Body)
		}
		lines := strings.Split(m.Text, "\n")
		task := ""
		for _, l := range lines {
			if rest, ok := strings.CutPrefix(l, "Title: Call back "); ok {
				task = rest
			}
		}
		out[lines[0]+" "+task]++
	}
	return out
}

// TestDueAndOverdueDerived: a Canvas task created with a due date seconds ahead, and nothing
// else sent, yields one task.due at once (its due day has begun) and one task.overdue when the
// date passes, rendered "Task Due" and "Task Overdue"; a task completed before its due date
// gets no overdue; a publisher's own task.due suppresses the derived one; GET /v1/tasks shows
// it all.
func TestDueAndOverdueDerived(t *testing.T) {
	h := start(t, "TASKHOOK_DUE_EVENTS=derive")
	slack := newReceiver(t, answer{status: 200, body: "ok"})
	h.createWebhook(map[string]any{"url": slack.URL + "/services/T0/B0/x", "provider": "slack", "events": []string{"task.due", "task.overdue"},
		"rate_limit_per_second": 100})
	due := time.Now().Add(3 * time.Second)
	// T-3: the publisher sends its own task.due first: once Taskhook has seen it, it must not
	// add one. (Batches are processed concurrently: an own task.due consumed after Taskhook's
	// fired is delivered too.)
	h.publish(`{"task_id":"T-3","event":"due","title":"Call back T-3","due_date":"` + due.UTC().Format(time.RFC3339Nano) + `"}`)
	for end := time.Now().Add(10 * time.Second); h.do("GET", "/v1/tasks/T-3", viewerToken, nil).Status != 200; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the publisher's task.due was not recorded")
		}
	}
	h.publish(canvasTask("T-1", "created", due, ""))
	h.publish(canvasTask("T-2", "created", due, ""))
	h.publish(canvasTask("T-3", "created", due, ""))
	waitUntil := func(what string, within time.Duration, cond func(map[string]int) bool) map[string]int {
		t.Helper()
		for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if got := reminders(t, slack.requests()); cond(got) {
				return got
			}
		}
		t.Fatalf("%s: got %v", what, reminders(t, slack.requests()))
		return nil
	}
	waitUntil("T-1's and T-3's task.due", 10*time.Second, func(m map[string]int) bool { return m["Task Due T-1"] == 1 && m["Task Due T-3"] == 1 })
	// T-2 is completed before its due date (its task.due may have fired: its day had begun).
	h.publish(canvasTask("T-2", "updated", due, `,"status":"completed"`))

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
	// The scheduler marks a reminder fired after publishing it: its message can reach Slack first.
	r := h.do("GET", "/v1/tasks/T-1", viewerToken, nil)
	r.decode(t, &v)
	for end := time.Now().Add(5 * time.Second); r.Status == 200 && v.Due.State != "fired" && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
		r = h.do("GET", "/v1/tasks/T-1", viewerToken, nil)
		r.decode(t, &v)
	}
	if r.Status != 200 || v.Status != "open" || v.Due.State != "fired" || v.Overdue.State != "scheduled" || v.Overdue.FireAt == nil ||
		v.Overdue.FireAt.Sub(due).Abs() > time.Microsecond || !strings.HasPrefix(v.Due.EventID, "taskhook-due-") || strings.Contains(string(r.Body), "John") {
		t.Fatalf("task view: %d %s", r.Status, r.Body)
	}
	waitUntil("the task.overdue of T-1 and T-3", 15*time.Second, func(m map[string]int) bool { return m["Task Overdue T-1"] == 1 && m["Task Overdue T-3"] == 1 })
	time.Sleep(time.Second) // nothing more may follow
	got := reminders(t, slack.requests())
	if got["Task Due T-1"] != 1 || got["Task Due T-3"] != 1 || got["Task Overdue T-1"] != 1 || got["Task Overdue T-3"] != 1 ||
		got["Task Overdue T-2"] != 0 || got["Task Due T-2"] > 1 {
		t.Fatalf("reminders: %v", got)
	}
	h.do("GET", "/v1/tasks/T-2", viewerToken, nil).decode(t, &v)
	if v.Status != "completed" || v.Overdue.State != "cancelled" || v.NextFireAt != nil {
		t.Fatalf("completed task: %+v", v)
	}
	h.do("GET", "/v1/tasks/T-3", viewerToken, nil).decode(t, &v)
	if v.Due.State != "fired" || v.Overdue.State != "fired" {
		t.Fatalf("T-3: %+v", v)
	}
	if r := h.do("GET", "/v1/tasks/nope", viewerToken, nil); r.Status != 404 {
		t.Fatalf("unknown task: %d", r.Status)
	}
	if n := h.metric("taskhook_due_fired_total", `kind="overdue"`); n != 2 {
		t.Fatalf("overdue fired %v times", n)
	}
	if n := h.metric("taskhook_due_fired_total", `kind="due"`); n != 1+float64(got["Task Due T-2"]) {
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
