package app

import (
	"reflect"
	"slices"
	"testing"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/providers"
	"github.com/taskhook/taskhook/pkg/apidoc"
	"github.com/taskhook/taskhook/pkg/families"
)

// The served document's enums are the registries', and openapi.json lists none of them by
// hand: a provider, an auth type, an event type or a family added to its registry appears in
// the document without an edit, and one written into the document fails here.
func TestOpenAPIEnumsComeFromTheRegistries(t *testing.T) {
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	reg := providers.All(cat)
	doc, err := OpenAPIDocument(cat, reg)
	if err != nil {
		t.Fatal(err)
	}
	var fams []string
	for _, f := range cat.Families() {
		fams = append(fams, f.Name)
	}
	for name, want := range map[string][]string{
		"providers": reg.Names(), "auth-types": credential.Types(), "event-patterns": cat.Patterns(),
		"event-types": cat.TypeNames(), "families": fams,
	} {
		got, err := apidoc.Enums(doc, name)
		if err != nil || len(got) == 0 {
			t.Fatalf("%s: no enum (%v)", name, err)
		}
		for _, g := range got {
			if !reflect.DeepEqual(g, want) {
				t.Errorf("%s: enum %v, want %v", name, g, want)
			}
		}
	}
	// The webhook's events take every family's pattern and "*", not only task.*.
	pats, _ := apidoc.Enums(doc, "event-patterns")
	for _, p := range []string{"*", "task.*", "report.*", "battery.*", "webhook.*", "delivery.*", "battery.critical"} {
		found := false
		for _, x := range pats[0] {
			found = found || x == p
		}
		if !found {
			t.Errorf("events enum lacks %q", p)
		}
	}
	// "none" is left out: a reminder's state is "none" too, which is not the auth type.
	all := append(append(append(append([]string{}, reg.Names()...), slices.DeleteFunc(credential.Types(), func(s string) bool { return s == credential.None })...), cat.TypeNames()...), fams...)
	if hw, err := apidoc.HandWritten(OpenAPI, all); err != nil || len(hw) > 0 {
		t.Errorf("openapi.json lists a registry by hand at %v (mark it %s instead) %v", hw, apidoc.Marker, err)
	}
}
