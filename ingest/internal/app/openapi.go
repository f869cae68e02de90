package app

import (
	_ "embed"
	"strings"

	"github.com/taskhook/taskhook/pkg/apidoc"
	"github.com/taskhook/taskhook/pkg/event"
)

// OpenAPI is ingest's OpenAPI 3.1 document as written: its enums of event types are marked
// (x-taskhook-enum) rather than listed, and filled from the catalog by OpenAPIDocument.
//
//go:embed openapi.json
var OpenAPI []byte

// OpenAPIDocument is the document served at GET /openapi.json: OpenAPI with every marked enum
// filled from the event catalog (each public family's types, the task family's events, every
// type and family). A family without a schema in the document is an error: the test catches
// the drift before a release does.
func OpenAPIDocument(cat *event.Catalog) ([]byte, error) {
	lists := map[string][]string{"event-types": cat.TypeNames()}
	var families []string
	for _, f := range cat.Families() {
		families = append(families, f.Name)
		if f.Internal {
			continue
		}
		var types []string
		for _, t := range f.Types {
			types = append(types, t.Type)
		}
		lists["family:"+f.Name] = types
		if f.EventField != "" { // the task family's "event": the type without its family
			var events []string
			for _, t := range types {
				events = append(events, strings.TrimPrefix(t, f.Name+"."))
			}
			lists[f.Name+"-events"] = events
		}
	}
	lists["families"] = families
	return apidoc.Fill(OpenAPI, lists)
}
