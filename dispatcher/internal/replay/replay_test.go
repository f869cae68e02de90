package replay

import (
	"testing"

	"github.com/google/uuid"

	opsfam "github.com/taskhook/taskhook/pkg/families/ops"
)

// TestAboutItself: a replay never gives a webhook an operational event about itself.
func TestAboutItself(t *testing.T) {
	self := uuid.MustParse("0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f")
	cases := []struct {
		name    string
		subject string
		data    string
		webhook uuid.UUID
		want    bool
	}{
		{"about itself", opsfam.Exhausted, opsfam.ExampleExhausted, self, true},
		{"about another webhook", opsfam.Disabled, opsfam.ExampleDisabled, uuid.New(), false},
		{"a task event naming a webhook_id", "task.created", `{"webhook_id":"0198f0a4-1b2c-7d3e-8f40-5a6b7c8d9e0f"}`, self, false},
	}
	for _, k := range cases {
		if got := aboutItself(k.subject, []byte(k.data), k.webhook); got != k.want {
			t.Errorf("%s: %v, want %v", k.name, got, k.want)
		}
	}
}
