package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
)

// TestOpenAPIDocumentsAreValid: both services' documents parse as OpenAPI 3.1 with every
// reference resolved (the route coverage is checked by each service's own tests).
func TestOpenAPIDocumentsAreValid(t *testing.T) {
	for _, p := range []string{"ingest/internal/app/openapi.json", "dispatcher/internal/app/openapi.json"} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := libopenapi.NewDocument(b)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1") {
			t.Errorf("%s: version %s, want 3.1", p, v)
		}
		m, err := doc.BuildV3Model()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if m.Model.Paths == nil || m.Model.Paths.PathItems.Len() < 5 {
			t.Fatalf("%s: no paths", p)
		}
		for pair := m.Model.Paths.PathItems.First(); pair != nil; pair = pair.Next() {
			for op := pair.Value().GetOperations().First(); op != nil; op = op.Next() {
				if op.Value().Summary == "" || op.Value().Responses == nil {
					t.Errorf("%s: %s %s lacks a summary or responses", p, op.Key(), pair.Key())
				}
			}
		}
	}
}
