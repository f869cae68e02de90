// Package tmpl is the per-webhook custom body: a Go text/template that replaces the provider's
// body (headers and signing stay). Its data uses the JSON names: .type, .timestamp, .event (the
// task event as decoded JSON) and .webhook (.webhook.name, .webhook.id).
package tmpl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
)

// MaxOutput bounds a rendered body (Teams refuses ~28 KB; 256 KiB is far beyond any sane body).
const MaxOutput = 256 << 10

// Template is a parsed body template.
type Template struct {
	t           *template.Template
	contentType string
}

// Parse parses text with Taskhook's functions; the error says where the template is wrong.
// contentType is the body's Content-Type ("" means application/json); when it is JSON the
// rendered body must be valid JSON.
func Parse(text, contentType string) (*Template, error) {
	if contentType == "" {
		contentType = "application/json"
	}
	// Functions are bound per execution (they depend on the webhook's time zone); parsing only
	// needs their names.
	t, err := template.New("body").Option("missingkey=zero").Funcs(funcs(time.UTC)).Parse(text)
	if err != nil {
		return nil, err
	}
	return &Template{t: t, contentType: contentType}, nil
}

// ContentType is the Content-Type of rendered bodies.
func (t *Template) ContentType() string { return t.contentType }

func isJSON(ct string) bool {
	ct = strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}

// Render executes the template for a message. An error is permanent (the same template and
// event fail the same way every time) and says why.
func (t *Template) Render(_ context.Context, target *notify.Target, m *notify.Message) ([]byte, error) {
	loc := target.Location
	if loc == nil {
		loc = time.UTC
	}
	var ev any
	if err := json.Unmarshal(m.Event.Raw(), &ev); err != nil {
		return nil, fmt.Errorf("template: event is not JSON: %w", err)
	}
	data := map[string]any{
		"type":      m.Type,
		"timestamp": m.Timestamp.In(loc).Format(time.RFC3339),
		"event":     ev,
		"webhook":   map[string]any{"id": target.ID, "name": target.Name},
	}
	clone, err := t.t.Clone()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w := &limitWriter{buf: &out, left: MaxOutput}
	if err := clone.Funcs(funcs(loc)).Execute(w, data); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	if isJSON(t.contentType) && !json.Valid(out.Bytes()) {
		return nil, fmt.Errorf("template: output is not valid JSON (Content-Type %s); use the json function to quote values", t.contentType)
	}
	return out.Bytes(), nil
}

type limitWriter struct {
	buf  *bytes.Buffer
	left int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.left {
		return 0, fmt.Errorf("output exceeds %d bytes", MaxOutput)
	}
	l.left -= len(p)
	return l.buf.Write(p)
}

// funcs are the template functions; date formats in loc.
func funcs(loc *time.Location) template.FuncMap {
	return template.FuncMap{
		// json renders a value as JSON (strings quoted and escaped).
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		// date formats an RFC 3339 time (or YYYY-MM-DD date) with a Go layout in the webhook's
		// time zone: {{ date "Jan 2, 2006 3:04 PM" .event.due_date }}. Empty input gives "".
		"date": func(layout string, v any) (string, error) {
			s, _ := v.(string)
			if s == "" {
				return "", nil
			}
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t.In(loc).Format(layout), nil
			}
			if t, err := time.Parse(time.DateOnly, s); err == nil {
				return t.Format(layout), nil
			}
			// The value is not quoted: it may be patient data, and errors are stored and shown.
			return "", fmt.Errorf("date: the value is neither RFC 3339 nor YYYY-MM-DD")
		},
		// default returns v unless it is empty (nil, "", false, 0), else def.
		"default": func(def, v any) any {
			switch x := v.(type) {
			case nil:
				return def
			case string:
				if x == "" {
					return def
				}
			case bool:
				if !x {
					return def
				}
			case float64:
				if x == 0 {
					return def
				}
			}
			return v
		},
		// get follows a dotted path through the event and yields nil when any step is missing
		// or null: {{ get .event "assignee.team.name" }} (plain .event.assignee.team.name fails
		// when the task has no team).
		"get": func(v any, path string) any {
			for _, k := range strings.Split(path, ".") {
				m, ok := v.(map[string]any)
				if !ok {
					return nil
				}
				v = m[k]
			}
			return v
		},
		"upper": strings.ToUpper,
		"lower": strings.ToLower,
		"trim":  strings.TrimSpace,
		// join concatenates non-empty strings with sep: {{ join " " .event.patient.first_name .event.patient.last_name }}
		"join": func(sep string, parts ...any) string {
			var out []string
			for _, p := range parts {
				if s, ok := p.(string); ok && s != "" {
					out = append(out, s)
				}
			}
			return strings.Join(out, sep)
		},
		// truncate shortens s to n runes, ending with … when cut.
		"truncate": func(n int, s string) string {
			r := []rune(s)
			if n <= 0 || len(r) <= n {
				return s
			}
			if n == 1 {
				return "…"
			}
			return string(r[:n-1]) + "…"
		},
	}
}
