package tools

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/client"
)

// TestTaskhookctlSilences: taskhookctl silences create, list and end against the real
// binaries: the flags and a JSON file, tables and JSON, refusals with the server's pointer
// (exit 1), usage errors (exit 2), ending twice (exit 1, 409), and the audit trail.
func TestTaskhookctlSilences(t *testing.T) {
	s := newStack(t)
	for _, c := range [][]string{{"silences"}, {"silences", "list"}, {"silences", "create"}, {"silences", "end"}} {
		if out := s.mustCtl(t, 0, "", append(c, "--help")...); !strings.Contains(out, "Usage:") {
			t.Fatalf("%v --help:\n%s", c, out)
		}
	}
	s.mustCtl(t, 2, "", "silences", "list", "--state", "asleep")
	s.mustCtl(t, 2, "", "silences", "create", "--matcher", "true", "--reason", "maintenance")
	s.mustCtl(t, 2, "", "silences", "create", "--matcher", "true", "--reason", "maintenance", "--for", "1h", "--ends", "2030-01-01T00:00:00Z")
	s.mustCtl(t, 2, "", "silences", "end")

	// Refused by the server: exit 1 with the field and what to fix.
	_, errOut, code := s.ctl(t, "", "silences", "create", "--matcher", `event.device.id == "D-991"`, "--for", "2h", "--reason", "x")
	if code != 1 || !strings.Contains(errOut, "/reason") {
		t.Fatalf("short reason: exit %d\n%s", code, errOut)
	}
	_, errOut, code = s.ctl(t, "", "silences", "create", "--matcher", `event.device.id`, "--for", "2h", "--reason", "firmware update")
	if code != 1 || !strings.Contains(errOut, "/matcher") {
		t.Fatalf("non-boolean matcher: exit %d\n%s", code, errOut)
	}
	_, errOut, code = s.ctl(t, "", "silences", "create", "--matcher", `true`, "--for", "200h", "--reason", "firmware update")
	if code != 1 || !strings.Contains(errOut, "/ends_at") {
		t.Fatalf("too long: exit %d\n%s", code, errOut)
	}

	out := s.mustCtl(t, 0, "", "-o", "json", "silences", "create", "--matcher", `event.device.id == "D-991"`, "--for", "2h",
		"--reason", "firmware update in clinic")
	created := decodeJSON[client.Silence](t, out)
	if created.State != "active" || created.Reason != "firmware update in clinic" || created.EndsAt.Sub(created.StartsAt) < 119*time.Minute {
		t.Fatalf("created: %+v", created)
	}
	start := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	body, _ := json.Marshal(map[string]any{"matcher": `type == "battery.low"`, "starts_at": start.Format(time.RFC3339),
		"ends_at": start.Add(time.Hour).Format(time.RFC3339), "reason": "ward move"})
	later := decodeJSON[client.Silence](t, s.mustCtl(t, 0, string(body), "-o", "json", "silences", "create", "-f", "-"))
	if later.State != "pending" {
		t.Fatalf("from a file: %+v", later)
	}
	table := s.mustCtl(t, 0, "", "silences", "list")
	for _, want := range []string{"STATE", created.ID, later.ID, "firmware update in clinic", "pending", "active", "all"} {
		if !strings.Contains(table, want) {
			t.Fatalf("list has no %q:\n%s", want, table)
		}
	}
	active := decodeJSON[struct{ Silences []client.Silence }](t, s.mustCtl(t, 0, "", "-o", "json", "silences", "list", "--state", "active"))
	if len(active.Silences) != 1 || active.Silences[0].ID != created.ID {
		t.Fatalf("active: %+v", active)
	}

	ended := s.mustCtl(t, 0, "", "silences", "end", created.ID, "--reason", "firmware done early")
	if !strings.Contains(ended, "expired") || !strings.Contains(ended, "ended by") {
		t.Fatalf("end:\n%s", ended)
	}
	_, errOut, code = s.ctl(t, "", "silences", "end", created.ID)
	if code != 1 || !strings.Contains(errOut, "409") && !strings.Contains(errOut, "already ended") {
		t.Fatalf("ending twice: exit %d\n%s", code, errOut)
	}
	expired := decodeJSON[struct{ Silences []client.Silence }](t, s.mustCtl(t, 0, "", "-o", "json", "silences", "list", "--state", "expired"))
	if len(expired.Silences) != 1 || expired.Silences[0].EndedBy == "" {
		t.Fatalf("expired: %+v", expired)
	}
	// The client's own call, and the audit trail behind the commands.
	if _, err := s.admin(t).EndSilence(context.Background(), later.ID, ""); err != nil {
		t.Fatal(err)
	}
	code2, audit := getJSON(t, s.adminURL+"/v1/audit?limit=10")
	if code2 != 200 || strings.Count(audit, `"silence.end"`) != 2 || !strings.Contains(audit, "firmware done early") {
		t.Fatalf("audit: %d %s", code2, audit)
	}
}

// getJSON reads url with the admin token.
func getJSON(t *testing.T, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
