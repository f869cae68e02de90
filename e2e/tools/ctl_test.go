package tools

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/client"
	"github.com/taskhook/taskhook/pkg/apidoc"
)

// ctl runs bin/taskhookctl against s and returns stdout, stderr and the exit code.
func (s *stack) ctl(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bins, "taskhookctl"), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TASKHOOK_URL=" + s.adminURL, "TASKHOOK_TOKEN=" + adminToken,
		"TASKHOOK_INGEST_URL=" + s.ingestURL, "TASKHOOK_INGEST_TOKEN=" + ingestToken}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		code = xe.ExitCode()
	} else if err != nil {
		t.Fatalf("taskhookctl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// mustCtl runs taskhookctl and fails unless it exits with want.
func (s *stack) mustCtl(t *testing.T, want int, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := s.ctl(t, stdin, args...)
	if code != want {
		t.Fatalf("taskhookctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON (%v):\n%s", err, s)
	}
	return v
}

// TestTaskhookctl is the on-call path with taskhookctl alone, against the real binaries:
// create, test, publish a 5,000-line NDJSON file with bad lines, find the failing webhook, see
// why, fix it, replay the window, follow it with tail; exit codes and --help everywhere.
func TestTaskhookctl(t *testing.T) {
	s := newStack(t)
	dir := t.TempDir()
	rcv := newReceiver(t)

	// --help for every command, and usage errors exit 2.
	for _, c := range [][]string{{}, {"webhooks"}, {"webhooks", "list"}, {"webhooks", "get"}, {"webhooks", "create"}, {"webhooks", "update"},
		{"webhooks", "test"}, {"webhooks", "pause"}, {"webhooks", "resume"}, {"webhooks", "delete"}, {"deliveries"}, {"deliveries", "list"},
		{"deliveries", "get"}, {"deliveries", "retry"}, {"replay"}, {"publish"}, {"tail"}, {"stats"}} {
		if out := s.mustCtl(t, 0, "", append(c, "--help")...); !strings.Contains(out, "Usage:") {
			t.Fatalf("%v --help:\n%s", c, out)
		}
	}
	s.mustCtl(t, 2, "", "webhooks", "get")
	s.mustCtl(t, 2, "", "webhooks", "list", "--nope")
	s.mustCtl(t, 2, "", "stats", "-o", "yaml")
	s.mustCtl(t, 2, "", "replay", "0198a7c0-0000-7000-8000-000000000000")
	if _, errOut, code := s.ctl(t, "", "webhooks", "get", "0198a7c0-0000-7000-8000-000000000000"); code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("get an unknown webhook: exit %d, %s", code, errOut)
	}

	// Create from a file, with a URL that fails (nothing listens there).
	body := filepath.Join(dir, "webhook.json")
	os.WriteFile(body, []byte(`{"name": "Care team desk", "url": "http://127.0.0.1:1/hook", "events": ["task.*"], "auth": {"type": "hmac"}, "max_attempts": 2}`), 0o644)
	w := decodeJSON[client.Webhook](t, s.mustCtl(t, 0, "", "webhooks", "create", "-f", body, "-o", "json"))
	if w.ID == "" || !strings.HasPrefix(w.Auth.Secret, "whsec_") {
		t.Fatalf("created %+v", w)
	}
	rcv.setSecret(w.Auth.Secret)
	if out := s.mustCtl(t, 0, "", "webhooks", "list"); !strings.Contains(out, "Care team desk") || !strings.Contains(out, w.ID) || !strings.Contains(out, "HEALTH") {
		t.Fatalf("list:\n%s", out)
	}
	if out := s.mustCtl(t, 1, "", "webhooks", "test", w.ID); !strings.Contains(out, "ok:") || !strings.Contains(out, "false") {
		t.Fatalf("a test of a failing endpoint:\n%s", out)
	}

	// Publish 5,000 lines: 4,990 valid, 6 schema violations, 2 that are not JSON, 2 that are
	// not objects, and blank lines that are skipped.
	var nd strings.Builder
	bad := 0
	for i := 1; i <= 5000; i++ {
		switch {
		case i%1000 == 7 || i == 4999:
			fmt.Fprintf(&nd, `{"task_id":"T-%d","event":"created"}`+"\n", i) // no title
			bad++
		case i == 10 || i == 2500:
			fmt.Fprintf(&nd, "{not json %d\n", i)
			bad++
		case i == 3000 || i == 3001:
			nd.WriteString("[1, 2]\n")
			bad++
		default:
			fmt.Fprintf(&nd, `{"task_id":"T-%d","event":"created","title":"Task %d"}`+"\n", i, i)
		}
		if i%1500 == 0 {
			nd.WriteString("\n")
		}
	}
	events := filepath.Join(dir, "events.ndjson")
	os.WriteFile(events, []byte(nd.String()), 0o644)
	type summary struct {
		Lines, Accepted, Duplicate, Refused, Batches int
		RefusedFile                                  string `json:"refused_file"`
	}
	start := time.Now()
	sum := decodeJSON[summary](t, s.mustCtl(t, 3, "", "publish", "-f", events, "-o", "json", "--progress"))
	t.Logf("published 5,000 lines in %s", time.Since(start).Round(time.Millisecond))
	if sum.Lines != 5000 || sum.Accepted != 5000-bad || sum.Refused != bad || sum.Duplicate != 0 || sum.Batches != 5 || sum.RefusedFile != events+".refused.ndjson" {
		t.Fatalf("publish summary %+v (want %d refused)", sum, bad)
	}
	type refused struct {
		Line    int
		Status  int
		Error   string
		Details []client.Detail
	}
	f, err := os.Open(sum.RefusedFile)
	if err != nil {
		t.Fatal(err)
	}
	var rs []refused
	for sc := bufio.NewScanner(f); sc.Scan(); {
		rs = append(rs, decodeJSON[refused](t, sc.Text()))
	}
	f.Close()
	lines := map[int]refused{}
	for _, r := range rs {
		lines[r.Line] = r
	}
	// Line numbers count blank lines too: event 2007 is on line 2008, after one blank line.
	if r := lines[2008]; r.Status != 422 || r.Details[0].Path != "/title" {
		t.Fatalf("refused line 2008: %+v (all: %+v)", r, rs)
	}
	if r := lines[7]; r.Status != 422 || len(r.Details) != 1 || r.Details[0].Path != "/title" {
		t.Fatalf("refused line 7: %+v (all: %+v)", r, rs)
	}
	if r := lines[10]; r.Status != 400 {
		t.Fatalf("refused line 10 (not JSON): %+v", r)
	}
	if !slices.IsSortedFunc(rs, func(a, b refused) int { return a.Line - b.Line }) {
		t.Fatalf("refused lines out of order: %+v", rs)
	}
	if len(rs) != bad {
		t.Fatalf("%d refused lines written, want %d", len(rs), bad)
	}
	// The same file again: every valid line is a duplicate, nothing published twice.
	again := decodeJSON[summary](t, s.mustCtl(t, 3, "", "publish", "-f", events, "-o", "json", "--refused", filepath.Join(dir, "again.ndjson")))
	if again.Accepted != 0 || again.Duplicate != 5000-bad || again.Refused != bad {
		t.Fatalf("publish again: %+v", again)
	}
	// A clean file from stdin exits 0; the table says what happened.
	out := s.mustCtl(t, 0, taskEvent("one", "One")+"\n", "publish", "-f", "-")
	if !strings.Contains(out, "accepted:") || !strings.Contains(out, "1") {
		t.Fatalf("publish from stdin:\n%s", out)
	}

	// On call: the webhook is red; its deliveries say why.
	adm := s.admin(t)
	waitFor(t, 60*time.Second, "every delivery to fail", func() bool {
		st, err := adm.Stats(context.Background(), 0)
		return err == nil && st.Totals["deliveries_failed"] == int64(5001-bad)
	})
	if out := s.mustCtl(t, 0, "", "webhooks", "get", w.ID); !strings.Contains(out, "red") {
		t.Fatalf("the failing webhook is not red:\n%s", out)
	}
	out = s.mustCtl(t, 0, "", "deliveries", "list", w.ID, "--status", "failed", "--limit", "3")
	if !strings.Contains(out, "LAST ERROR") || strings.Count(out, "failed") < 3 || !strings.Contains(out, "connection refused") {
		t.Fatalf("failed deliveries:\n%s", out)
	}
	page := decodeJSON[client.DeliveryPage](t, s.mustCtl(t, 0, "", "deliveries", "list", w.ID, "--status", "failed", "--limit", "1", "-o", "json"))
	did := page.Deliveries[0].ID
	if out := s.mustCtl(t, 0, "", "deliveries", "get", did); !strings.Contains(out, "STARTED") || !strings.Contains(out, "connection refused") {
		t.Fatalf("delivery detail:\n%s", out)
	}
	s.mustCtl(t, 1, "", "deliveries", "retry", did) // still failing: exit 1
	if st := decodeJSON[client.Stats](t, s.mustCtl(t, 0, "", "stats", "-o", "json")); st.Totals["deliveries_failed"] < int64(5001-bad) {
		t.Fatalf("stats: %+v", st)
	}
	if out := s.mustCtl(t, 0, "", "stats"); !strings.Contains(out, "retry backlog") {
		t.Fatalf("stats:\n%s", out)
	}

	// Fix it (the receiver's URL), test, replay the window, and follow it.
	patch := filepath.Join(dir, "patch.json")
	os.WriteFile(patch, []byte(fmt.Sprintf(`{"url": %q}`, rcv.srv.URL+"/hook")), 0o644)
	s.mustCtl(t, 0, "", "webhooks", "update", w.ID, "-f", patch)
	if out := s.mustCtl(t, 0, "", "webhooks", "test", w.ID); !strings.Contains(out, "204") {
		t.Fatalf("test after the fix:\n%s", out)
	}
	tail := exec.Command(filepath.Join(bins, "taskhookctl"), "tail", w.ID, "-n", "0", "--count", "3", "--interval", "200ms", "-o", "json")
	tail.Env = []string{"TASKHOOK_URL=" + s.adminURL, "TASKHOOK_TOKEN=" + viewerToken}
	var tailOut bytes.Buffer
	tail.Stdout, tail.Stderr = &tailOut, &tailOut
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	start = time.Now()
	rep := decodeJSON[map[string]any](t, s.mustCtl(t, 0, "", "replay", w.ID, "--since", "10m", "-o", "json"))
	if rep["requeued"] != float64(5001-bad) {
		t.Fatalf("replay: %v", rep)
	}
	waitFor(t, 90*time.Second, "the replayed window delivered", func() bool {
		st, err := adm.Stats(context.Background(), 0)
		return err == nil && st.Totals["deliveries_succeeded"] >= int64(5001-bad)
	})
	t.Logf("replayed and delivered %d events in %s", 5001-bad, time.Since(start).Round(time.Millisecond))
	done := make(chan error, 1)
	go func() { done <- tail.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tail: %v\n%s", err, tailOut.String())
		}
	case <-time.After(30 * time.Second):
		_ = tail.Process.Kill()
		t.Fatalf("tail did not stop after 3 settled deliveries:\n%s", tailOut.String())
	}
	succeeded := 0
	for _, l := range strings.Split(strings.TrimSpace(tailOut.String()), "\n") {
		if decodeJSON[client.Delivery](t, l).Status == "succeeded" {
			succeeded++
		}
	}
	if succeeded < 3 {
		t.Fatalf("tail printed %d succeeded deliveries:\n%s", succeeded, tailOut.String())
	}
	got := rcv.deliveries()
	if len(got) < 5001-bad {
		t.Fatalf("the receiver got %d deliveries, want %d", len(got), 5001-bad)
	}
	for _, d := range got {
		if d.Verified != nil {
			t.Fatalf("a delivery did not verify: %v", d.Verified)
		}
	}

	// Pause, resume, delete.
	if out := s.mustCtl(t, 0, "", "webhooks", "pause", w.ID); !strings.Contains(out, "paused") {
		t.Fatalf("pause:\n%s", out)
	}
	if got := decodeJSON[client.Webhook](t, s.mustCtl(t, 0, "", "webhooks", "resume", w.ID, "-o", "json")); !got.Active {
		t.Fatalf("resume: %+v", got)
	}
	s.mustCtl(t, 0, "", "webhooks", "delete", w.ID)
	s.mustCtl(t, 1, "", "webhooks", "get", w.ID)
}

// TestTaskhookctlNamesAndHints: --help never prints a token set in the environment; a unique
// webhook name works wherever an id does (an ambiguous or unknown one is a usage error that
// lists what to type); "deliveries list --status failed" points at retrying deliveries when
// nothing failed for good yet.
func TestTaskhookctlNamesAndHints(t *testing.T) {
	s := newStack(t, "TASKHOOK_RETRY_SCHEDULE=1h,1h") // a failed attempt waits: the delivery stays retrying
	for _, c := range [][]string{{}, {"webhooks", "list"}, {"deliveries", "list"}, {"publish"}, {"stats"}} {
		out, errOut, code := s.ctl(t, "", append(c, "--help")...)
		if code != 0 || strings.Contains(out+errOut, adminToken) || strings.Contains(out+errOut, ingestToken) {
			t.Fatalf("%v --help with the tokens in the environment: exit %d, prints a token:\n%s", c, code, out+errOut)
		}
		if len(c) == 0 && !strings.Contains(out, "$TASKHOOK_TOKEN") {
			t.Fatalf("--help does not say where the token comes from:\n%s", out)
		}
	}

	// The providers and the event types, as the dispatcher's registries describe them: the same
	// lists as its OpenAPI document's enums (filled from those registries at start).
	resp, err := http.Get(s.adminURL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	enum := func(name string) []string {
		lists, err := apidoc.Enums(doc, name)
		if err != nil || len(lists) == 0 {
			t.Fatalf("openapi.json has no %s enum: %v", name, err)
		}
		return lists[0]
	}
	type providerList struct {
		Providers []client.Provider `json:"providers"`
		AuthTypes []client.AuthType `json:"auth_types"`
	}
	pl := decodeJSON[providerList](t, s.mustCtl(t, 0, "", "providers", "-o", "json"))
	var names, auths []string
	for _, p := range pl.Providers {
		names = append(names, p.Name)
	}
	for _, a := range pl.AuthTypes {
		auths = append(auths, a.Type)
	}
	if !slices.Equal(names, enum("providers")) || !slices.Equal(auths, enum("auth-types")) {
		t.Fatalf("taskhookctl providers: %v %v; openapi.json: %v %v", names, auths, enum("providers"), enum("auth-types"))
	}
	if out := s.mustCtl(t, 0, "", "providers"); !strings.Contains(out, "Slack incoming webhook URL (a secret)") || !strings.Contains(out, "identifier_system") {
		t.Fatalf("taskhookctl providers:\n%s", out)
	}
	out := s.mustCtl(t, 0, "", "event-types")
	rows := strings.Split(strings.TrimSpace(out), "\n")[1:]
	if len(rows) != len(enum("event-types")) || !strings.Contains(rows[0], "clinical") || !strings.Contains(rows[len(rows)-1], "operational") {
		t.Fatalf("taskhookctl event-types (%d types in openapi.json):\n%s", len(enum("event-types")), out)
	}

	dir := t.TempDir()
	create := func(name, url string) client.Webhook {
		body := filepath.Join(dir, "w.json")
		os.WriteFile(body, []byte(fmt.Sprintf(`{"name": %q, "url": %q, "events": ["task.*"]}`, name, url)), 0o644)
		return decodeJSON[client.Webhook](t, s.mustCtl(t, 0, "", "webhooks", "create", "-f", body, "-o", "json"))
	}
	desk := create("Desk A", "http://127.0.0.1:1/hook") // nothing listens: every attempt fails
	twin1, twin2 := create("Twin", "http://127.0.0.1:1/one"), create("Twin", "http://127.0.0.1:1/two")

	for _, name := range []string{"Desk A", "desk a", desk.ID} {
		if got := decodeJSON[client.Webhook](t, s.mustCtl(t, 0, "", "webhooks", "get", name, "-o", "json")); got.ID != desk.ID {
			t.Fatalf("webhooks get %q: %s, want %s", name, got.ID, desk.ID)
		}
	}
	_, errOut, code := s.ctl(t, "", "webhooks", "pause", "Twin")
	if code != 2 || !strings.Contains(errOut, "2 webhooks are named") || !strings.Contains(errOut, twin1.ID) || !strings.Contains(errOut, twin2.ID) {
		t.Fatalf("an ambiguous name: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := s.ctl(t, "", "deliveries", "list", "Nobody"); code != 2 || !strings.Contains(errOut, `no webhook has the id or name "Nobody"`) {
		t.Fatalf("an unknown name: exit %d\n%s", code, errOut)
	}
	if out := s.mustCtl(t, 0, "", "webhooks", "pause", "Desk A"); !strings.Contains(out, desk.ID) || !strings.Contains(out, "paused") {
		t.Fatalf("pause by name:\n%s", out)
	}
	s.mustCtl(t, 0, "", "webhooks", "resume", "Desk A")
	for _, w := range []client.Webhook{twin1, twin2} {
		s.mustCtl(t, 0, "", "webhooks", "delete", w.ID)
	}

	// One event: its delivery fails its first attempt and waits an hour to retry.
	s.mustCtl(t, 0, taskEvent("hint-1", "Hint")+"\n", "publish", "-f", "-")
	waitFor(t, 20*time.Second, "a retrying delivery", func() bool {
		out, _, code := s.ctl(t, "", "deliveries", "list", "Desk A", "--status", "retrying", "-o", "json")
		return code == 0 && len(decodeJSON[client.DeliveryPage](t, out).Deliveries) == 1
	})
	out, errOut, code = s.ctl(t, "", "deliveries", "list", "Desk A", "--status", "failed")
	if code != 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(errOut, "1 delivery is retrying") ||
		!strings.Contains(errOut, "taskhookctl deliveries list "+desk.ID+" --status retrying") {
		t.Fatalf("no failed delivery but one retrying: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// With -o json the hint goes to stderr: stdout stays JSON.
	out, errOut, _ = s.ctl(t, "", "deliveries", "list", "Desk A", "--status", "failed", "-o", "json")
	if page := decodeJSON[client.DeliveryPage](t, out); len(page.Deliveries) != 0 || !strings.Contains(errOut, "--status retrying") {
		t.Fatalf("json: %s / %s", out, errOut)
	}
}
