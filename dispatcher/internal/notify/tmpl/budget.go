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
	"unicode/utf8"
)

// The budget of one execution. A template is a program written by whoever may save a webhook:
// everything it can spend is counted, so a hostile one fails fast and small instead of holding
// a CPU or allocating without end. Legitimate bodies use a tiny fraction of each number.
const (
	// MaxOutput bounds a rendered body (Teams refuses ~28 KB; 256 KiB is far beyond any sane body).
	MaxOutput = 256 << 10
	// MaxBuilt bounds the bytes that the functions of one execution build, all calls together
	// (printf, print, println, json, html, js, urlquery, upper, lower, join, truncate, date):
	// values kept in variables are counted once when built and never given back, so it also
	// bounds every intermediate value. 1 MiB is four times the largest output.
	MaxBuilt = 1 << 20
	// MaxIterations bounds the range iterations of one execution, all ranges together (nested
	// ones count each inner pass): enough for any message, far too few to hold a CPU.
	MaxIterations = 100000
	// MaxSteps bounds the pipelines ({{…}}, if, with, range) one execution evaluates.
	MaxSteps = 1000000
	// MaxDuration bounds one execution's time (the attempt's own deadline may be sooner).
	MaxDuration = time.Second
)

// ErrBudget is wrapped by every error of an execution that exceeded its budget.
var ErrBudget = errors.New("exceeds its budget")

// overBudget is how much of the budget an execution exceeded: its message names the limit and
// never a value (values may be patient data).
type overBudget struct{ what string }

func (e *overBudget) Error() string { return ErrBudget.Error() + ": " + e.what }
func (e *overBudget) Unwrap() error { return ErrBudget }

func exceeded(format string, args ...any) error { return &overBudget{fmt.Sprintf(format, args...)} }

// maxPad is fmt's own limit on one width or precision (larger ones print %!(BADWIDTH)).
const maxPad = 1e6

// Reserved function names the instrumentation appends to pipelines (a template calling them
// itself only spends its own budget).
const (
	iterateFunc = "_taskhook_range"
	stepFunc    = "_taskhook_step"
)

// instrument refuses what cannot be bounded (calls of other templates) and ends every pipeline
// in a counting function: ranges spend their iterations at once, so {{range 100000000}} fails
// before its first pass, and every {{…}}, if and with counts a step and checks the deadline, so
// an execution stops however its actions are nested.
func instrument(n parse.Node) error {
	count := func(p *parse.PipeNode, fn string) {
		if p == nil || len(p.Cmds) == 0 {
			return
		}
		p.Cmds = append(p.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: p.Pos,
			Args: []parse.Node{parse.NewIdentifier(fn).SetPos(p.Pos)}})
	}
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := instrument(c); err != nil {
				return err
			}
		}
	case *parse.TemplateNode:
		return fmt.Errorf("{{template %q}} is not supported: write the body as one template", n.Name)
	case *parse.ActionNode:
		count(n.Pipe, stepFunc)
	case *parse.RangeNode:
		count(n.Pipe, iterateFunc)
		return errors.Join(instrument(n.List), instrument(n.ElseList))
	case *parse.IfNode:
		count(n.Pipe, stepFunc)
		return errors.Join(instrument(n.List), instrument(n.ElseList))
	case *parse.WithNode:
		count(n.Pipe, stepFunc)
		return errors.Join(instrument(n.List), instrument(n.ElseList))
	}
	return nil
}

// budget is what one execution may still spend. It belongs to one execution (the functions
// close over it): nothing is shared between executions.
type budget struct {
	ctx        context.Context
	iterations int
	steps      int
	built      int
}

func newBudget(ctx context.Context) *budget {
	return &budget{ctx: ctx, iterations: MaxIterations, steps: MaxSteps, built: MaxBuilt}
}

func (b *budget) check() error {
	if err := b.ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return exceeded("rendering ran past its deadline (at most %s, or the attempt's deadline)", MaxDuration)
		}
		return err
	}
	return nil
}

func (b *budget) iterate(n int) error {
	if b.iterations -= n; b.iterations < 0 {
		return exceeded("its ranges run more than %d iterations", MaxIterations)
	}
	return b.check()
}

func (b *budget) step() error {
	if b.steps--; b.steps < 0 {
		return exceeded("it evaluates more than %d actions", MaxSteps)
	}
	return b.check()
}

// before refuses a call whose worst-case result (estimated from its inputs) exceeds what is
// left, so that no single call allocates far beyond the budget; after charges what it built.
func (b *budget) before(fn string, worst int) error {
	if worst > b.built {
		return b.overBuilt(fn)
	}
	return b.check()
}

func (b *budget) after(fn string, built int) error {
	if b.built -= built; b.built < 0 {
		return b.overBuilt(fn)
	}
	return nil
}

func (b *budget) overBuilt(fn string) error {
	return exceeded("%s would build more than the %d bytes of values one execution may build", fn, MaxBuilt)
}

// build runs a string-producing function within the budget.
func build(b *budget, fn string, worst int, f func() (string, error)) (string, error) {
	if b == nil { // parsing: only the names matter
		return f()
	}
	if err := b.before(fn, worst); err != nil {
		return "", err
	}
	s, err := f()
	if err != nil {
		return "", err
	}
	return s, b.after(fn, len(s))
}

// size is an upper bound of the bytes fmt's %v prints for v (a value decoded from JSON, or
// one a function returned), counted only up to limit: strings count their length, every
// other element a fixed 32 bytes, enough for a number, a bool, nil or a separator.
func size(v any, limit int) int {
	n := 0
	var walk func(v any)
	walk = func(v any) {
		if n > limit {
			return
		}
		switch x := v.(type) {
		case string:
			n += len(x) + 32
		case map[string]any:
			for k, e := range x {
				n += len(k)
				walk(e)
			}
			n += 32
		case []any:
			for _, e := range x {
				walk(e)
			}
			n += 32
		default:
			n += 32
		}
	}
	walk(v)
	return n
}

func sizes(args []any, limit int) int {
	n := 0
	for _, a := range args {
		if n > limit {
			break
		}
		n += size(a, limit)
	}
	return n
}

// padding is the most a format's widths and precisions can add: fmt pads or prints digits up
// to each of them (at most maxPad each; a * width counts as maxPad).
func padding(format string) int {
	n := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		for i < len(format) && strings.IndexByte("+-# 0", format[i]) >= 0 {
			i++
		}
		for i < len(format) {
			switch c := format[i]; {
			case c == '[':
				if j := strings.IndexByte(format[i:], ']'); j > 0 {
					i += j
				}
			case c == '*':
				n += maxPad
			case c >= '0' && c <= '9':
				d := 0
				for i < len(format) && format[i] >= '0' && format[i] <= '9' {
					d = min(d*10+int(format[i]-'0'), maxPad)
					i++
				}
				n += d
				continue
			case c == '.':
			default:
				goto verb
			}
			i++
		}
	verb:
	}
	return n
}

// fmtWorst is the worst case of a fmt call: %q, %x and %#v may quadruple a string (\x00 is
// four bytes), plus the format's own text and padding.
func fmtWorst(b *budget, format string, args []any) int {
	if b == nil {
		return 0
	}
	return len(format) + padding(format) + 4*sizes(args, b.built)
}

type limitWriter struct {
	buf    *bytes.Buffer
	left   int
	budget *budget
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.left {
		return 0, exceeded("the output exceeds %d bytes", MaxOutput)
	}
	if err := l.budget.check(); err != nil {
		return 0, err
	}
	l.left -= len(p)
	return l.buf.Write(p)
}

// funcs are the template functions; date formats in loc, and everything spends b (nil while
// parsing). They replace the builtins that build strings (printf, print, println, html, js,
// urlquery) with the same functions, counted.
func funcs(loc *time.Location, b *budget) template.FuncMap {
	escaper := func(name string, esc func(...any) string) func(...any) (string, error) {
		return func(args ...any) (string, error) {
			worst := 0
			if b != nil {
				worst = 6 * sizes(args, b.built) // js writes \u003C for one byte
			}
			return build(b, name, worst, func() (string, error) { return esc(args...), nil })
		}
	}
	return template.FuncMap{
		iterateFunc: func(v any) (any, error) {
			if b == nil {
				return v, nil
			}
			return v, b.iterate(iterations(v))
		},
		stepFunc: func(v any) (any, error) {
			if b == nil {
				return v, nil
			}
			return v, b.step()
		},
		"printf": func(format string, args ...any) (string, error) {
			return build(b, "printf", fmtWorst(b, format, args), func() (string, error) { return fmt.Sprintf(format, args...), nil })
		},
		"print": func(args ...any) (string, error) {
			return build(b, "print", fmtWorst(b, "", args), func() (string, error) { return fmt.Sprint(args...), nil })
		},
		"println": func(args ...any) (string, error) {
			return build(b, "println", fmtWorst(b, "", args)+len(args)+1, func() (string, error) { return fmt.Sprintln(args...), nil })
		},
		"html":     escaper("html", template.HTMLEscaper),
		"js":       escaper("js", template.JSEscaper),
		"urlquery": escaper("urlquery", template.URLQueryEscaper),
		// json renders a value as JSON (strings quoted and escaped).
		"json": func(v any) (string, error) {
			worst := 0
			if b != nil {
				worst = 6 * size(v, b.built) // \u0000 for one byte
			}
			return build(b, "json", worst, func() (string, error) {
				out, err := json.Marshal(v)
				return string(out), err
			})
		},
		// date formats an RFC 3339 time (or YYYY-MM-DD date) with a Go layout in the webhook's
		// time zone: {{ date "Jan 2, 2006 3:04 PM" .event.due_date }}. Empty input gives "".
		"date": func(layout string, v any) (string, error) {
			s, _ := v.(string)
			if s == "" {
				return "", nil
			}
			// A layout element prints at most ~3 times its own length (Monday → Wednesday).
			return build(b, "date", 3*len(layout)+64, func() (string, error) {
				if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
					return t.In(loc).Format(layout), nil
				}
				if t, err := time.Parse(time.DateOnly, s); err == nil {
					return t.Format(layout), nil
				}
				// The value is not quoted: it may be patient data, and errors are stored and shown.
				return "", fmt.Errorf("date: the value is neither RFC 3339 nor YYYY-MM-DD")
			})
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
		// upper and lower: an invalid byte becomes U+FFFD, three bytes.
		"upper": func(s string) (string, error) {
			return build(b, "upper", 3*len(s), func() (string, error) { return strings.ToUpper(s), nil })
		},
		"lower": func(s string) (string, error) {
			return build(b, "lower", 3*len(s), func() (string, error) { return strings.ToLower(s), nil })
		},
		"trim": strings.TrimSpace, // a substring: builds nothing
		// join concatenates non-empty strings with sep: {{ join " " .event.patient.first_name .event.patient.last_name }}
		"join": func(sep string, parts ...any) (string, error) {
			var out []string
			worst := 0
			for _, p := range parts {
				if s, ok := p.(string); ok && s != "" {
					out = append(out, s)
					worst += len(s) + len(sep)
				}
			}
			return build(b, "join", worst, func() (string, error) { return strings.Join(out, sep), nil })
		},
		// truncate shortens s to n runes, ending with … when cut.
		"truncate": func(n int, s string) (string, error) {
			if n <= 0 || utf8.RuneCountInString(s) <= n {
				return s, nil
			}
			return build(b, "truncate", 3*n+3, func() (string, error) {
				if n == 1 {
					return "…", nil
				}
				cut, i := 0, 0
				for i = range s {
					if cut == n-1 {
						break
					}
					cut++
				}
				return strings.ToValidUTF8(s[:i], "\uFFFD") + "…", nil
			})
		},
	}
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
