package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/taskhook/taskhook/schemas"
)

// Detail is one schema violation: a JSON pointer into the body and what is wrong there.
type Detail struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// MalformedError reports a body that is not JSON at all (HTTP 400).
type MalformedError struct{ Err error }

func (e *MalformedError) Error() string { return "malformed JSON: " + e.Err.Error() }
func (e *MalformedError) Unwrap() error { return e.Err }

// InvalidError reports a JSON body that violates the schema (HTTP 422).
type InvalidError struct{ Details []Detail }

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Details))
	for i, d := range e.Details {
		parts[i] = d.Path + ": " + d.Message
	}
	return "invalid task event: " + strings.Join(parts, "; ")
}

// Validated is an event that passed the schema. Body is the event JSON with event_id filled in.
type Validated struct {
	ID      string // event_id: from the body, else the idempotency key, else generated
	Name    string // created, updated, due, overdue
	Body    []byte
	HadID   bool // the body carried its own event_id
	Subject string
}

// Validator checks task events against schemas/task-event.v1.json. It is safe for concurrent use.
type Validator struct {
	schema  *jsonschema.Schema
	printer *message.Printer
}

// NewValidator compiles the embedded task event schema.
func NewValidator() (*Validator, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.TaskEventV1))
	if err != nil {
		return nil, fmt.Errorf("task event schema: %w", err)
	}
	// The file keeps its $defs for readability; validating through $ref costs a scope per
	// reference (~15% of validation time), so local references are inlined before compiling.
	doc, err = inlineRefs(doc)
	if err != nil {
		return nil, fmt.Errorf("task event schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(schemas.TaskEventV1ID, doc); err != nil {
		return nil, fmt.Errorf("task event schema: %w", err)
	}
	sch, err := c.Compile(schemas.TaskEventV1ID)
	if err != nil {
		return nil, fmt.Errorf("task event schema: %w", err)
	}
	return &Validator{schema: sch, printer: message.NewPrinter(language.English)}, nil
}

// inlineRefs replaces every {"$ref": "#/$defs/<name>"} of a schema document by a copy of the
// definition (definitions of this schema do not refer to each other recursively).
func inlineRefs(doc any) (any, error) {
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema is not an object")
	}
	defs, _ := root["$defs"].(map[string]any)
	var walk func(v any, depth int) (any, error)
	walk = func(v any, depth int) (any, error) {
		if depth > 32 {
			return nil, fmt.Errorf("$ref nesting too deep")
		}
		switch t := v.(type) {
		case map[string]any:
			if ref, ok := t["$ref"].(string); ok && len(t) == 1 {
				name, found := strings.CutPrefix(ref, "#/$defs/")
				def, ok := defs[name]
				if !found || !ok {
					return nil, fmt.Errorf("unresolvable $ref %q", ref)
				}
				return walk(def, depth+1)
			}
			out := make(map[string]any, len(t))
			for k, e := range t {
				if k == "$defs" {
					continue
				}
				w, err := walk(e, depth+1)
				if err != nil {
					return nil, err
				}
				out[k] = w
			}
			return out, nil
		case []any:
			out := make([]any, len(t))
			for i, e := range t {
				w, err := walk(e, depth+1)
				if err != nil {
					return nil, err
				}
				out[i] = w
			}
			return out, nil
		}
		return v, nil
	}
	return walk(root, 0)
}

// ValidIDKey reports whether k can serve as an event id (1-128 visible ASCII characters), the
// rule the schema applies to event_id; used for the Idempotency-Key header.
func ValidIDKey(k string) bool {
	if len(k) == 0 || len(k) > 128 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < '!' || k[i] > '~' {
			return false
		}
	}
	return true
}

// Validate checks one event body. It returns *MalformedError when body is not a single JSON
// value and *InvalidError when it violates the schema. newID is called only when neither the
// body nor key supplies an event id; key must already satisfy ValidIDKey (or be empty).
func (v *Validator) Validate(body []byte, key string, newID func() string) (*Validated, error) {
	doc, err := Decode(body)
	if err != nil {
		return nil, err
	}
	return v.ValidateValue(doc, body, key, newID)
}

// Decode parses one JSON value for ValidateValue; a body that is not exactly one JSON value is a
// *MalformedError. (json.Unmarshal is a single pass and allocates less than a json.Decoder;
// numbers become float64, which the schema, having no numeric fields, never inspects.)
func Decode(body []byte) (any, error) {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, &MalformedError{Err: err}
	}
	return doc, nil
}

// ValidateValue is Validate for a body already decoded with Decode. raw must be the JSON text
// of doc.
func (v *Validator) ValidateValue(doc any, raw []byte, key string, newID func() string) (*Validated, error) {
	if err := v.schema.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return nil, &InvalidError{Details: v.details(ve)}
		}
		return nil, &InvalidError{Details: []Detail{{Path: "", Message: err.Error()}}}
	}
	obj := doc.(map[string]any) // the schema requires an object
	out := &Validated{Name: obj["event"].(string)}
	out.Subject = Subject(out.Name)
	if id, ok := obj["event_id"].(string); ok {
		out.ID, out.HadID, out.Body = id, true, raw
		return out, nil
	}
	out.ID = key
	if out.ID == "" {
		out.ID = newID()
	}
	out.Body = withEventID(raw, out.ID)
	return out, nil
}

// withEventID inserts "event_id" as the first member of the JSON object raw.
func withEventID(raw []byte, id string) []byte {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	quoted, _ := json.Marshal(id) // a string always marshals
	out := make([]byte, 0, len(trimmed)+len(quoted)+14)
	out = append(out, `{"event_id":`...)
	out = append(out, quoted...)
	rest := bytes.TrimLeft(trimmed[1:], " \t\r\n")
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}

func (v *Validator) details(ve *jsonschema.ValidationError) []Detail {
	var out []Detail
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		at := pointer(e.InstanceLocation)
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, m := range k.Missing {
				out = append(out, Detail{Path: at + "/" + escape(m), Message: "is required"})
			}
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				out = append(out, Detail{Path: at + "/" + escape(p), Message: "unknown field: not part of the task event schema (check the spelling)"})
			}
		default:
			out = append(out, Detail{Path: at, Message: e.ErrorKind.LocalizedString(v.printer)})
		}
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func pointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(escape(t))
	}
	return sb.String()
}

// escape escapes one JSON pointer reference token (RFC 6901).
func escape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// Item is one element of a JSON array body: its decoded value and its exact bytes.
type Item struct {
	Doc any
	Raw []byte
}

// SplitArray decodes a JSON array of values in one pass, keeping each element's bytes (no copy)
// for publishing as sent. It returns *MalformedError when body is not valid JSON and
// ErrNotArray when it is valid JSON of another kind.
func SplitArray(body []byte) ([]Item, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, &MalformedError{Err: err}
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		if _, err := Decode(body); err != nil {
			return nil, err
		}
		return nil, &NotArrayError{Kind: kindOf(tok)}
	}
	items := []Item{}
	for dec.More() {
		start := dec.InputOffset()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			return nil, &MalformedError{Err: err}
		}
		raw := bytes.TrimLeft(body[start:dec.InputOffset()], ", \t\r\n")
		items = append(items, Item{Doc: doc, Raw: raw})
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return nil, &MalformedError{Err: err}
	}
	if rest := bytes.TrimSpace(body[dec.InputOffset():]); len(rest) > 0 {
		return nil, &MalformedError{Err: fmt.Errorf("invalid data after the top-level array")}
	}
	return items, nil
}

// NotArrayError reports a JSON body that is not an array (HTTP 400 for a batch).
type NotArrayError struct{ Kind string }

func (e *NotArrayError) Error() string {
	return "batch body must be a JSON array of task events, got " + e.Kind
}

func kindOf(tok json.Token) string {
	switch t := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		if t == '{' {
			return "an object"
		}
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "something else"
}
