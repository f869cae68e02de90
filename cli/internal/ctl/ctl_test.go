package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/client"
)

func run(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }})
	return out.String(), errb.String(), code
}

func TestExitCodesWithoutAServer(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want int
		says string
	}{
		{[]string{"--help"}, nil, ExitOK, "Exit codes"},
		{[]string{"webhooks", "list"}, nil, ExitUsage, "TASKHOOK_TOKEN"},
		{[]string{"publish", "-f", "x.ndjson"}, map[string]string{"TASKHOOK_TOKEN": "t"}, ExitUsage, "TASKHOOK_INGEST_TOKEN"},
		{[]string{"nope"}, nil, ExitUsage, "unknown command"},
		{[]string{"webhooks", "get"}, map[string]string{"TASKHOOK_TOKEN": "t"}, ExitUsage, "a webhook id"},
		{[]string{"stats", "--window"}, nil, ExitUsage, "flag needs an argument"},
		{[]string{"stats", "-o", "yaml"}, nil, ExitUsage, "table or json"},
		{[]string{"replay", "w", "--since", "yesterday"}, map[string]string{"TASKHOOK_TOKEN": "t"}, ExitUsage, "RFC 3339"},
		{[]string{"publish", "-f", "x", "--batch", "1001"}, map[string]string{"TASKHOOK_INGEST_TOKEN": "t"}, ExitUsage, "--batch"},
		{[]string{"webhooks", "list"}, map[string]string{"TASKHOOK_TOKEN": "t", "TASKHOOK_URL": "http://127.0.0.1:1"}, ExitFailed, "connection refused"},
		{[]string{"webhooks", "list", "--url", "ftp://x"}, map[string]string{"TASKHOOK_TOKEN": "t"}, ExitUsage, "http(s)"},
	}
	for _, c := range cases {
		out, errOut, code := run(t, c.env, c.args...)
		if code != c.want || !strings.Contains(out+errOut, c.says) {
			t.Errorf("%v: exit %d (want %d), output %q (want %q)", c.args, code, c.want, out+errOut, c.says)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)
	if got, err := parseTime("6h", now); err != nil || !got.Equal(now.Add(-6*time.Hour)) {
		t.Fatalf("6h: %v, %v", got, err)
	}
	if got, err := parseTime("2024-01-15T10:00:00Z", now); err != nil || got.Hour() != 10 {
		t.Fatalf("RFC 3339: %v, %v", got, err)
	}
	if _, err := parseTime("-1h", now); err == nil {
		t.Fatal("a negative duration was accepted")
	}
}

func TestBatchKeyIsStableAndShort(t *testing.T) {
	items := []json.RawMessage{json.RawMessage(`{"a":1}`), json.RawMessage(`{"a":2}`)}
	k1, k2 := batchKey("", 1, items), batchKey("", 1, items)
	if k1 != k2 || len(k1) > 123 || !strings.HasPrefix(k1, "ndjson-") {
		t.Fatalf("keys %q %q", k1, k2)
	}
	if batchKey("", 1, items[:1]) == k1 {
		t.Fatal("different batches share a key")
	}
	if k := batchKey("sync", 1001, items); k != "sync-1001" {
		t.Fatalf("prefixed key %q", k)
	}
}

// --help prints flag defaults: a token set in the environment must not be one of them.
func TestHelpNeverPrintsATokenFromTheEnvironment(t *testing.T) {
	env := map[string]string{"TASKHOOK_TOKEN": "admin-sekrit-123", "TASKHOOK_INGEST_TOKEN": "ingest-sekrit-456"}
	for _, args := range [][]string{{"--help"}, {"webhooks", "list", "--help"}, {"publish", "--help"}, {"help", "stats"}} {
		out, errOut, code := run(t, env, args...)
		if code != ExitOK || strings.Contains(out+errOut, "sekrit") {
			t.Errorf("%v: exit %d, prints a token:\n%s", args, code, out+errOut)
		}
	}
	// The environment's token is still used: a run without a server gets past "no token".
	if _, errOut, code := run(t, map[string]string{"TASKHOOK_TOKEN": "t", "TASKHOOK_URL": "http://127.0.0.1:1"}, "webhooks", "list"); code != ExitFailed || strings.Contains(errOut, "no admin token") {
		t.Errorf("the token from the environment was not used: %d %s", code, errOut)
	}
}

func TestMatchWebhook(t *testing.T) {
	ws := []client.Webhook{{ID: "a", Name: "Desk", Provider: "slack"}, {ID: "b", Name: "desk", Provider: "teams"},
		{ID: "c", Name: "Twin", Provider: "generic"}, {ID: "d", Name: "Twin", Provider: "fhir"}, {ID: "e", Name: "Lab"}}
	for _, tc := range []struct {
		name, want, err string
	}{
		{"Desk", "a", ""}, {"desk", "b", ""}, {"LAB", "e", ""}, {"lab", "e", ""},
		{"DESK", "", `2 webhooks are named "DESK"`}, {"Twin", "", "  c  Twin (generic)\n  d  Twin (fhir)"}, {"Nobody", "", `no webhook has the id or name "Nobody"`},
	} {
		got, err := matchWebhook(ws, tc.name)
		if got != tc.want || (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %q %v, want %q %q", tc.name, got, err, tc.want, tc.err)
		}
		var xe *exitError
		if err != nil && (!errors.As(err, &xe) || xe.code != ExitUsage) {
			t.Errorf("%q: not a usage error: %v", tc.name, err)
		}
	}
}
