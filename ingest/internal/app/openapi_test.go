package app

import (
	"reflect"
	"testing"

	"github.com/taskhook/taskhook/pkg/apidoc"
	"github.com/taskhook/taskhook/pkg/families"
)

// Each public family has its event schema in the document with the family's types as its
// "type" enum, filled from the catalog; the document itself lists no type or family by hand.
func TestOpenAPIEnumsComeFromTheCatalog(t *testing.T) {
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := OpenAPIDocument(cat)
	if err != nil {
		t.Fatal(err) // a family without a marked schema in openapi.json fails here
	}
	var all []string
	for _, f := range cat.Families() {
		all = append(all, f.Name)
		var types []string
		for _, tp := range f.Types {
			types = append(types, tp.Type)
		}
		all = append(all, types...)
		if f.Internal {
			continue
		}
		got, err := apidoc.Enums(doc, "family:"+f.Name)
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], types) {
			t.Errorf("family %s: enums %v, want [%v] (%v)", f.Name, got, types, err)
		}
	}
	got, _ := apidoc.Enums(doc, "task-events")
	if len(got) != 1 || !reflect.DeepEqual(got[0], []string{"created", "updated", "due", "overdue"}) {
		t.Errorf("task events: %v", got)
	}
	if hw, err := apidoc.HandWritten(OpenAPI, all); err != nil || len(hw) > 0 {
		t.Errorf("openapi.json lists the catalog by hand at %v (mark it %s instead) %v", hw, apidoc.Marker, err)
	}
}
