package tools

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPublishSplitsByBytes: taskhookctl publish sends 1,000 lines of 17.6 KB (17.6 MB, more
// than ingest takes in one batch) in batches small enough, refuses a 20 MB line alone (written
// to the refused file) and carries on; a file that starts with a UTF-8 byte order mark is read.
func TestPublishSplitsByBytes(t *testing.T) {
	s := newStack(t)
	dir := t.TempDir()
	events := filepath.Join(dir, "big.ndjson")
	f, err := os.Create(events)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	_, _ = w.WriteString("\xef\xbb\xbf") // a bufio.Writer's error comes back from Flush
	line := func(i, notes int) string {
		return fmt.Sprintf(`{"event_id":"big-%04d","task_id":"t-%d","event":"created","title":"t","patient":{"id":"p","notes":%q}}`, i, i, strings.Repeat("n", notes))
	}
	for i := 0; i < 1000; i++ {
		fmt.Fprintln(w, line(i, 17500))
		if i == 499 {
			fmt.Fprintln(w, line(9999, 20<<20)) // line 501
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	type summary struct{ Lines, Accepted, Duplicate, Refused, Batches int }
	sum := decodeJSON[summary](t, s.mustCtl(t, 3, "", "publish", "-f", events, "-o", "json"))
	if sum.Lines != 1001 || sum.Accepted != 1000 || sum.Refused != 1 || sum.Batches < 3 {
		t.Fatalf("summary %+v", sum)
	}
	b, err := os.ReadFile(events + ".refused.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Line   int
		Status int
		Error  string
		Text   string
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Line != 501 || r.Status != 413 || !strings.Contains(r.Error, "--max-batch-bytes") || len(r.Text) > 2048 {
		t.Fatalf("refused file: %v %+v (%d bytes)", err, r, len(b))
	}
	// Batches above the server's limit (16 MiB) are refused whole by it: they are split, down to
	// the one line that is too large alone; the rest are duplicates now.
	sum = decodeJSON[summary](t, s.mustCtl(t, 3, "", "publish", "-f", events, "-o", "json", "--max-batch-bytes", "30000000",
		"--refused", filepath.Join(dir, "again.ndjson")))
	if sum.Duplicate != 1000 || sum.Refused != 1 {
		t.Fatalf("split by the server: %+v", sum)
	}
	// A byte order mark before the first line of stdin.
	out := s.mustCtl(t, 0, "\xef\xbb\xbf"+taskEvent("bom", "BOM")+"\n", "publish", "-f", "-", "-o", "json")
	if sum := decodeJSON[summary](t, out); sum.Accepted != 1 {
		t.Fatalf("BOM: %s", out)
	}
}
