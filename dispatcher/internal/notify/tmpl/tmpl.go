// Package tmpl is the per-webhook custom body: a Go text/template that replaces the provider's
// body (headers and signing stay). Its data uses the JSON names: .type, .timestamp, .event (the
// task event as decoded JSON) and .webhook (.webhook.name, .webhook.id).
package tmpl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"
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
	// Functions are bound per execution (they depend on the webhook's time zone and count the
	// execution's work); parsing only needs their names.
	t, err := template.New("body").Option("missingkey=zero").Funcs(funcs(time.UTC, nil)).Parse(text)
	if err != nil {
		return nil, err
	}
	if len(t.Templates()) > 1 || t.Tree == nil {
		return nil, fmt.Errorf("define and block are not supported: write the body as one template")
	}
	if err := bound(t.Tree.Root); err != nil {
		return nil, err
	}
	return &Template{t: t, contentType: contentType}, nil
}

// MaxIterations bounds the range iterations of one execution, all ranges together (nested
// ones count each inner pass): enough for any message, far too few to hold a CPU.
const MaxIterations = 100000

// bound refuses what cannot be bounded (calls of other templates) and routes every range
// through the counting function, so that an execution stops after MaxIterations iterations or
// at its deadline, however the ranges are nested: {{range 100000000}} fails at once.
func bound(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := bound(c); err != nil {
				return err
			}
		}
	case *parse.TemplateNode:
		return fmt.Errorf("{{template %q}} is not supported: write the body as one template", n.Name)
	case *parse.RangeNode:
		n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pipe.Pos,
			Args: []parse.Node{parse.NewIdentifier(iterateFunc).SetPos(n.Pipe.Pos)}})
		return errors.Join(bound(n.List), bound(n.ElseList))
	case *parse.IfNode:
		return errors.Join(bound(n.List), bound(n.ElseList))
	case *parse.WithNode:
		return errors.Join(bound(n.List), bound(n.ElseList))
	}
	return nil
}

// iterateFunc is the function every range's pipeline ends in (reserved: a template calling it
// itself only spends its own budget).
const iterateFunc = "_taskhook_range"

// budget is what one execution may still spend.
type budget struct {
	left     int
	deadline time.Time // zero: none
}

func (b *budget) spend(n int) error {
	b.left -= n
	switch {
	case b.left < 0:
		return fmt.Errorf("the ranges of this template run more than %d iterations; refused", MaxIterations)
	case !b.deadline.IsZero() && time.Now().After(b.deadline):
		return fmt.Errorf("rendering ran past the attempt's deadline")
	}
	return nil
}

// iterations is how many times range will iterate over v (0 for what range refuses anyway).
func iterations(v any) int {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.String:
		return rv.Len()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(max(rv.Int(), 0))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int(min(rv.Uint(), uint64(MaxIterations)+1))
	case reflect.Float64: // JSON numbers
		return int(max(min(rv.Float(), float64(MaxIterations)+1), 0))
	}
	return 0
}

// ContentType is the Content-Type of rendered bodies.
func (t *Template) ContentType() string { return t.contentType }

func isJSON(ct string) bool {
	ct = strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}

// Render executes the template for a message. An error is permanent (the same template and
// event fail the same way every time) and says why.
func (t *Template) Render(ctx context.Context, target *notify.Target, m *notify.Message) ([]byte, error) {
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
	b := &budget{left: MaxIterations}
	b.deadline, _ = ctx.Deadline()
	var out bytes.Buffer
	w := &limitWriter{buf: &out, left: MaxOutput, budget: b}
	if err := clone.Funcs(funcs(loc, b)).Execute(w, data); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	if isJSON(t.contentType) && !json.Valid(out.Bytes()) {
		return nil, fmt.Errorf("template: output is not valid JSON (Content-Type %s); use the json function to quote values", t.contentType)
	}
	return out.Bytes(), nil
}

type limitWriter struct {
	buf    *bytes.Buffer
	left   int
	budget *budget
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.left {
		return 0, fmt.Errorf("output exceeds %d bytes", MaxOutput)
	}
	if err := l.budget.spend(0); err != nil {
		return 0, err
	}
	l.left -= len(p)
	return l.buf.Write(p)
}

// funcs are the template functions; date formats in loc, and the ranges spend b (nil while
// parsing).
func funcs(loc *time.Location, b *budget) template.FuncMap {
	return template.FuncMap{
		iterateFunc: func(v any) (any, error) {
			if b == nil {
				return v, nil
			}
			return v, b.spend(iterations(v))
		},
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
