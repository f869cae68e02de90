package fhir

import (
	"bytes"
	"context"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
)

// TestGolden renders every event type and task shape and compares with testdata/golden
// (go test -update rewrites them after a deliberate change; review the diff).
func TestGolden(t *testing.T) {
	schema := taskSchema(t)
	for _, c := range notifytest.Cases() {
		req, err := New().Render(context.Background(), &notify.Target{URL: "https://receiver.example.org/hook"}, notifytest.Message(c))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(req.Body))
		if err := schema.Validate(doc); err != nil {
			t.Errorf("%s: not a valid FHIR R4 Task: %v", c.Name, err)
		}
		notifytest.Golden(t, c.Name, req.Body)
	}
}
