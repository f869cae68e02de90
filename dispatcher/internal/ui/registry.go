package ui

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/pkg/event"
)

// noProvider is the data-providers token of the form before a provider is chosen.
const noProvider = "_"

// formCSS is the stylesheet that makes the form follow the provider chosen, built from the
// providers' metadata (CSS cannot be templated under the CSP, and no list of providers is
// written by hand): the fields of other providers are hidden, and so are the auth types a
// provider does not take.
func formCSS(metas []notify.Meta, authTypes []string) []byte {
	var b strings.Builder
	b.WriteString("/* Built from the provider registry at start: the webhook form follows the provider chosen. */\n")
	rule := func(value, token string) {
		fmt.Fprintf(&b, ".webhook-form:has(#provider option[value=%q]:checked) [data-providers]:not([data-providers~=%q]) { display: none; }\n", value, token)
	}
	rule("", noProvider)
	for _, m := range metas {
		rule(m.Name, m.Name)
		for _, a := range authTypes {
			if !slices.Contains(m.AuthTypes, a) {
				fmt.Fprintf(&b, ".webhook-form:has(#provider option[value=%q]:checked) #auth_type option[value=%q] { display: none; }\n", m.Name, a)
			}
		}
	}
	for _, a := range authTypes {
		fmt.Fprintf(&b, ".webhook-form:has(#auth_type option[value=%q]:checked) [data-auth]:not([data-auth~=%q]) { display: none; }\n", a, a)
	}
	return []byte(b.String())
}

// takesAuth says whether a provider's webhooks authenticate otherwise than by their URL.
func takesAuth(m notify.Meta) bool {
	return slices.ContainsFunc(m.AuthTypes, func(a string) bool { return a != "none" })
}

// providerTokens lists, space-separated, the providers for which keep is true (a data-providers
// attribute).
func providerTokens(metas []notify.Meta, keep func(notify.Meta) bool) string {
	var out []string
	for _, m := range metas {
		if keep(m) {
			out = append(out, m.Name)
		}
	}
	return strings.Join(out, " ")
}

func metaOf(metas []notify.Meta, name string) (notify.Meta, bool) {
	for _, m := range metas {
		if m.Name == name {
			return m, true
		}
	}
	return notify.Meta{}, false
}

// eventGroup is one family of the catalog, for the events checkboxes.
type eventGroup struct {
	Family, Label string
	Types         []event.Type
}

// eventGroups splits the catalog into the clinical families (what publishers send) and the
// operational ones (what Taskhook says about its own webhooks), each type by its label.
func eventGroups(cat *event.Catalog) (clinical, operational []eventGroup) {
	for _, f := range cat.Families() {
		g := eventGroup{Family: f.Name, Label: strings.ToUpper(f.Name[:1]) + f.Name[1:]}
		for _, t := range f.Types {
			if t.Label == "" {
				t.Label = t.Type
			}
			g.Types = append(g.Types, t)
		}
		if f.Internal {
			operational = append(operational, g)
		} else {
			clinical = append(clinical, g)
		}
	}
	return clinical, operational
}

// shortURL is a webhook's URL as the webhooks table shows it: the host and path without the
// query (which may carry a token), or only the host when the provider's URL is a credential.
func shortURL(raw string, secret bool) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "—"
	}
	if secret {
		return u.Host + "/… (secret URL)"
	}
	out := u.Host + u.EscapedPath()
	if u.RawQuery != "" {
		out += "?…"
	}
	return strings.TrimSuffix(out, "/")
}
