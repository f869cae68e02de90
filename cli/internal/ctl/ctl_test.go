package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
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
