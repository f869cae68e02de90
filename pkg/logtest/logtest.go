// Package logtest gives a service under test a logger that records every entry, and fails the
// test at cleanup if any entry carries forbidden content (the seed event's patient data, a
// secret): Taskhook's logs carry ids only.
package logtest

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// SeedPHI is the patient and staff data of examples/seed-task-created.json.
var SeedPHI = []string{"John", "Doe", "1980-05-15", "Follow up", "Johnson", "Smith"}

// Logger returns a debug-level logger for t. At cleanup (after what was registered later, such
// as stopping the service), every entry's message and fields are searched for the forbidden
// words, matched as whole words (a random request id may contain "Doe" inside a word).
func Logger(t testing.TB, forbidden ...string) *zap.Logger {
	t.Helper()
	log, rec := New(forbidden...)
	t.Cleanup(func() {
		for _, v := range rec.Violations() {
			t.Error(v)
		}
	})
	return log
}

// Recorder holds what a logger from New wrote.
type Recorder struct {
	logs *observer.ObservedLogs
	re   *regexp.Regexp
}

// New returns a debug-level logger and the recorder of what it writes.
func New(forbidden ...string) (*zap.Logger, *Recorder) {
	quoted := make([]string, len(forbidden))
	for i, f := range forbidden {
		quoted[i] = regexp.QuoteMeta(f)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), &Recorder{logs: logs, re: regexp.MustCompile(`\b(` + strings.Join(quoted, "|") + `)\b`)}
}

// Violations describes every entry that carries a forbidden word.
func (r *Recorder) Violations() []string {
	var out []string
	for _, e := range r.logs.All() {
		line := e.Message
		for _, f := range e.Context {
			line += fmt.Sprintf(" %s=%v%s%v", f.Key, f.String, f.Interface, f.Integer)
		}
		if m := r.re.FindString(line); m != "" {
			out = append(out, fmt.Sprintf("log line carries event content or a secret (%q): %s", m, line))
		}
	}
	return out
}
