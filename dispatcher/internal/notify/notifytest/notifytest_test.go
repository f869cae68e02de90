package notifytest

import "testing"

// TestCasesAreValidEvents: every case is an event ingest would accept, of the case's type.
func TestCasesAreValidEvents(t *testing.T) {
	cat := Catalog(t)
	cases := Cases()
	if len(cases) != 20+12+8 {
		t.Fatalf("%d cases", len(cases))
	}
	seen := map[string]bool{}
	for _, c := range cases {
		v, err := cat.Validate(c.Event, "", func() string { return "x" })
		if cat.Internal(c.Type) {
			v, err = cat.ValidateInternal(c.Event)
		}
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		if v.Type != c.Type || v.ID == "x" {
			t.Errorf("%s: validated as %s with id %s", c.Name, v.Type, v.ID)
		}
		seen[c.Type] = true
	}
	for _, typ := range cat.TypeNames() {
		if !seen[typ] {
			t.Errorf("no case of %s", typ)
		}
	}
}
