package families

import (
	"testing"

	"github.com/taskhook/taskhook/pkg/families/battery"
	"github.com/taskhook/taskhook/pkg/families/ops"
	"github.com/taskhook/taskhook/pkg/families/report"
	"github.com/taskhook/taskhook/pkg/families/task"
)

func TestSubjectAndCloses(t *testing.T) {
	cat, err := Catalog()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		typ, raw, subject string
		closes            bool
	}{
		{"task.created", task.Seed, "task:12345", false},
		{"task.updated", `{"task_id":"9","event":"updated","status":"completed"}`, "task:9", true},
		{"task.updated", `{"task_id":"9","event":"updated","status":"closed"}`, "task:9", true},
		{"task.updated", `{"task_id":"9","event":"updated","status":"open"}`, "task:9", false},
		{"task.overdue", `{"task_id":"9","event":"overdue"}`, "task:9", false},
		{"report.completed", report.Example, "report:R-2024-0042", false},
		{"battery.critical", battery.Example, "device:D-991", false},
		{"webhook.disabled", ops.ExampleDisabled, "webhook:0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f", false},
		{"delivery.recovered", ops.ExampleRecovered, "webhook:0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f", true},
		{"task.created", `not json`, "", false},
		{"no.such", `{}`, "", false},
	}
	for _, c := range cases {
		if got := cat.SubjectOf(c.typ, []byte(c.raw)); got != c.subject {
			t.Errorf("%s %s: subject %q, want %q", c.typ, c.raw, got, c.subject)
		}
		if got := cat.Closes(c.typ, []byte(c.raw)); got != c.closes {
			t.Errorf("%s %s: closes %v", c.typ, c.raw, got)
		}
	}
}
