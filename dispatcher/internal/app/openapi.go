package app

import _ "embed"

// OpenAPI is the dispatcher's OpenAPI 3.1 document, served at GET /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte
