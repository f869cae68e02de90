package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"github.com/taskhook/taskhook/pkg/jsonx"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Detail is one schema violation: a JSON pointer into the body and what is wrong there.
type Detail struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// MalformedError reports a body that is not JSON at all (HTTP 400).
type MalformedError struct{ Err error }

func (e *MalformedError) Error() string { return "malformed JSON: " + jsonx.Truncate(e.Err.Error()) }
func (e *MalformedError) Unwrap() error { return e.Err }

// InvalidError reports a JSON body that violates its family's schema (HTTP 422).
type InvalidError struct {
	Family     string // "" when the family could not be told (an unknown type)
	SchemaFile string
	Details    []Detail
	Text       bool // the JSON text itself is refused (a key twice, invalid UTF-8, NUL), not the schema
	Internal   bool // the type is an operational event, published by Taskhook only
}

// Summary is the 422 message: which schema the body failed.
func (e *InvalidError) Summary() string {
	switch {
	case e.Text:
		return "the event's JSON holds something Taskhook cannot deliver as it validated it; see details"
	case e.Internal:
		return "the event's type is an operational event, which only Taskhook publishes"
	case e.Family == "":
		return "the event's type is not one Taskhook knows"
	}
	return "the " + e.Family + " event does not match " + e.SchemaFile
}

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Details))
	for i, d := range e.Details {
		parts[i] = d.Path + ": " + d.Message
	}
	return "invalid event: " + strings.Join(parts, "; ")
}

// Validated is an event that passed its family's schema. Body is the event JSON with event_id
// filled in.
type Validated struct {
	ID      string // event_id: from the body, else the idempotency key, else generated
	Type    string // task.created, battery.critical, ...: also the subject
	Family  string // task, report, battery
	Body    []byte
	HadID   bool   // the body carried its own event_id
	Subject string // the NATS subject: the type
	// TypeVersion is the version of a custom type's definition that validated the event (0 for
	// built-in types).
	TypeVersion int
}

// compiled is a family with its compiled schema.
type compiled struct {
	*Family
	schema *jsonschema.Schema
	// perType holds the schemas of a custom family: each of its types has its own.
	perType map[string]customSchema
}

// customSchema is the compiled schema of one custom type and how 422 answers name it.
type customSchema struct {
	schema *jsonschema.Schema
	label  string
}

// schemaFor is the schema a body of typ must match and its name in 422 answers.
func (f *compiled) schemaFor(typ string) (*jsonschema.Schema, string) {
	if s, ok := f.perType[typ]; ok {
		return s.schema, s.label
	}
	return f.schema, f.SchemaFile
}

// snapshot is one immutable state of a Catalog: the built-in families and the custom types
// registered at the time.
type snapshot struct {
	families []*compiled // [0] is the default family (bodies without "type")
	byName   map[string]*compiled
	types    []Type
	byType   map[string]*Type
	printer  *message.Printer
	custom   []Custom // the custom types' definitions, by type name
}

func newPrinter() *message.Printer { return message.NewPrinter(language.English) }

// NewCatalog compiles the families' schemas. The first family is the default one: a body
// without "type" belongs to it (the task family: the Canvas payload has no "type").
func NewCatalog(families ...Family) (*Catalog, error) {
	if len(families) == 0 {
		return nil, errors.New("event catalog: no families")
	}
	c := &snapshot{byName: map[string]*compiled{}, byType: map[string]*Type{}, printer: newPrinter()}
	for i := range families {
		f := &families[i]
		if _, dup := c.byName[f.Name]; dup || f.Name == "" || strings.ContainsAny(f.Name, ".* ") {
			return nil, fmt.Errorf("event catalog: bad or repeated family name %q", f.Name)
		}
		sch, err := compileSchema(f.SchemaID, f.Schema)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.SchemaFile, err)
		}
		cf := &compiled{Family: f, schema: sch}
		c.families = append(c.families, cf)
		c.byName[f.Name] = cf
		for _, t := range f.Types {
			if !strings.HasPrefix(t.Type, f.Name+".") || slices.ContainsFunc(c.types, func(o Type) bool { return o.Type == t.Type }) {
				return nil, fmt.Errorf("event catalog: type %q must be new and start with %q", t.Type, f.Name+".")
			}
			t.Family = f.Name
			c.types = append(c.types, t)
		}
	}
	for i := range c.types {
		c.byType[c.types[i].Type] = &c.types[i]
	}
	return newCatalog(c), nil
}

func compileSchema(id string, raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	// The files keep their $defs for readability; validating through $ref costs a scope per
	// reference (~15% of validation time), so local references are inlined before compiling.
	doc, err = inlineRefs(doc)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.RegisterFormat(&jsonschema.Format{Name: "date-time", Validate: dateTime})
	if err := c.AddResource(id, doc); err != nil {
		return nil, err
	}
	return c.Compile(id)
}

// dateTime is the "date-time" format: exactly what every consumer's decoder (encoding/json
// into time.Time, strict RFC 3339) accepts, so that no accepted event fails to decode later.
// (The schema library's own check takes "+0" for an hour and lowercase separators, which Go
// refuses.)
func dateTime(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	var t time.Time
	if err := t.UnmarshalText([]byte(s)); err != nil {
		return errors.New("not an RFC 3339 date-time such as 2024-01-15T10:00:00Z")
	}
	return nil
}

// Types lists every event type, family by family, in declaration order.
func (c *snapshot) Types() []Type { return c.types }

// PublicTypeNames lists the types publishers may send (every type of a family that is not
// internal).
func (c *snapshot) PublicTypeNames() []string {
	var out []string
	for _, t := range c.types {
		if !c.byName[t.Family].Internal {
			out = append(out, t.Type)
		}
	}
	return out
}

// Internal reports whether typ is a type Taskhook publishes itself (an operational event).
func (c *snapshot) Internal(typ string) bool {
	t := c.byType[typ]
	return t != nil && c.byName[t.Family].Internal
}

// TypeNames lists every event type's name.
func (c *snapshot) TypeNames() []string {
	out := make([]string, len(c.types))
	for i, t := range c.types {
		out[i] = t.Type
	}
	return out
}

// Lookup returns a type and its family; ok is false for an unknown type.
func (c *snapshot) Lookup(typ string) (t Type, f *Family, ok bool) {
	tp := c.byType[typ]
	if tp == nil {
		return Type{}, nil, false
	}
	return *tp, c.byName[tp.Family].Family, true
}

// IsType reports whether typ is a known event type.
func (c *snapshot) IsType(typ string) bool { return c.byType[typ] != nil }

// Families lists the families in declaration order.
func (c *snapshot) Families() []*Family {
	out := make([]*Family, len(c.families))
	for i, f := range c.families {
		out[i] = f.Family
	}
	return out
}

// Subjects lists the stream subjects every family needs.
func (c *snapshot) Subjects() []string { return StreamSubjects(c.Families()...) }

// StreamSubjects lists the stream subjects of families: each family's Subjects, else one
// subject per type.
func StreamSubjects(families ...*Family) []string {
	var out []string
	for _, f := range families {
		if len(f.Subjects) > 0 {
			out = append(out, f.Subjects...)
			continue
		}
		for _, t := range f.Types {
			out = append(out, t.Type)
		}
	}
	return out
}

// Wildcard is the subscription pattern of every type of every family.
const Wildcard = "*"

// Expand turns a subscription pattern into the types it stands for: a type itself,
// "<family>.*" every type of the family, "*" every type of the families that are not internal
// (operational events are only received when named). ok is false for anything else.
func (c *snapshot) Expand(pattern string) (types []string, ok bool) {
	switch {
	case pattern == Wildcard:
		return c.PublicTypeNames(), true
	case c.byType[pattern] != nil:
		return []string{pattern}, true
	}
	name, found := strings.CutSuffix(pattern, ".*")
	f := c.byName[name]
	if !found || f == nil {
		return nil, false
	}
	for _, t := range f.Types {
		types = append(types, t.Type)
	}
	return types, true
}

// Patterns lists the subscription patterns the catalog accepts, for error messages: "*", each
// "<family>.*", then each type.
func (c *snapshot) Patterns() []string {
	out := []string{Wildcard}
	for _, f := range c.families {
		out = append(out, f.Name+".*")
	}
	return append(out, c.TypeNames()...)
}

// Summarize renders an event for chat providers through its family.
func (c *snapshot) Summarize(typ string, raw []byte, loc *time.Location, redact bool) (Summary, error) {
	_, f, ok := c.Lookup(typ)
	if !ok {
		return Summary{}, fmt.Errorf("unknown event type %q", typ)
	}
	if f.Summarize == nil {
		return Summary{}, fmt.Errorf("family %s has no chat summary", f.Name)
	}
	return f.Summarize(typ, raw, loc, redact)
}

// SubjectOf names what an event is about (see Family.Subject); "" when its family names
// nothing.
func (c *Catalog) SubjectOf(typ string, raw []byte) string {
	_, f, ok := c.Lookup(typ)
	if !ok || f.Subject == nil {
		return ""
	}
	return f.Subject(raw)
}

// Closes reports whether an event ends what it is about (see Family.Closes).
func (c *Catalog) Closes(typ string, raw []byte) bool {
	_, f, ok := c.Lookup(typ)
	return ok && f.Closes != nil && f.Closes(typ, raw)
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
// value and *InvalidError when it violates its family's schema. newID is called only when
// neither the body nor key supplies an event id; key must already satisfy ValidIDKey (or be
// empty).
//
// Events of internal families are refused (422 at /type): Taskhook publishes them itself.
func (c *snapshot) Validate(body []byte, key string, newID func() string) (*Validated, error) {
	doc, err := Decode(body)
	if err != nil {
		return nil, err
	}
	return c.ValidateValue(doc, body, key, newID)
}

// ValidateInternal checks an event of an internal family (an operational event Taskhook
// publishes) against its schema; it must carry its "type" and "event_id". Events of other
// families are refused.
func (c *snapshot) ValidateInternal(body []byte) (*Validated, error) {
	doc, err := Decode(body)
	if err != nil {
		return nil, err
	}
	obj, _ := doc.(map[string]any)
	typ, _ := obj["type"].(string)
	if !c.Internal(typ) {
		return nil, &InvalidError{Details: []Detail{{Path: "/type", Message: fmt.Sprintf("%s is not an internal event type", describe(obj["type"]))}}}
	}
	return c.validate(doc, body, "", func() string { return "" }, true)
}

// Decode parses one JSON value for ValidateValue; a body that is not exactly one JSON value is a
// *MalformedError. (json.Unmarshal is a single pass and allocates less than a json.Decoder.)
func Decode(body []byte) (any, error) {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, decodeError(body, err)
	}
	return doc, nil
}

// decodeError is the error of well-formed JSON that still does not decode (a number out of
// float64's range: 1e400, a million digits), 422 at the number's pointer without echoing it,
// else a *MalformedError.
func decodeError(body []byte, err error) error {
	if json.Valid(body) {
		if es := jsonx.Fit(body, reflect.TypeFor[any]()); len(es) > 0 {
			ie := &InvalidError{Text: true}
			for _, e := range es {
				ie.Details = append(ie.Details, Detail{Path: e.Path, Message: e.Message})
			}
			return ie
		}
	}
	return &MalformedError{Err: err}
}

// family picks the family of a decoded body from its "type": the family named before the dot,
// or the default family when there is no "type". An unusable "type" is an *InvalidError.
func (c *snapshot) family(obj map[string]any, internal bool) (*compiled, error) {
	raw, has := obj["type"]
	if !has {
		return c.families[0], nil
	}
	typ, isString := raw.(string)
	if !isString || c.byType[typ] == nil {
		return nil, &InvalidError{Details: []Detail{{Path: "/type", Message: fmt.Sprintf(
			"unknown event type %s; one of: %s (omit it for a task event)", describe(raw), strings.Join(c.PublicTypeNames(), ", "))}}}
	}
	f := c.byName[c.byType[typ].Family]
	if f.Internal && !internal {
		return nil, &InvalidError{Internal: true, Details: []Detail{{Path: "/type", Message: fmt.Sprintf(
			"%s is an operational event that Taskhook publishes itself; it cannot be sent to ingest (publishable types: %s)",
			strconv.Quote(typ), strings.Join(c.PublicTypeNames(), ", "))}}}
	}
	return f, nil
}

// missingType is the detail to lead with when a body without "type" failed the default
// family's schema and does not look like one of its events at all (neither task_id nor its
// event field): most likely an event of another family that forgot its type.
func (c *snapshot) missingType(obj map[string]any, f *compiled) (Detail, bool) {
	if obj == nil || f != c.families[0] || len(c.families) == 1 {
		return Detail{}, false
	}
	if _, has := obj["type"]; has {
		return Detail{}, false
	}
	for _, k := range []string{f.EventField, "task_id"} {
		if _, has := obj[k]; has && k != "" {
			return Detail{}, false
		}
	}
	var others []string
	for _, t := range c.types {
		if t.Family != f.Name && !c.byName[t.Family].Internal {
			others = append(others, t.Type)
		}
	}
	return Detail{Path: "/type", Message: fmt.Sprintf("is required for events other than %s events (%s); without it the body is read as a %s event",
		f.Name, strings.Join(others, ", "), f.Name)}, true
}

func describe(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// ValidateValue is Validate for a body already decoded with Decode. raw must be the JSON text
// of doc.
func (c *snapshot) ValidateValue(doc any, raw []byte, key string, newID func() string) (*Validated, error) {
	return c.validate(doc, raw, key, newID, false)
}

func (c *snapshot) validate(doc any, raw []byte, key string, newID func() string, internal bool) (*Validated, error) {
	obj, isObject := doc.(map[string]any)
	f := c.families[0]
	if isObject {
		var err error
		if f, err = c.family(obj, internal); err != nil {
			return nil, err
		}
	}
	typ, _ := obj["type"].(string)
	schema, schemaFile := f.schemaFor(typ)
	if e := jsonx.Check(raw); e != nil {
		return nil, &InvalidError{Family: f.Name, SchemaFile: schemaFile, Text: true, Details: []Detail{{Path: e.Path, Message: e.Message}}}
	}
	if err := schema.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			ie := &InvalidError{Family: f.Name, SchemaFile: schemaFile, Details: c.details(f.Family, ve)}
			if hint, ok := c.missingType(obj, f); ok {
				ie.Details = append([]Detail{hint}, ie.Details...)
			}
			return nil, ie
		}
		return nil, &InvalidError{Family: f.Name, SchemaFile: schemaFile, Details: []Detail{{Path: "", Message: err.Error()}}}
	}
	if f.perType != nil { // a custom schema need not constrain event_id: Taskhook's rule applies
		if v, has := obj["event_id"]; has {
			if id, ok := v.(string); !ok || !ValidIDKey(id) {
				return nil, &InvalidError{Family: f.Name, SchemaFile: schemaFile, Details: []Detail{{Path: "/event_id", Message: "must be a string of 1 to 128 visible ASCII characters"}}}
			}
		}
	}
	if f.EventField != "" {
		name, ok := obj[f.EventField].(string)
		if !ok { // the family's schema must require it as a string
			return nil, &InvalidError{Family: f.Name, SchemaFile: f.SchemaFile, Details: []Detail{{Path: "/" + escape(f.EventField), Message: "is required"}}}
		}
		derived := f.Name + "." + name
		if typ != "" && typ != derived {
			return nil, &InvalidError{Family: f.Name, SchemaFile: f.SchemaFile, Details: []Detail{{Path: "/type",
				Message: fmt.Sprintf("%q disagrees with %s %q: send %q, or leave type out", typ, f.EventField, obj[f.EventField], derived)}}}
		}
		typ = derived
	}
	out := &Validated{Type: typ, Family: f.Name, Subject: typ}
	if t := c.byType[typ]; t != nil {
		out.TypeVersion = t.Version
	}
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

func (c *snapshot) details(f *Family, ve *jsonschema.ValidationError) []Detail {
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
				out = append(out, Detail{Path: at + "/" + escape(p), Message: "unknown field: not part of the " + f.Name + " event schema (check the spelling)"})
			}
		default:
			out = append(out, Detail{Path: at, Message: e.ErrorKind.LocalizedString(c.printer)})
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

// Item is one element of a JSON array body: its decoded value and its exact bytes, or why it
// cannot be decoded although well formed (Err, an *InvalidError: a number out of range).
type Item struct {
	Doc any
	Raw []byte
	Err error
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
			raw := bytes.TrimLeft(body[start:dec.InputOffset()], ", \t\r\n")
			var ute *json.UnmarshalTypeError
			if !errors.As(err, &ute) || !json.Valid(raw) {
				return nil, &MalformedError{Err: err}
			}
			items = append(items, Item{Raw: raw, Err: decodeError(raw, err)}) // judged alone, as every item
			continue
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
	return "batch body must be a JSON array of events, got " + e.Kind
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
