package apidoc

import (
	"reflect"
	"strings"
	"testing"
)

func TestFill(t *testing.T) {
	doc := `{"a": {"x-taskhook-enum": "providers", "type": "string"}, "b": [{"items": {"x-taskhook-enum": "providers"}}]}`
	out, err := Fill([]byte(doc), map[string][]string{"providers": {"generic", "slack"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Enums(out, "providers")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"generic", "slack"}, {"generic", "slack"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("enums %v, want %v", got, want)
	}
}

func TestFillRefusesDrift(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown list", `{"a": {"x-taskhook-enum": "colours"}}`, `/a names the unknown list "colours"`},
		{"hand-written enum", `{"a": {"x-taskhook-enum": "providers", "enum": ["slack"]}}`, `/a has a hand-written enum`},
		{"unused list", `{"a": {"type": "string"}}`, `no schema is marked x-taskhook-enum "providers"`},
		{"not JSON", `{`, `apidoc:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Fill([]byte(tc.doc), map[string][]string{"providers": {"slack"}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestHandWritten(t *testing.T) {
	doc := `{"a": {"enum": ["slack", "teams"]}, "b": {"enum": ["green"]}, "c": {"x-taskhook-enum": "providers", "enum": ["slack"]}}`
	got, err := HandWritten([]byte(doc), []string{"slack"})
	if err != nil || !reflect.DeepEqual(got, []string{"/a/enum"}) {
		t.Fatalf("%v %v", got, err)
	}
}
