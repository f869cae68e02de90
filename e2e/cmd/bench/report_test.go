package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReportKeepsTheDocument: make bench rewrites only the block between the marks of
// BENCHMARKS.md, which leads with the machine, the run and the command, and says nothing of
// issues or sessions; the prose around the block is kept as written.
func TestReportKeepsTheDocument(t *testing.T) {
	o := options{suites: "ingest,pipeline", duration: 5 * time.Second, concurrency: 32, batchSize: 100,
		latencyRates: intList{500}, latencyDuration: time.Minute, loadStart: "0.10 0.20 0.30"}
	rows := []row{{measure: "ingest POST /v1/events", unit: "events/s", value: 16620, baseline: "JetStream sync publish, 32 clients",
		base: 53139, p50: 1720 * time.Microsecond, p99: 5760 * time.Microsecond, target: ">= 0.40x", minRatio: 0.4, note: "ingest CPU 60.5 µs per event."}}
	report := render(rows, "2 cores (AMD EPYC, 24 GiB), go1.26.8, nats-server: v2.15.2", o)

	lines := strings.Split(report, "\n")
	for i, want := range []string{"- **Machine:** 2 cores", "- **Run:** ", "- **Command:** `make bench` (`go run ./e2e/cmd/bench -suites ingest,pipeline"} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("report line %d = %q, want it to start with %q", i+1, lines[i], want)
		}
	}
	if !strings.Contains(report, "| ingest POST /v1/events | 16620 events/s | 53139 events/s: JetStream sync publish, 32 clients | 0.31x | 1.72 ms | 5.76 ms |") {
		t.Errorf("the table row is missing or changed:\n%s", report)
	}
	if m := regexp.MustCompile(`(?i)\bissues? \d+|session`).FindString(report); m != "" {
		t.Errorf("the report says %q", m)
	}

	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	before := "# Benchmarks\n\nThe current figures.\n\n" + beginMark + "\nan old run\n" + endMark + "\n\n## How to read them\n\nBy hand.\n"
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSection(path, report); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	got := string(b)
	want := "# Benchmarks\n\nThe current figures.\n\n" + beginMark + "\n" + report + endMark + "\n\n## How to read them\n\nBy hand.\n"
	if got != want {
		t.Errorf("BENCHMARKS.md after the run:\n%s\nwant:\n%s", got, want)
	}
}
