package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Custom is an event type registered at runtime (the dispatcher's POST /v1/event-types): its
// own JSON Schema, a valid example and how chat channels show it. The dispatcher stores it and
// hands it to every ingest through NATS; both services' catalogs hold it beside the built-in
// families.
type Custom struct {
	Type        string          `json:"type"` // "appointment.missed"
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Example     json.RawMessage `json:"example"`
	Summary     CustomSummary   `json:"summary"`
	Version     int             `json:"version"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// CustomSummary is what Slack and Teams show of a custom event: Go text/template texts over the
// body (.event).
type CustomSummary struct {
	Title    string       `json:"title"`
	Severity string       `json:"severity"` // info, warning or critical
	Facts    []CustomFact `json:"facts"`
	Link     string       `json:"link,omitempty"`
}

// CustomFact is one labelled line of a custom summary; Value is a template.
type CustomFact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Family returns the family of the type: the part before the dot.
func (c Custom) Family() string { f, _, _ := strings.Cut(c.Type, "."); return f }

// Severities of custom summaries, as the API names them, and the colour each takes.
var customSeverities = map[string]Severity{"info": Neutral, "warning": Warning, "critical": Attention}

// SeverityNames lists the severities a custom summary may name.
func SeverityNames() []string { return []string{"info", "warning", "critical"} }

// CustomSeverity is the chat severity of a custom summary's severity name (ok false when unknown).
func CustomSeverity(name string) (Severity, bool) {
	s, ok := customSeverities[name]
	return s, ok
}

// TypeVersionHeader is the NATS header ingest sets on an event of a custom type: the version of
// the type's definition that validated it.
const TypeVersionHeader = "Taskhook-Type-Version"

// Limits of custom types.
const (
	MaxCustomSchemaBytes = 64 << 10
	MaxCustomSchemaDepth = 32
	// MaxSchemaCompile bounds the time one custom schema takes to compile (and its example to
	// validate): a schema that takes longer is refused.
	MaxSchemaCompile = 2 * time.Second
)

var typeName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}\.[a-z][a-z0-9_]{0,63}$`)

// CheckTypeName says what is wrong with a custom type's name ("" when it is fine): <family>.<event>
// in lower case, the family not one of builtin.
func CheckTypeName(name string, builtin []string) string {
	if !typeName.MatchString(name) {
		return fmt.Sprintf("%s is not a type name: write <family>.<event> in lower case, each part a letter then letters, digits or _ (family up to 32 characters, event up to 64), e.g. appointment.missed", strconv.Quote(name))
	}
	fam, _, _ := strings.Cut(name, ".")
	if slices.Contains(builtin, fam) {
		return fmt.Sprintf("the %s family is built in (built-in families: %s); choose another family name", fam, strings.Join(builtin, ", "))
	}
	return ""
}

// errRemote is what the schema compiler's loader answers: a custom schema never fetches anything.
var errRemote = errors.New("remote references are not allowed")

type noLoader struct{}

func (noLoader) Load(string) (any, error) { return nil, errRemote }

// CompileCustomSchema checks and compiles a custom type's schema: at most
// MaxCustomSchemaBytes, an object schema ("type": "object"), only local references (no remote
// $ref: nothing is fetched), 2020-12, compiled within MaxSchemaCompile. Detail paths point into
// the schema.
func CompileCustomSchema(typ string, raw []byte) (*jsonschema.Schema, []Detail) {
	if len(raw) > MaxCustomSchemaBytes {
		return nil, []Detail{{Path: "", Message: fmt.Sprintf("is %d bytes; a schema may have at most %d (64 KiB)", len(raw), MaxCustomSchemaBytes)}}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, []Detail{{Path: "", Message: "is not JSON: " + err.Error()}}
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, []Detail{{Path: "", Message: `must be a JSON Schema object such as {"type": "object", "properties": {...}}`}}
	}
	var ds []Detail
	if t, _ := root["type"].(string); t != "object" {
		ds = append(ds, Detail{Path: "/type", Message: `must be "object": an event is a JSON object`})
	}
	if s, has := root["$schema"]; has && s != "https://json-schema.org/draft/2020-12/schema" {
		ds = append(ds, Detail{Path: "/$schema", Message: `must be "https://json-schema.org/draft/2020-12/schema" or left out`})
	}
	ds = append(ds, localRefs(root, "", 0)...)
	if len(ds) > 0 {
		return nil, ds
	}
	start := time.Now()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.RegisterFormat(&jsonschema.Format{Name: "date-time", Validate: dateTime})
	c.UseLoader(noLoader{})
	id := "https://taskhook.invalid/event-types/" + typ + ".json"
	if err := c.AddResource(id, doc); err != nil {
		return nil, []Detail{{Path: "", Message: "does not compile: " + oneLine(err.Error())}}
	}
	sch, err := c.Compile(id)
	if err != nil {
		return nil, compileDetails(err)
	}
	if took := time.Since(start); took > MaxSchemaCompile {
		return nil, []Detail{{Path: "", Message: fmt.Sprintf("took %s to compile; at most %s: simplify it", took.Round(time.Millisecond), MaxSchemaCompile)}}
	}
	return sch, nil
}

// localRefs finds references that leave the document ($ref, $dynamicRef not starting with #)
// and nesting deeper than MaxCustomSchemaDepth.
func localRefs(v any, at string, depth int) []Detail {
	if depth > MaxCustomSchemaDepth {
		return []Detail{{Path: at, Message: fmt.Sprintf("nests deeper than %d levels", MaxCustomSchemaDepth)}}
	}
	var out []Detail
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := at + "/" + escape(k)
			if k == "$ref" || k == "$dynamicRef" || k == "$recursiveRef" {
				if s, ok := t[k].(string); ok && !strings.HasPrefix(s, "#") {
					out = append(out, Detail{Path: p, Message: fmt.Sprintf("%s refers outside the schema; only local references (#/$defs/...) are allowed: Taskhook fetches nothing", strconv.Quote(s))})
					continue
				}
			}
			out = append(out, localRefs(t[k], p, depth+1)...)
		}
	case []any:
		for i, e := range t {
			out = append(out, localRefs(e, at+"/"+strconv.Itoa(i), depth+1)...)
		}
	}
	return out
}

// compileDetails locates a compile error: a schema that breaks the 2020-12 meta-schema is
// reported at each offending keyword.
func compileDetails(err error) []Detail {
	var se *jsonschema.SchemaValidationError
	var ve *jsonschema.ValidationError
	if errors.As(err, &se) && errors.As(se.Err, &ve) {
		p := newPrinter()
		var out []Detail
		var walk func(e *jsonschema.ValidationError)
		walk = func(e *jsonschema.ValidationError) {
			if len(e.Causes) > 0 {
				for _, c := range e.Causes {
					walk(c)
				}
				return
			}
			out = append(out, Detail{Path: pointer(e.InstanceLocation), Message: "does not compile: " + e.ErrorKind.LocalizedString(p)})
		}
		walk(ve)
		if len(out) > 0 {
			return out
		}
	}
	return []Detail{{Path: "", Message: "does not compile: " + oneLine(err.Error())}}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// SummarizeFunc renders a validated body of one type for chat providers.
type SummarizeFunc func(typ string, raw []byte, loc *time.Location, redact bool) (Summary, error)

// Summarizers builds, for the dispatcher, the chat summary of a custom type (ingest passes nil:
// it renders nothing).
type Summarizers func(Custom) (SummarizeFunc, error)

// Catalog is the set of event types Taskhook knows: the built-in families, and the custom
// types registered at runtime (SetCustom). It validates bodies (picking the schema from
// "type"), lists the types with their schemas and examples, and expands subscription patterns.
// Each call sees one consistent state; it is safe for concurrent use.
type Catalog struct {
	builtin *snapshot
	cur     atomic.Pointer[snapshot]
	gen     atomic.Int64
	mu      sync.Mutex // serializes SetCustom
}

func newCatalog(s *snapshot) *Catalog {
	c := &Catalog{builtin: s}
	c.cur.Store(s)
	return c
}

func (c *Catalog) s() *snapshot { return c.cur.Load() }

// Generation grows with every SetCustom that changed the custom types.
func (c *Catalog) Generation() int64 { return c.gen.Load() }

// BuiltinFamilies lists the names of the built-in families (custom types may not use them).
func (c *Catalog) BuiltinFamilies() []string {
	out := make([]string, len(c.builtin.families))
	for i, f := range c.builtin.families {
		out[i] = f.Name
	}
	return out
}

// Custom lists the custom types installed, by type name.
func (c *Catalog) Custom() []Custom { return slices.Clone(c.s().custom) }

// CustomType returns the installed custom type typ.
func (c *Catalog) CustomType(typ string) (Custom, bool) {
	for _, d := range c.s().custom {
		if d.Type == typ {
			return d, true
		}
	}
	return Custom{}, false
}

// SetCustom replaces the custom types by defs. A definition that does not compile (or names a
// built-in family, or a type twice) is left out and reported in the error; the others are
// installed all the same. sum, when not nil, gives each custom family its chat summary.
func (c *Catalog) SetCustom(defs []Custom, sum Summarizers) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defs = slices.Clone(defs)
	sort.Slice(defs, func(i, j int) bool { return defs[i].Type < defs[j].Type })
	b := c.builtin
	next := &snapshot{byName: map[string]*compiled{}, byType: map[string]*Type{}, printer: b.printer}
	next.families = slices.Clone(b.families)
	for k, v := range b.byName {
		next.byName[k] = v
	}
	next.types = slices.Clone(b.types)
	var errs []error
	builtin := c.BuiltinFamilies()
	summarizers := map[string]SummarizeFunc{}
	for _, d := range defs {
		if msg := CheckTypeName(d.Type, builtin); msg != "" {
			errs = append(errs, fmt.Errorf("custom type %s: %s", d.Type, msg))
			continue
		}
		if slices.ContainsFunc(next.custom, func(o Custom) bool { return o.Type == d.Type }) {
			errs = append(errs, fmt.Errorf("custom type %s: given twice", d.Type))
			continue
		}
		sch, ds := CompileCustomSchema(d.Type, d.Schema)
		if len(ds) > 0 {
			errs = append(errs, fmt.Errorf("custom type %s: schema at %q %s", d.Type, ds[0].Path, ds[0].Message))
			continue
		}
		if sum != nil {
			fn, err := sum(d)
			if err != nil {
				errs = append(errs, fmt.Errorf("custom type %s: summary: %w", d.Type, err))
				continue
			}
			summarizers[d.Type] = fn
		}
		name := d.Family()
		f := next.byName[name]
		if f == nil {
			fam := &Family{Name: name, Description: "custom event types (registered at runtime)", Subjects: []string{name + ".*"}}
			f = &compiled{Family: fam, perType: map[string]customSchema{}}
			if sum != nil {
				fam.Summarize = func(typ string, raw []byte, loc *time.Location, redact bool) (Summary, error) {
					fn, ok := summarizers[typ]
					if !ok {
						return Summary{}, fmt.Errorf("custom type %s has no chat summary", typ)
					}
					return fn(typ, raw, loc, redact)
				}
			}
			next.families = append(next.families, f)
			next.byName[name] = f
		}
		label := fmt.Sprintf("the registered schema of %s, version %d (GET /v1/event-types)", d.Type, d.Version)
		f.perType[d.Type] = customSchema{schema: sch, label: label}
		t := Type{Type: d.Type, Family: name, Label: customLabel(d), Description: d.Description, Example: d.Example, Custom: true, Version: d.Version, Schema: d.Schema}
		f.Types = append(f.Types, t)
		next.types = append(next.types, t)
		next.custom = append(next.custom, d)
	}
	for i := range next.types {
		next.byType[next.types[i].Type] = &next.types[i]
	}
	if !sameCustom(c.s().custom, next.custom) {
		c.gen.Add(1)
	}
	c.cur.Store(next)
	return errors.Join(errs...)
}

// customLabel is how people read a custom type: its summary's title when that is plain text,
// else the type.
func customLabel(d Custom) string {
	if t := strings.TrimSpace(d.Summary.Title); t != "" && !strings.Contains(t, "{{") && len(t) <= 100 {
		return t
	}
	return d.Type
}

func sameCustom(a, b []Custom) bool {
	return slices.EqualFunc(a, b, func(x, y Custom) bool {
		return x.Type == y.Type && x.Version == y.Version && x.UpdatedAt.Equal(y.UpdatedAt)
	})
}

// The catalog's reads, each on the current state.

// Types lists every event type, family by family, in declaration order (custom types last, by
// name).
func (c *Catalog) Types() []Type { return c.s().Types() }

// PublicTypeNames lists the types publishers may send (every type of a family that is not
// internal).
func (c *Catalog) PublicTypeNames() []string { return c.s().PublicTypeNames() }

// Internal reports whether typ is a type Taskhook publishes itself (an operational event).
func (c *Catalog) Internal(typ string) bool { return c.s().Internal(typ) }

// TypeNames lists every event type's name.
func (c *Catalog) TypeNames() []string { return c.s().TypeNames() }

// Lookup returns a type and its family; ok is false for an unknown type.
func (c *Catalog) Lookup(typ string) (Type, *Family, bool) { return c.s().Lookup(typ) }

// IsType reports whether typ is a known event type.
func (c *Catalog) IsType(typ string) bool { return c.s().IsType(typ) }

// Families lists the families in declaration order (custom families last).
func (c *Catalog) Families() []*Family { return c.s().Families() }

// Subjects lists the stream subjects every family needs (a custom family: <family>.*).
func (c *Catalog) Subjects() []string { return c.s().Subjects() }

// Expand turns a subscription pattern into the types it stands for: a type itself,
// "<family>.*" every type of the family, "*" every type of the families that are not internal
// (operational events are only received when named). ok is false for anything else.
func (c *Catalog) Expand(pattern string) ([]string, bool) { return c.s().Expand(pattern) }

// Patterns lists the subscription patterns the catalog accepts, for error messages: "*", each
// "<family>.*", then each type.
func (c *Catalog) Patterns() []string { return c.s().Patterns() }

// Summarize renders an event for chat providers through its family.
func (c *Catalog) Summarize(typ string, raw []byte, loc *time.Location, redact bool) (Summary, error) {
	return c.s().Summarize(typ, raw, loc, redact)
}

// Validate checks one event body. It returns *MalformedError when body is not a single JSON
// value and *InvalidError when it violates its type's schema. newID is called only when
// neither the body nor key supplies an event id; key must already satisfy ValidIDKey (or be
// empty).
//
// Events of internal families are refused (422 at /type): Taskhook publishes them itself.
func (c *Catalog) Validate(body []byte, key string, newID func() string) (*Validated, error) {
	return c.s().Validate(body, key, newID)
}

// ValidateInternal checks an event of an internal family (an operational event Taskhook
// publishes) against its schema; it must carry its "type" and "event_id". Events of other
// families are refused.
func (c *Catalog) ValidateInternal(body []byte) (*Validated, error) {
	return c.s().ValidateInternal(body)
}

// ValidateValue is Validate for a body already decoded with Decode. raw must be the JSON text
// of doc.
func (c *Catalog) ValidateValue(doc any, raw []byte, key string, newID func() string) (*Validated, error) {
	return c.s().ValidateValue(doc, raw, key, newID)
}

// ValidateCustom checks body against a custom type's schema alone (the example of a type about
// to be saved), with the pointers and messages of a 422.
func ValidateCustom(sch *jsonschema.Schema, family string, body []byte) []Detail {
	doc, err := Decode(body)
	if err != nil {
		return []Detail{{Path: "", Message: err.Error()}}
	}
	if _, ok := doc.(map[string]any); !ok {
		return []Detail{{Path: "", Message: "must be a JSON object"}}
	}
	if e := sch.Validate(doc); e != nil {
		var ve *jsonschema.ValidationError
		if errors.As(e, &ve) {
			return (&snapshot{printer: newPrinter()}).details(&Family{Name: family}, ve)
		}
		return []Detail{{Path: "", Message: e.Error()}}
	}
	return nil
}
