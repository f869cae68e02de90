package providers

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/pkg/families"
)

// Every provider describes itself (the dashboard's form and the OpenAPI document are built
// from it): a label, a URL label, auth types that exist, options with labels.
func TestEveryProviderDescribesItself(t *testing.T) {
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range All(cat).Metas() {
		if m.Label == "" || m.Label == m.Name || m.URLLabel == "" || m.URLLabel == "URL" || len(m.AuthTypes) == 0 {
			t.Errorf("%s does not describe itself (notify.Described): %+v", m.Name, m)
		}
		for _, a := range m.AuthTypes {
			if !slices.Contains(credential.Types(), a) {
				t.Errorf("%s: unknown auth type %q", m.Name, a)
			}
		}
		for _, o := range m.Options {
			if o.Name == "" || o.Label == "" {
				t.Errorf("%s: an option without a name or label: %+v", m.Name, o)
			}
		}
	}
}

var backticked = regexp.MustCompile("`([^`]+)`")

// The providers table of docs/providers.md agrees with the registry: the same providers, "a
// secret" in the URL column exactly for the providers whose URL is one, only auth types the
// provider takes, and options exactly for those that have some.
func TestDocsTableMatchesTheRegistry(t *testing.T) {
	b, err := os.ReadFile("../../../../docs/providers.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "| provider |"):
			in = true
		case in && strings.HasPrefix(l, "|---"):
		case in && strings.HasPrefix(l, "|"):
			cells := strings.Split(strings.Trim(l, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			rows = append(rows, cells)
		default:
			in = false
		}
	}
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	reg := All(cat)
	var documented []string
	for _, r := range rows {
		if len(r) < 5 {
			t.Fatalf("docs/providers.md: a row of %d cells, want 5 (provider, for, URL, auth, options): %q", len(r), r)
		}
		m := backticked.FindStringSubmatch(r[0])
		if m == nil {
			t.Fatalf("docs/providers.md: no provider name in %q", r[0])
		}
		documented = append(documented, m[1])
		p, ok := reg.Get(m[1])
		if !ok {
			t.Errorf("docs/providers.md documents %q, which the registry does not have", m[1])
			continue
		}
		meta := reg.Metas()[slices.Index(reg.Names(), p.Name())]
		if secret := strings.Contains(r[2], "secret"); secret != meta.URLIsSecret {
			t.Errorf("docs/providers.md: %s's URL is a secret: the docs say %v, the provider %v", m[1], secret, meta.URLIsSecret)
		}
		for _, a := range backticked.FindAllStringSubmatch(r[3], -1) {
			if !slices.Contains(meta.AuthTypes, a[1]) {
				t.Errorf("docs/providers.md: %s takes auth %q, which its metadata does not list (%v)", m[1], a[1], meta.AuthTypes)
			}
		}
		if none := r[4] == "none"; none != (len(meta.Options) == 0) {
			t.Errorf("docs/providers.md: %s's options %q, the provider declares %d", m[1], r[4], len(meta.Options))
		}
	}
	if !slices.Equal(documented, reg.Names()) {
		t.Errorf("docs/providers.md lists %v, the registry %v (same order)", documented, reg.Names())
	}
}
