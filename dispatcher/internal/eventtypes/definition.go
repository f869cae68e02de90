// Package eventtypes is the registry of custom event types: the rules a definition must pass
// (name, schema, example, summary templates), its chat summary rendered through the webhook
// template engine, the admin API (POST, GET, PUT, DELETE /v1/event-types) and the publisher that
// copies the stored types to the stream's subjects and the key-value bucket ingest watches.
package eventtypes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/tmpl"
	"github.com/taskhook/taskhook/pkg/event"
)

// Limits of a definition.
const (
	MaxDescription  = 2000
	MaxExampleBytes = 64 << 10
	MaxTemplate     = 2000 // each summary template, in bytes
	MaxFacts        = 20
	MaxFactName     = 100
	// RenderTimeout bounds rendering one summary (every template together), at save time and
	// at delivery.
	RenderTimeout = time.Second
)

// Definition is the body of POST and PUT /v1/event-types.
type Definition struct {
	Type        string              `json:"type"`
	Description string              `json:"description"`
	Schema      json.RawMessage     `json:"schema"`
	Example     json.RawMessage     `json:"example"`
	Summary     event.CustomSummary `json:"summary"`
}

// Problem is one thing wrong with a definition: a JSON pointer into the request body and what
// to fix there.
type Problem = event.Detail

// Check validates d against the rules (builtin: the families custom types may not use) and
// returns the definition to store (the example gains "type" when it lacks it; the severity
// defaults to info) or every problem found, each with its pointer.
func Check(ctx context.Context, d Definition, builtin []string) (event.Custom, []Problem) {
	var ps []Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if d.Type == "" {
		add("/type", "is required: <family>.<event> in lower case, e.g. appointment.missed")
	} else if msg := event.CheckTypeName(d.Type, builtin); msg != "" {
		add("/type", "%s", msg)
	}
	if utf8.RuneCountInString(d.Description) > MaxDescription {
		add("/description", "must be at most %d characters", MaxDescription)
	}
	out := event.Custom{Type: d.Type, Description: strings.TrimSpace(d.Description), Summary: d.Summary}
	if out.Summary.Severity == "" {
		out.Summary.Severity = "info"
	}
	schema, schemaOK := compact(d.Schema)
	var compiled bool
	switch {
	case !schemaOK:
		add("/schema", `is required: a JSON Schema (2020-12) of an object, e.g. {"type": "object", "required": [...], "properties": {...}}`)
	case len(ps) > 0 && ps[0].Path == "/type":
		// The schema is compiled under the type's name: fix the name first.
	default:
		sch, ds := event.CompileCustomSchema(d.Type, schema)
		for _, x := range ds {
			ps = append(ps, Problem{Path: "/schema" + x.Path, Message: x.Message})
		}
		if sch != nil {
			compiled = true
			example, eps := checkExample(d.Type, d.Example)
			ps = append(ps, eps...)
			if len(eps) == 0 {
				start := time.Now()
				for _, x := range event.ValidateCustom(sch, d.Type[:strings.IndexByte(d.Type, '.')], example) {
					ps = append(ps, Problem{Path: "/example" + x.Path, Message: x.Message + " (the example must be valid against the schema)"})
				}
				if took := time.Since(start); took > event.MaxSchemaCompile {
					add("/schema", "took %s to validate the example; at most %s: simplify it", took.Round(time.Millisecond), event.MaxSchemaCompile)
				}
				out.Example = example
			}
		}
	}
	out.Schema = schema
	sps := checkSummary(ctx, out, compiled && len(ps) == 0)
	ps = append(ps, sps...)
	if len(ps) > 0 {
		return event.Custom{}, ps
	}
	return out, nil
}

// compact is raw without insignificant space, false when absent or null.
func compact(raw json.RawMessage) ([]byte, bool) {
	s := bytes.TrimSpace(raw)
	if len(s) == 0 || string(s) == "null" {
		return nil, false
	}
	var b bytes.Buffer
	if err := json.Compact(&b, s); err != nil {
		return nil, false
	}
	return b.Bytes(), true
}

// checkExample returns the example as stored: an object of the type, "type" first when it was
// left out.
func checkExample(typ string, raw json.RawMessage) ([]byte, []Problem) {
	ex, ok := compact(raw)
	if !ok {
		return nil, []Problem{{Path: "/example", Message: "is required: an event of this type, valid against the schema (shown to publishers and used to check filters and the summary)"}}
	}
	if len(ex) > MaxExampleBytes {
		return nil, []Problem{{Path: "/example", Message: fmt.Sprintf("is %d bytes; at most %d", len(ex), MaxExampleBytes)}}
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(ex, &obj) != nil {
		return nil, []Problem{{Path: "/example", Message: "must be a JSON object (an event body)"}}
	}
	t, has := obj["type"]
	if !has {
		quoted, _ := json.Marshal(typ)
		if string(ex) == "{}" {
			return []byte(`{"type":` + string(quoted) + `}`), nil
		}
		return append([]byte(`{"type":`+string(quoted)+`,`), ex[1:]...), nil
	}
	var s string
	if json.Unmarshal(t, &s) != nil || s != typ {
		return nil, []Problem{{Path: "/example/type", Message: fmt.Sprintf("must be %s (or left out)", strconv.Quote(typ))}}
	}
	return ex, nil
}

// checkSummary checks the summary's form and that its templates parse; with render, it also
// renders them on the example (within the budget of a delivery).
func checkSummary(ctx context.Context, d event.Custom, render bool) []Problem {
	var ps []Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	s := d.Summary
	parse := func(path, text string) {
		if len(text) > MaxTemplate {
			add(path, "must be at most %d bytes", MaxTemplate)
		} else if _, err := tmpl.Parse(text, "text/plain"); err != nil {
			add(path, "does not parse: %s", oneLine(err.Error()))
		}
	}
	if strings.TrimSpace(s.Title) == "" {
		add("/summary/title", `is required: the message's header, a template over the body such as "Missed appointment: {{.event.clinic}}"`)
	} else {
		parse("/summary/title", s.Title)
	}
	if _, ok := event.CustomSeverity(s.Severity); !ok {
		add("/summary/severity", "must be one of %s (its colour in Slack and Teams)", strings.Join(event.SeverityNames(), ", "))
	}
	if len(s.Facts) > MaxFacts {
		add("/summary/facts", "must list at most %d facts", MaxFacts)
	}
	for i, f := range s.Facts {
		at := "/summary/facts/" + strconv.Itoa(i)
		switch n := strings.TrimSpace(f.Name); {
		case n == "":
			add(at+"/name", "is required: the fact's label, e.g. Patient")
		case utf8.RuneCountInString(n) > MaxFactName:
			add(at+"/name", "must be at most %d characters", MaxFactName)
		}
		if strings.TrimSpace(f.Value) == "" {
			add(at+"/value", `is required: a template over the body, e.g. "{{.event.patient.name}}"`)
		} else {
			parse(at+"/value", f.Value)
		}
	}
	if s.Link != "" {
		parse("/summary/link", s.Link)
	}
	if len(ps) > 0 || !render {
		return ps
	}
	r, err := newRenderer(d)
	if err != nil {
		return []Problem{{Path: "/summary", Message: err.Error()}}
	}
	out, err := r.render(ctx, d.Type, d.Example, time.UTC)
	if err != nil {
		var re *renderError
		if asRenderError(err, &re) {
			return []Problem{{Path: re.path, Message: "fails on the example: " + re.msg}}
		}
		return []Problem{{Path: "/summary", Message: "fails on the example: " + err.Error()}}
	}
	if s.Link != "" && out.Link == nil && r.lastLink != "" {
		add("/summary/link", "renders %s on the example; it must give an absolute http or https URL", strconv.Quote(chatTruncate(r.lastLink, 80)))
	}
	return ps
}

// renderer is a custom type's summary with its templates parsed.
type renderer struct {
	title    *tmpl.Template
	severity event.Severity
	names    []string
	facts    []*tmpl.Template
	link     *tmpl.Template
	lastLink string // what the link rendered last (for the save-time message)
}

func newRenderer(d event.Custom) (*renderer, error) {
	sev, ok := event.CustomSeverity(d.Summary.Severity)
	if !ok {
		sev = event.Neutral
	}
	r := &renderer{severity: sev}
	var err error
	if r.title, err = tmpl.Parse(d.Summary.Title, "text/plain"); err != nil {
		return nil, fmt.Errorf("title: %w", err)
	}
	for i, f := range d.Summary.Facts {
		t, err := tmpl.Parse(f.Value, "text/plain")
		if err != nil {
			return nil, fmt.Errorf("fact %d: %w", i, err)
		}
		r.names = append(r.names, strings.TrimSpace(f.Name))
		r.facts = append(r.facts, t)
	}
	if d.Summary.Link != "" {
		if r.link, err = tmpl.Parse(d.Summary.Link, "text/plain"); err != nil {
			return nil, fmt.Errorf("link: %w", err)
		}
	}
	return r, nil
}

// renderError is a template that failed, with where it is in the definition.
type renderError struct{ path, msg string }

func (e *renderError) Error() string { return e.path + ": " + e.msg }

func asRenderError(err error, out **renderError) bool {
	re, ok := err.(*renderError)
	if ok {
		*out = re
	}
	return ok
}

// LinkLabel is the text of a custom summary's link button.
const LinkLabel = "Open"

// render is the summary of one event: every template within RenderTimeout together.
func (r *renderer) render(ctx context.Context, typ string, raw []byte, loc *time.Location) (event.Summary, error) {
	ctx, cancel := context.WithTimeout(ctx, RenderTimeout)
	defer cancel()
	target := &notify.Target{Location: loc}
	msg := &notify.Message{Type: typ, Timestamp: time.Now(), Event: event.NewLazy(raw)}
	run := func(path string, t *tmpl.Template) (string, error) {
		b, err := t.Render(ctx, target, msg)
		if err != nil {
			return "", &renderError{path: path, msg: strings.TrimPrefix(oneLine(err.Error()), "template: ")}
		}
		// A field the event leaves out prints as text/template's "<no value>": show nothing.
		return strings.TrimSpace(strings.ReplaceAll(string(b), "<no value>", "")), nil
	}
	title, err := run("/summary/title", r.title)
	if err != nil {
		return event.Summary{}, err
	}
	if title == "" {
		title = typ
	}
	s := event.Summary{Title: title, Severity: r.severity}
	for i, t := range r.facts {
		v, err := run("/summary/facts/"+strconv.Itoa(i)+"/value", t)
		if err != nil {
			return event.Summary{}, err
		}
		s.Add(r.names[i], v)
	}
	if r.link != nil {
		v, err := run("/summary/link", r.link)
		if err != nil {
			return event.Summary{}, err
		}
		r.lastLink = v
		if u, err := url.Parse(v); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil && !strings.ContainsAny(v, " \t\r\n") {
			s.Link = &event.Link{Label: LinkLabel, URL: v}
		}
	}
	return s, nil
}

// Summarizers gives each custom type its chat summary (event.Summarizers, for the catalog). A
// template that fails or exceeds its budget on an event fails that delivery, with the reason.
func Summarizers(d event.Custom) (event.SummarizeFunc, error) {
	r, err := newRenderer(d)
	if err != nil {
		return nil, err
	}
	return func(typ string, raw []byte, loc *time.Location, _ bool) (event.Summary, error) {
		// A renderer per call: lastLink is per render.
		rr := *r
		s, err := rr.render(context.Background(), typ, raw, loc)
		if err != nil {
			return s, fmt.Errorf("the summary of %s: %w", typ, err)
		}
		return s, nil
	}, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func chatTruncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
