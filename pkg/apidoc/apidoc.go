// Package apidoc fills a service's OpenAPI document with the lists its registries hold (the
// providers, the auth types, the event types and families), so that no enum of the document
// is written by hand: a schema object marked "x-taskhook-enum": "<list>" gets "enum" set to
// that list when the service starts. A marker naming no list, or a hand-written enum beside a
// marker, is an error (the services' tests and start catch it).
package apidoc

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Marker is the OpenAPI extension that names the list a schema's enum comes from.
const Marker = "x-taskhook-enum"

// Fill returns doc with every marked schema's "enum" set from lists, and the names of the
// lists it used. Every list must be used at least once: a list no schema names has drifted
// out of the document.
func Fill(doc []byte, lists map[string][]string) ([]byte, error) {
	var root any
	if err := json.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("apidoc: %w", err)
	}
	used := map[string]bool{}
	var problems []string
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch n := v.(type) {
		case map[string]any:
			if m, ok := n[Marker]; ok {
				name, _ := m.(string)
				list, known := lists[name]
				switch {
				case !known:
					problems = append(problems, fmt.Sprintf("%s names the unknown list %q", at, name))
				case n["enum"] != nil:
					problems = append(problems, fmt.Sprintf("%s has a hand-written enum beside %s %q", at, Marker, name))
				default:
					used[name] = true
					n["enum"] = append([]string{}, list...)
				}
			}
			keys := make([]string, 0, len(n))
			for k := range n {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(n[k], at+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k))
			}
		case []any:
			for i, x := range n {
				walk(x, fmt.Sprintf("%s/%d", at, i))
			}
		}
	}
	walk(root, "")
	for name := range lists {
		if !used[name] {
			problems = append(problems, fmt.Sprintf("no schema is marked %s %q", Marker, name))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("apidoc: %s", strings.Join(problems, "; "))
	}
	out, err := json.MarshalIndent(root, "", " ")
	if err != nil {
		return nil, fmt.Errorf("apidoc: %w", err)
	}
	return append(out, '\n'), nil
}

// Enums lists the enum of every schema marked with name in a filled document, for tests.
func Enums(doc []byte, name string) ([][]string, error) {
	var root any
	if err := json.Unmarshal(doc, &root); err != nil {
		return nil, err
	}
	var out [][]string
	var walk func(v any)
	walk = func(v any) {
		switch n := v.(type) {
		case map[string]any:
			if n[Marker] == name {
				var list []string
				raw, _ := n["enum"].([]any)
				for _, x := range raw {
					s, _ := x.(string)
					list = append(list, s)
				}
				out = append(out, list)
			}
			for _, x := range n {
				walk(x)
			}
		case []any:
			for _, x := range n {
				walk(x)
			}
		}
	}
	walk(root)
	return out, nil
}

// HandWritten lists the JSON pointers of every enum in doc that holds one of names: a list of
// a registry written by hand into the document, which would drift from it.
func HandWritten(doc []byte, names []string) ([]string, error) {
	var root any
	if err := json.Unmarshal(doc, &root); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []string
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch n := v.(type) {
		case map[string]any:
			if list, ok := n["enum"].([]any); ok && n[Marker] == nil {
				for _, x := range list {
					if s, ok := x.(string); ok && want[s] {
						out = append(out, at+"/enum")
						break
					}
				}
			}
			for k, x := range n {
				walk(x, at+"/"+k)
			}
		case []any:
			for i, x := range n {
				walk(x, fmt.Sprintf("%s/%d", at, i))
			}
		}
	}
	walk(root, "")
	sort.Strings(out)
	return out, nil
}
