package app

import (
	_ "embed"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/pkg/apidoc"
	"github.com/taskhook/taskhook/pkg/event"
)

// OpenAPI is the dispatcher's OpenAPI 3.1 document as written: its enums of providers, auth
// types, event types and subscription patterns are marked (x-taskhook-enum) rather than
// listed, and filled from the registries by OpenAPIDocument.
//
//go:embed openapi.json
var OpenAPI []byte

// OpenAPIDocument is the document served at GET /openapi.json: OpenAPI with every marked enum
// filled from the registries (notify/providers, credential.Kinds, the event catalog).
func OpenAPIDocument(cat *event.Catalog, providers notify.Registry) ([]byte, error) {
	var families []string
	for _, f := range cat.Families() {
		families = append(families, f.Name)
	}
	return apidoc.Fill(OpenAPI, map[string][]string{
		"providers":      providers.Names(),
		"auth-types":     credential.Types(),
		"event-patterns": cat.Patterns(),
		"event-types":    cat.TypeNames(),
		"families":       families,
	})
}
