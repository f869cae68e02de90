package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/eventtypes"
	"github.com/taskhook/taskhook/pkg/event"
)

// The event types pages: every type (built-in and custom) with its schema and example; admins
// create and edit custom types. The form posts to the same /v1/event-types API, which checks
// the example against the schema (and renders the summary on it) before anything is saved.

// typeForm is the event type form as typed.
type typeForm struct {
	Type, Description, Schema, Example string
	Title, Severity, Link              string
	Facts                              []event.CustomFact // always FormFacts rows
}

// FormFacts is how many fact rows the form offers.
const FormFacts = 8

type typeFormData struct {
	F       *typeForm
	Edit    bool // replacing an existing type (the name is fixed)
	Version int
	Errors  map[string][]string
	Problem string
	Other   []string
}

// typeFields maps the API's pointers onto the form's fields (the longest prefix wins).
var typeFields = []struct{ pointer, field string }{
	{"/type", "type"}, {"/description", "description"}, {"/schema", "schema"}, {"/example", "example"},
	{"/summary/title", "title"}, {"/summary/severity", "severity"}, {"/summary/link", "link"}, {"/summary/facts", "facts"},
}

func typeFieldOf(pointer string) string {
	for _, f := range typeFields {
		if pointer == f.pointer || strings.HasPrefix(pointer, f.pointer+"/") {
			return f.field
		}
	}
	return ""
}

// typeCard is one type on the list page, its schema and example as compact JSON text.
type typeCard struct {
	eventtypes.View
	SchemaText, ExampleText string
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

func (u *UI) eventTypesPage(c echo.Context) error {
	var list struct {
		EventTypes []eventtypes.View `json:"event_types"`
	}
	if err := u.call(c, http.MethodGet, "/v1/event-types", nil, &list); err != nil {
		return err
	}
	var custom, builtin []typeCard
	for _, t := range list.EventTypes {
		card := typeCard{View: t, SchemaText: compactJSON(t.Schema), ExampleText: compactJSON(t.Example)}
		if t.Custom {
			custom = append(custom, card)
		} else {
			builtin = append(builtin, card)
		}
	}
	return u.render(c, http.StatusOK, "eventtypes", "Event types", "eventtypes", map[string]any{"Custom": custom, "Builtin": builtin})
}

func (u *UI) newTypePage(c echo.Context) error {
	f := &typeForm{Severity: "info", Schema: "{\n  \"type\": \"object\",\n  \"required\": [],\n  \"properties\": {}\n}", Example: "{}"}
	f.pad()
	return u.render(c, http.StatusOK, "eventtypeform", "New event type", "eventtypes", &typeFormData{F: f, Errors: map[string][]string{}})
}

func (f *typeForm) pad() {
	for len(f.Facts) < FormFacts {
		f.Facts = append(f.Facts, event.CustomFact{})
	}
}

func pretty(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func (u *UI) editTypePage(c echo.Context) error {
	var t eventtypes.View
	if err := u.call(c, http.MethodGet, "/v1/event-types/"+c.Param("type"), nil, &t); err != nil {
		return err
	}
	if !t.Custom {
		return &pageError{Status: http.StatusNotFound, Message: "Built-in event types cannot be edited."}
	}
	f := &typeForm{Type: t.Type, Description: t.Description, Schema: pretty(t.Schema), Example: pretty(t.Example)}
	if s := t.Summary; s != nil {
		f.Title, f.Severity, f.Link, f.Facts = s.Title, s.Severity, s.Link, append([]event.CustomFact{}, s.Facts...)
	}
	f.pad()
	return u.render(c, http.StatusOK, "eventtypeform", "Edit "+t.Type, "eventtypes", &typeFormData{F: f, Edit: true, Version: t.Version, Errors: map[string][]string{}})
}

func parseTypeForm(c echo.Context) (*typeForm, error) {
	params, err := c.FormParams()
	if err != nil {
		return nil, err
	}
	v := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	f := &typeForm{Type: v("type"), Description: v("description"), Schema: c.FormValue("schema"), Example: c.FormValue("example"),
		Title: v("title"), Severity: v("severity"), Link: v("link")}
	names, values := params["fact_name"], params["fact_value"]
	for i := 0; i < len(names) && i < len(values) && i < 100; i++ {
		f.Facts = append(f.Facts, event.CustomFact{Name: strings.TrimSpace(names[i]), Value: strings.TrimSpace(values[i])})
	}
	return f, nil
}

// definition is the API body of the form; a schema or example that is not JSON is a problem
// of its field.
func (f *typeForm) definition() (map[string]any, map[string][]string) {
	errs := map[string][]string{}
	raw := func(field, text string) json.RawMessage {
		text = strings.TrimSpace(text)
		if text == "" {
			return nil
		}
		if !json.Valid([]byte(text)) {
			var x any
			err := json.Unmarshal([]byte(text), &x)
			errs[field] = append(errs[field], "is not valid JSON: "+strings.TrimPrefix(err.Error(), "json: "))
			return nil
		}
		return json.RawMessage(text)
	}
	facts := []event.CustomFact{}
	for _, fc := range f.Facts {
		if fc.Name != "" || fc.Value != "" {
			facts = append(facts, fc)
		}
	}
	def := map[string]any{"type": f.Type, "description": f.Description, "schema": raw("schema", f.Schema), "example": raw("example", f.Example),
		"summary": map[string]any{"title": f.Title, "severity": f.Severity, "facts": facts, "link": f.Link}}
	return def, errs
}

func (u *UI) saveType(c echo.Context) error {
	f, err := parseTypeForm(c)
	if err != nil {
		return err
	}
	edit := c.Param("type") != ""
	if edit {
		f.Type = c.Param("type")
	}
	d := &typeFormData{F: f, Edit: edit, Errors: map[string][]string{}}
	def, jsonErrs := f.definition()
	if len(jsonErrs) > 0 {
		d.Errors, d.Problem = jsonErrs, "The event type is not valid; see the fields marked below."
		f.pad()
		return u.render(c, http.StatusUnprocessableEntity, "eventtypeform", "Event type", "eventtypes", d)
	}
	if edit {
		err = u.call(c, http.MethodPut, "/v1/event-types/"+f.Type, def, nil)
	} else {
		err = u.call(c, http.MethodPost, "/v1/event-types", def, nil)
	}
	var ae *apiError
	if errors.As(err, &ae) && (ae.Status == http.StatusUnprocessableEntity || ae.Status == http.StatusConflict) {
		d.Problem = ae.Message
		for _, p := range ae.Details {
			if fld := typeFieldOf(p.Path); fld != "" {
				msg := p.Message
				if rest := strings.TrimPrefix(p.Path, "/"+fieldPath(fld)); rest != "" && rest != p.Path {
					msg = where(fld, rest) + ": " + msg // where inside the schema, example or facts
				}
				d.Errors[fld] = append(d.Errors[fld], msg)
			} else {
				d.Other = append(d.Other, fmt.Sprintf("%s: %s", p.Path, p.Message))
			}
		}
		f.pad()
		return u.render(c, ae.Status, "eventtypeform", "Event type", "eventtypes", d)
	}
	if err != nil {
		return err
	}
	return redirect(c, "/ui/event-types", "typesaved")
}

// where names a place inside a field: "fact 2 value" for /1/value of the facts, the pointer
// otherwise.
func where(field, rest string) string {
	if field == "facts" {
		parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
		if n, err := strconv.Atoi(parts[0]); err == nil {
			out := "fact " + strconv.Itoa(n+1)
			if len(parts) > 1 {
				out += " " + map[string]string{"name": "label", "value": "value"}[parts[1]]
			}
			return strings.TrimSpace(out)
		}
	}
	return "at " + rest
}

// fieldPath is the pointer of a form field without its leading slash.
func fieldPath(field string) string {
	for _, f := range typeFields {
		if f.field == field {
			return strings.TrimPrefix(f.pointer, "/")
		}
	}
	return field
}

// FactRow is one fact row of the form, numbered from 1 for its labels.
type FactRow struct {
	N           string
	Name, Value string
}

// Rows are the form's fact rows.
func (f *typeForm) Rows() []FactRow {
	out := make([]FactRow, len(f.Facts))
	for i, fc := range f.Facts {
		out[i] = FactRow{N: strconv.Itoa(i + 1), Name: fc.Name, Value: fc.Value}
	}
	return out
}
