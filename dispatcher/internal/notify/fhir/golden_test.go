package fhir

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
)

// TestGolden renders every event type and task shape and compares with testdata/golden
// (go test -update rewrites them after a deliberate change; review the diff).
func TestGolden(t *testing.T) {
	for _, c := range notifytest.Cases() {
		if _, f, _ := notifytest.Catalog(t).Lookup(c.Type); !notify.Renders(New(), f.Name) {
			continue // operational events: a fhir webhook cannot name them (422)
		}
		req, err := New().Render(context.Background(), &notify.Target{URL: "https://receiver.example.org/hook"}, notifytest.Message(c))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		path, query, _ := strings.Cut(req.URL, "?")
		kind := path[strings.LastIndex(path, "/")+1:]
		if (req.Method == "PUT") != (query != "") || (req.Method == "PUT") == (req.Header.Get("If-None-Exist") != "") {
			t.Errorf("%s: %s %s If-None-Exist %q: a conditional create or a conditional update, not both", c.Name, req.Method, req.URL, req.Header.Get("If-None-Exist"))
		}
		doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(req.Body))
		if err := schemaOf(t, kind).Validate(doc); err != nil {
			t.Errorf("%s: not a valid FHIR R4 %s: %v", c.Name, kind, err)
		}
		if want := map[string]string{"task": "Task", "report": "DiagnosticReport", "battery": "Observation"}[c.Type[:strings.Index(c.Type, ".")]]; kind != want {
			t.Errorf("%s: posted to %s, want %s", c.Name, req.URL, want)
		}
		notifytest.Golden(t, c.Name, req.Body)
	}
}
