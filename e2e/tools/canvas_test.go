package tools

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskhook/taskhook/client"
	"github.com/taskhook/taskhook/e2e/proc"
)

// The seed's example Slack message (the Canvas "Task Webhook" Slack integration's README).
const seedSlackText = "📋 New Task Created\nTitle: Follow up with patient\nDue: January 15, 2024 at 10:00 AM\n" +
	"Patient: John Doe (DOB: 05/15/1980, Male)\nCreated by: Dr. Jane Smith\nAssigned to: Nurse Johnson"

// canvasTask is a Canvas task as integrations/canvas/tests/harness.py builds it.
func canvasTask(id, title, due, status, modified string) map[string]any {
	return map[string]any{
		"id": id, "title": title, "due": due, "status": status, "created": "2024-01-10T09:00:00Z", "modified": modified,
		"patient":  map[string]any{"id": "67890", "first_name": "John", "last_name": "Doe", "birth_date": "1980-05-15", "sex_at_birth": "M"},
		"creator":  map[string]any{"id": "11111", "first_name": "Dr. Jane", "last_name": "Smith"},
		"assignee": map[string]any{"id": "22222", "first_name": "Nurse", "last_name": "Johnson"},
	}
}

// canvasPlugin runs the Canvas plugin (integrations/canvas, with its SDK stand-in) under
// python3, one Canvas event a process, as Canvas's plugin runner would; the runs share the
// plugin's cache (a file, as the stand-in keeps it).
type canvasPlugin struct {
	s     *stack
	cache string
}

// run runs the handler for one Canvas event with the stack's ingest settings and returns
// its log lines.
func (p *canvasPlugin) run(t *testing.T, event, target string, task map[string]any) string {
	t.Helper()
	return p.runWith(t, map[string]string{"TASKHOOK_INGEST_URL": p.s.ingestURL, "TASKHOOK_INGEST_TOKEN": ingestToken}, event, target, task)
}

// runWith is run with the plugin's settings given.
func (p *canvasPlugin) runWith(t *testing.T, secrets map[string]string, event, target string, task map[string]any) string {
	t.Helper()
	root, err := proc.Root()
	if err != nil {
		t.Fatal(err)
	}
	scenario, _ := json.Marshal(map[string]any{"event": event, "target": target, "task": task, "secrets": secrets})
	path := filepath.Join(t.TempDir(), "scenario.json")
	if err := os.WriteFile(path, scenario, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", filepath.Join(root, "integrations", "canvas", "tests", "run_handler.py"), path)
	cmd.Env = append(os.Environ(), "CANVAS_STANDIN_CACHE="+p.cache, "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("plugin %s %s: %v\n%s", event, target, err, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"accepted": true`) {
		t.Fatalf("plugin did not accept %s: %s", event, stdout.String())
	}
	logs := stderr.String()
	for _, phi := range []string{"John", "Doe", "1980", "Follow up"} {
		if strings.Contains(logs, phi) {
			t.Errorf("the plugin logged patient data (%q):\n%s", phi, logs)
		}
	}
	return logs
}

// bodies is an HTTP receiver that records each body and answers 200 "ok", as Slack does.
type bodies struct {
	srv *httptest.Server
	mu  sync.Mutex
	got [][]byte
}

func newBodies(t *testing.T) *bodies {
	b := &bodies{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.got = append(b.got, body)
		b.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *bodies) all() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]byte(nil), b.got...)
}

// reminders counts the generic deliveries per "task_id event".
func (b *bodies) reminders() map[string]int {
	n := map[string]int{}
	for _, body := range b.all() {
		var env struct {
			Data struct {
				TaskID string `json:"task_id"`
				Event  string `json:"event"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &env)
		n[env.Data.TaskID+" "+env.Data.Event]++
	}
	return n
}

// TestCanvasPlugin: the Canvas plugin's handler (python3, integrations/canvas) publishes to the
// real bin/ingest; bin/dispatcher delivers to a Slack webhook created through the admin API,
// which gets exactly the seed's message once although Canvas ran the handler twice for the
// same event; a task the plugin reports completed before its due date gets no overdue
// reminder, while an open task due at the same time does; a task created while ingest is down
// is held by the plugin and sent by its retry task once ingest is back.
func TestCanvasPlugin(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is needed for the Canvas plugin's test: ", err)
	}
	s := newStack(t, "TASKHOOK_DUE_EVENTS=derive", "TASKHOOK_POLL_INTERVAL=50ms")
	plugin := &canvasPlugin{s: s, cache: filepath.Join(t.TempDir(), "plugin-cache.json")}
	ctx := context.Background()
	adm := s.admin(t)
	slack, hook := newBodies(t), newBodies(t)
	if _, err := adm.CreateWebhook(ctx, client.WebhookInput{Name: client.Ptr("care team channel"), Provider: client.Ptr("slack"),
		URL: client.Ptr(slack.srv.URL + "/services/T1/B1/x"), Events: []string{"task.created"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateWebhook(ctx, client.WebhookInput{Name: client.Ptr("reminders"), URL: client.Ptr(hook.srv.URL + "/hook"),
		Events: []string{"task.due", "task.overdue"}}); err != nil {
		t.Fatal(err)
	}

	// The seed task, created in Canvas; the plugin call is retried (Canvas ran it twice).
	seed := canvasTask("12345", "Follow up with patient", "2024-01-15T10:00:00Z", "OPEN", "2024-01-10T09:00:00Z")
	// First with a token ingest does not know: refused, logged with ingest's message, nothing stored.
	wrong := map[string]string{"TASKHOOK_INGEST_URL": s.ingestURL + "/", "TASKHOOK_INGEST_TOKEN": "not-a-token"}
	if logs := plugin.runWith(t, wrong, "TASK_CREATED", "12345", seed); !strings.Contains(logs, "Taskhook ingest refused TASK_CREATED for task 12345") ||
		!strings.Contains(logs, "with 401 (check TASKHOOK_INGEST_TOKEN): ") {
		t.Fatalf("wrong token: %s", logs)
	}
	if logs := plugin.run(t, "TASK_CREATED", "12345", seed); !strings.Contains(logs, "Taskhook accepted TASK_CREATED for task 12345") {
		t.Fatalf("first call: %s", logs)
	}
	if logs := plugin.run(t, "TASK_CREATED", "12345", seed); !strings.Contains(logs, "Taskhook already had TASK_CREATED for task 12345") {
		t.Fatalf("retried call: %s", logs)
	}
	waitFor(t, 20*time.Second, "the Slack message", func() bool { return len(slack.all()) > 0 })
	// Its due date passed long ago and it is open: overdue at once.
	waitFor(t, 20*time.Second, "the seed task's overdue reminder", func() bool { return hook.reminders()["12345 overdue"] > 0 })

	// Two tasks due in a few seconds; the plugin reports one of them completed before then.
	due := time.Now().UTC().Add(6 * time.Second).Truncate(time.Second)
	dueText := due.Format(time.RFC3339)
	created := time.Now().UTC().Format(time.RFC3339)
	plugin.run(t, "TASK_CREATED", "T-open", canvasTask("T-open", "Call the lab", dueText, "OPEN", created))
	plugin.run(t, "TASK_CREATED", "T-done", canvasTask("T-done", "Send the referral", dueText, "OPEN", created))
	done := canvasTask("T-done", "Send the referral", dueText, "COMPLETED", time.Now().UTC().Add(time.Second).Format(time.RFC3339))
	if logs := plugin.run(t, "TASK_COMPLETED", "T-done", done); !strings.Contains(logs, "Taskhook accepted TASK_COMPLETED for task T-done") {
		t.Fatalf("completed: %s", logs)
	}
	if time.Now().After(due) {
		t.Fatal("the plugin calls took longer than the due date's margin")
	}
	waitFor(t, 30*time.Second, "the open task's overdue reminder", func() bool { return hook.reminders()["T-open overdue"] > 0 })
	time.Sleep(2 * time.Second) // the completed task's reminder, were it not cancelled, would have come by now
	if r := hook.reminders(); r["T-done overdue"] != 0 || r["T-open overdue"] != 1 || r["12345 overdue"] != 1 {
		t.Errorf("overdue reminders %v: want one for T-open and 12345, none for the completed T-done", r)
	}

	// Taskhook's ingest is down: the plugin answers Canvas at once and holds the event; the
	// retry task (Canvas's CRON event, every minute) sends it once ingest is back.
	if err := s.ingest.Stop(10 * time.Second); err != nil {
		t.Logf("ingest stopped: %v", err)
	}
	start := time.Now()
	late := canvasTask("T-late", "Renew the prescription", "", "OPEN", created)
	if logs := plugin.run(t, "TASK_CREATED", "T-late", late); !strings.Contains(logs, "to TASK_CREATED for task T-late") ||
		!strings.Contains(logs, "held: the plugin's retry task sends it again every minute") {
		t.Fatalf("during the outage: %s", logs)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the plugin held Canvas for %s while ingest was down", took)
	}
	if logs := plugin.run(t, "CRON", time.Now().UTC().Truncate(time.Minute).Format(time.RFC3339), nil); !strings.Contains(logs, "Taskhook ingest still did not answer (no connection") ||
		!strings.Contains(logs, "1 events stay held") {
		t.Fatalf("retry task during the outage: %s", logs)
	}
	if err := s.ingest.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := s.ingest.WaitHTTP(s.ingestURL+"/readyz", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if logs := plugin.run(t, "CRON", time.Now().UTC().Truncate(time.Minute).Format(time.RFC3339), nil); !strings.Contains(logs, "Taskhook accepted TASK_CREATED for task T-late") {
		t.Fatalf("retry task after the outage: %s", logs)
	}
	waitFor(t, 20*time.Second, "the held task's Slack message", func() bool { return len(slack.all()) >= 4 })
	if logs := plugin.run(t, "CRON", time.Now().UTC().Truncate(time.Minute).Format(time.RFC3339), nil); strings.Contains(logs, "Taskhook") {
		t.Errorf("the retry task sent again what ingest had accepted: %s", logs)
	}

	var seedMessages int
	for _, b := range slack.all() {
		var m struct {
			Text   string `json:"text"`
			Blocks []struct {
				Type string `json:"type"`
				Text struct{ Text string }
			} `json:"blocks"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("slack body %s: %v", b, err)
		}
		if strings.Contains(m.Text, "Follow up with patient") {
			seedMessages++
			if m.Text != seedSlackText {
				t.Errorf("slack text:\n%s\nwant:\n%s", m.Text, seedSlackText)
			}
			if len(m.Blocks) == 0 || m.Blocks[0].Type != "header" || m.Blocks[0].Text.Text != "📋 New Task Created" {
				t.Errorf("slack blocks %s", b)
			}
		}
	}
	if n := len(slack.all()); seedMessages != 1 || n != 4 {
		t.Errorf("slack got %d messages, %d of them the seed's: want 4 (one per created task), the seed's once", n, seedMessages)
	}
}
