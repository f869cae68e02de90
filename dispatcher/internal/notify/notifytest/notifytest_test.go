package notifytest

import (
	"testing"

	"github.com/taskhook/taskhook/pkg/event"
)

// TestCasesAreValidEvents: every case is an event ingest would accept.
func TestCasesAreValidEvents(t *testing.T) {
	v, err := event.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	cases := Cases()
	if len(cases) != 20 {
		t.Fatalf("%d cases", len(cases))
	}
	for _, c := range cases {
		if _, err := v.Validate(c.Event, "", func() string { return "x" }); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
}
