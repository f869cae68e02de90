package ui

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/pkg/httpx"
)

// page is what every template gets.
type page struct {
	Title string
	Nav   string // the current section: webhooks, stats, audit
	Who   *httpx.Principal
	Admin bool
	CSRF  string
	Flash string
	Data  any
}

// funcs are the templates' functions; now is the dashboard's clock (relative times).
func funcs(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		// when is a time in UTC with how long ago it was: <time datetime="…">2024-01-15 10:00:00
		// UTC</time> (5 min ago).
		"when": func(t any) template.HTML {
			var v time.Time
			switch x := t.(type) {
			case time.Time:
				v = x
			case *time.Time:
				if x != nil {
					v = *x
				}
			}
			if v.IsZero() {
				return "—"
			}
			return template.HTML(`<time datetime="` + v.UTC().Format(time.RFC3339) + `">` + v.UTC().Format("2006-01-02 15:04:05 UTC") + //nolint:gosec // no user text
				`</time> <span class="ago">(` + relative(v, now()) + `)</span>`)
		},
		"audit": describeAudit,
		"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"pct": func(f *float64) string {
			if f == nil {
				return "—"
			}
			return fmt.Sprintf("%.1f %%", *f*100)
		},
		"code": func(c *int) string {
			if c == nil {
				return "—"
			}
			return fmt.Sprint(*c)
		},
		"join":     strings.Join,
		"duration": func(d digest.Duration) string { return time.Duration(d).String() },
		"has": func(list []string, s string) bool {
			for _, x := range list {
				if x == s {
					return true
				}
			}
			return false
		},
		"age": func(seconds float64) string {
			if seconds <= 0 {
				return "none"
			}
			return (time.Duration(math.Round(seconds)) * time.Second).String()
		},
		"ferr": func(m map[string][]string, field string) template.HTML {
			if len(m[field]) == 0 {
				return ""
			}
			return template.HTML(`<p class="field-error" id="err-` + field + `">` + template.HTMLEscapeString(strings.Join(m[field], "; ")) + `</p>`) //nolint:gosec // escaped
		},
		"errs": func(m map[string][]string, field string) []string { return m[field] },
		"describedby": func(m map[string][]string, field string) template.HTMLAttr {
			if len(m[field]) == 0 {
				return ""
			}
			return template.HTMLAttr(fmt.Sprintf(`aria-describedby="err-%s" aria-invalid="true"`, field))
		},
	}
}

// pageNames are the templates under templates/, each rendered inside layout.html.
var pageNames = []string{"login", "webhooks", "form", "created", "webhook", "delivery", "delete", "stats", "audit", "error", "alerts"}

func parsePages(now func() time.Time) (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	fm := funcs(now)
	for _, n := range pageNames {
		t, err := template.New("layout.html").Funcs(fm).ParseFS(templateFS, "templates/layout.html", path.Join("templates", n+".html"))
		if err != nil {
			return nil, err
		}
		out[n] = t
	}
	return out, nil
}

// render writes the page name with data; the viewer's identity and CSRF token come from c.
func (u *UI) render(c echo.Context, status int, name, title, nav string, data any) error {
	p := page{Title: title, Nav: nav, Data: data, Flash: flashes[c.QueryParam("done")]}
	if v := viewerOf(c); v != nil {
		who := v.who
		p.Who, p.Admin, p.CSRF = &who, who.Role >= httpx.RoleAdmin, v.csrf
	}
	var b bytes.Buffer
	if err := u.pages[name].ExecuteTemplate(&b, "layout.html", p); err != nil {
		return err
	}
	return c.HTMLBlob(status, b.Bytes())
}

// flashes are the messages a redirect after a write may show (?done=…): a fixed set, so
// that no text of a URL is ever rendered.
var flashes = map[string]string{
	"saved":        "Saved.",
	"paused":       "Paused: no deliveries are made until you resume.",
	"resumed":      "Resumed.",
	"deleted":      "The webhook was deleted.",
	"retried":      "Retried: one attempt was made now; its result is below.",
	"signedout":    "You are signed out.",
	"acknowledged": "Acknowledged: the alert is closed for everyone; no further step is taken.",
}

func redirect(c echo.Context, to, done string) error {
	if done != "" {
		to += "?done=" + done
	}
	return c.Redirect(http.StatusSeeOther, to)
}
