package ui

import (
	"strings"
	"testing"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/providers"
	"github.com/taskhook/taskhook/pkg/families"
)

// The form's provider rules come from the registry: every provider has its rule, and the auth
// types a provider does not take are hidden for it.
func TestFormCSSFromTheRegistry(t *testing.T) {
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	metas := providers.All(cat).Metas()
	css := string(formCSS(metas, credential.Types()))
	for _, m := range metas {
		want := `#provider option[value="` + m.Name + `"]:checked) [data-providers]:not([data-providers~="` + m.Name + `"])`
		if !strings.Contains(css, want) {
			t.Errorf("no rule for provider %s", m.Name)
		}
	}
	if !strings.Contains(css, `option[value="slack"]:checked) #auth_type option[value="hmac"]`) {
		t.Error("Slack takes no hmac, yet its auth option is not hidden")
	}
	if strings.Contains(css, `option[value="generic"]:checked) #auth_type option[value="hmac"]`) {
		t.Error("generic takes hmac, yet it is hidden")
	}
	if got := providerTokens(metas, takesAuth); got != "generic fhir" {
		t.Errorf("providers that take auth: %q", got)
	}
}

func TestEventGroups(t *testing.T) {
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	clinical, ops := eventGroups(cat)
	names := func(gs []eventGroup) (out []string) {
		for _, g := range gs {
			out = append(out, g.Family)
			for _, tp := range g.Types {
				if tp.Label == "" || tp.Label == tp.Type || strings.ContainsAny(tp.Label, "_.") || strings.Contains(tp.Label, "TASKHOOK") {
					t.Errorf("%s: label %q is not words", tp.Type, tp.Label)
				}
			}
		}
		return out
	}
	if got := strings.Join(names(clinical), ","); got != "task,report,battery" {
		t.Errorf("clinical families %s", got)
	}
	if got := strings.Join(names(ops), ","); got != "webhook,delivery" {
		t.Errorf("operational families %s", got)
	}
}

func TestShortURL(t *testing.T) {
	for _, tc := range []struct {
		raw    string
		secret bool
		want   string
	}{
		{"https://hooks.slack.com/services/T0/B0/XXXX", true, "hooks.slack.com/… (secret URL)"},
		{"https://hooks.slack.com/…XXXX", true, "hooks.slack.com/… (secret URL)"},
		{"https://emr.example.org/fhir/", false, "emr.example.org/fhir"},
		{"https://x.example/hook?token=abc", false, "x.example/hook?…"},
		{"::", false, "—"},
	} {
		if got := shortURL(tc.raw, tc.secret); got != tc.want {
			t.Errorf("shortURL(%q, %v) = %q, want %q", tc.raw, tc.secret, got, tc.want)
		}
	}
}
