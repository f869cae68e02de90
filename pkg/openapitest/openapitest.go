// Package openapitest checks that a service's OpenAPI document and its live echo routes agree:
// no route undocumented, no documented route missing.
package openapitest

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

var param = regexp.MustCompile(`:([A-Za-z_]+)`)

// Compare fails t for every (method, path) in one set and not in the other. Echo path
// parameters (:id) are written as OpenAPI templates ({id}).
func Compare(t testing.TB, doc []byte, routes []*echo.Route) {
	t.Helper()
	var d struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.1") {
		t.Errorf("openapi version %q, want 3.1.x", d.OpenAPI)
	}
	documented := map[string]bool{}
	for p, ops := range d.Paths {
		for m := range ops {
			switch m {
			case "get", "post", "put", "patch", "delete", "head", "options":
				documented[strings.ToUpper(m)+" "+p] = true
			}
		}
	}
	live := map[string]bool{}
	for _, r := range routes {
		if r.Method == echo.RouteNotFound || strings.HasPrefix(r.Name, "github.com/labstack/echo") && r.Path == "/*" {
			continue
		}
		live[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	var undocumented, missing []string
	for k := range live {
		if !documented[k] {
			undocumented = append(undocumented, k)
		}
	}
	for k := range documented {
		if !live[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(missing)
	for _, k := range undocumented {
		t.Errorf("route %s is not in openapi.json", k)
	}
	for _, k := range missing {
		t.Errorf("openapi.json documents %s, which the service does not serve", k)
	}
	if len(live) == 0 {
		t.Error("no live routes")
	}
}
