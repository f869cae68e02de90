package jsonx

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Errors is every problem of a body, each at its JSON pointer.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Prefix returns es with prefix (a pointer) before every path: what a provider reports inside
// its options is at /options/… in the webhook's body.
func (es Errors) Prefix(prefix string) Errors {
	out := make(Errors, len(es))
	for i, e := range es {
		out[i] = &Error{Path: prefix + e.Path, Message: e.Message}
	}
	return out
}

// ErrSyntax is wrapped by Decode's error for a body that is not JSON at all (a 400, where
// Errors are a 422).
var ErrSyntax = errors.New("malformed JSON")

// MaxMessage bounds a message's length: a message quotes at most a short part of a value, so
// that a million-digit number is not echoed back.
const MaxMessage = 300

// MaxProblems bounds how many problems one body reports.
const MaxProblems = 100

// Decode decodes b into v (a pointer) strictly: b must be one JSON value (ErrSyntax
// otherwise) that Check accepts, whose every member fits v's type (Fit); all problems are
// returned together as Errors, each at its full pointer.
func Decode(b []byte, v any) error {
	if !json.Valid(b) {
		var x any
		err := json.Unmarshal(b, &x)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%w: %s (at byte %d)", ErrSyntax, Truncate(strings.TrimPrefix(se.Error(), "json: ")), se.Offset)
		}
		return fmt.Errorf("%w: the body is not one JSON value", ErrSyntax)
	}
	if e := Check(b); e != nil {
		return Errors{e}
	}
	if es := Fit(b, reflect.TypeOf(v)); len(es) > 0 {
		return es
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil { // not expected once Fit found nothing
		return Errors{{Path: "", Message: Truncate(strings.TrimPrefix(err.Error(), "json: "))}}
	}
	return nil
}

// Truncate shortens a message to MaxMessage bytes (at a character boundary).
func Truncate(s string) string {
	if len(s) <= MaxMessage {
		return s
	}
	cut := MaxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (truncated)"
}

// quote shows a short part of a value in a message.
func quote(s string) string {
	if len(s) > 24 {
		cut := 24
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + fmt.Sprintf("… (%d characters)", len(s))
	}
	return s
}

// Fit reports every member of b (well-formed JSON) that does not fit t the way encoding/json
// would decode it, each at its JSON pointer: a key no field takes (encoding/json with
// DisallowUnknownFields reports only the first, without its path), a value of the wrong kind,
// a number that is not whole or out of range for its field (never echoed whole), a value its
// type's own UnmarshalJSON or UnmarshalText refuses. Fields are matched as encoding/json
// matches them (exactly, else ignoring case).
func Fit(b []byte, t reflect.Type) Errors {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return Errors{{Path: "", Message: "is not JSON"}}
	}
	f := fitter{}
	f.fit(v, t, "")
	return f.errs
}

type fitter struct{ errs Errors }

func (f *fitter) add(path, format string, args ...any) {
	if len(f.errs) < MaxProblems {
		f.errs = append(f.errs, &Error{Path: path, Message: Truncate(fmt.Sprintf(format, args...))})
	}
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	rawMessageType      = reflect.TypeFor[json.RawMessage]()
	numberType          = reflect.TypeFor[json.Number]()
)

func escape(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}

func (f *fitter) fit(v any, t reflect.Type, path string) {
	if v == nil { // null: encoding/json leaves the value as it is
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType {
		return
	}
	if t == numberType {
		if _, ok := v.(json.Number); !ok {
			f.add(path, "must be a number, got %s", kind(v))
		}
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		raw, _ := json.Marshal(v)
		if err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
			f.add(path, "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		s, ok := v.(string)
		if !ok {
			f.add(path, "must be a string, got %s", kind(v))
			return
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			f.add(path, "%s", err.Error())
		}
		return
	}
	switch t.Kind() {
	case reflect.Interface:
		f.any(v, path)
	case reflect.String:
		if _, ok := v.(string); !ok {
			f.add(path, "must be a string, got %s", kind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			f.add(path, "must be true or false, got %s", kind(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			f.add(path, "must be a whole number, got %s", kind(v))
			return
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			f.wholeNumber(path, string(n), float64(int64(-1)<<(t.Bits()-1)), float64(uint64(1)<<(t.Bits()-1)-1))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			f.add(path, "must be a whole number, got %s", kind(v))
			return
		}
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			f.wholeNumber(path, string(n), 0, math.Pow(2, float64(t.Bits()))-1)
		}
	case reflect.Float32, reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			f.add(path, "must be a number, got %s", kind(v))
			return
		}
		if _, err := strconv.ParseFloat(string(n), t.Bits()); err != nil {
			f.add(path, "is out of range: %s", quote(string(n)))
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			f.add(path, "must be %s, got %s", describe(t), kind(v))
			return
		}
		if t.Kind() == reflect.Array && len(arr) > t.Len() {
			f.add(path, "must have at most %d items", t.Len())
		}
		for i, e := range arr {
			f.fit(e, t.Elem(), path+"/"+strconv.Itoa(i))
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			f.add(path, "must be %s, got %s", describe(t), kind(v))
			return
		}
		for _, k := range sortedKeys(obj) {
			if t.Key().Kind() != reflect.String && !reflect.PointerTo(t.Key()).Implements(textUnmarshalerType) {
				if _, err := strconv.ParseInt(k, 10, 64); err != nil {
					f.add(path+"/"+escape(k), "the key must be a number")
					continue
				}
			}
			f.fit(obj[k], t.Elem(), path+"/"+escape(k))
		}
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			f.add(path, "must be an object, got %s", kind(v))
			return
		}
		fields := structFields(t)
		for _, k := range sortedKeys(obj) {
			ft, ok := fields.find(k)
			if !ok {
				f.add(path+"/"+escape(k), "unknown field (check the spelling; known: %s)", strings.Join(fields.names, ", "))
				continue
			}
			f.fit(obj[k], ft, path+"/"+escape(k))
		}
	}
}

// any checks what encoding/json decodes into an interface: only numbers can fail (out of the
// float64 range).
func (f *fitter) any(v any, path string) {
	switch x := v.(type) {
	case json.Number:
		if _, err := strconv.ParseFloat(string(x), 64); err != nil {
			f.add(path, "is out of range: %s", quote(string(x)))
		}
	case []any:
		for i, e := range x {
			f.any(e, path+"/"+strconv.Itoa(i))
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			f.any(x[k], path+"/"+escape(k))
		}
	}
}

func (f *fitter) wholeNumber(path, n string, lo, hi float64) {
	x, err := strconv.ParseFloat(n, 64)
	switch {
	case err == nil && x == math.Trunc(x) && x >= lo && x <= hi:
		f.add(path, "must be a whole number written without a fraction or exponent, got %s", quote(n))
	case err == nil && x != math.Trunc(x):
		f.add(path, "must be a whole number, got %s", quote(n))
	default:
		f.add(path, "must be a whole number between %.0f and %.0f, got %s", lo, hi, quote(n))
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// kind names the JSON kind of a decoded value.
func kind(v any) string {
	switch x := v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number (" + quote(string(x)) + ")"
	case bool:
		return "true or false"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "null"
}

// describe names the JSON a Go type takes: "an array of strings" for []string.
func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		switch e := describe(t.Elem()); {
		case e == "true or false":
			return "an array of true or false values"
		case strings.HasPrefix(e, "an array"):
			return "an array of arrays"
		default:
			return "an array of " + strings.TrimPrefix(strings.TrimPrefix(e, "an "), "a ") + "s"
		}
	}
	return "an object"
}

// fieldSet is a struct's JSON members, as encoding/json sees them.
type fieldSet struct {
	byName map[string]reflect.Type
	names  []string
}

func (fs fieldSet) find(key string) (reflect.Type, bool) {
	if t, ok := fs.byName[key]; ok {
		return t, true
	}
	for _, n := range fs.names {
		if strings.EqualFold(n, key) {
			return fs.byName[n], true
		}
	}
	return nil, false
}

func structFields(t reflect.Type) fieldSet {
	fs := fieldSet{byName: map[string]reflect.Type{}}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			ft := sf.Type
			if sf.Anonymous && name == "" {
				et := ft
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					walk(et)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if _, dup := fs.byName[name]; !dup {
				fs.byName[name] = ft
				fs.names = append(fs.names, name)
			}
		}
	}
	walk(t)
	return fs
}
