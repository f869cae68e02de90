package subscription

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// Repeat limits: a webhook field {"key": "<CEL giving a string>", "per": "<duration>"} lets at
// most one delivery per event type and key value through per period; the others are recorded as
// suppressed (see store.Write) and the next one sent says how many. Its rules live here, apart
// from the rest of the webhook's validation, so that they move with it.

// Bounds of a repeat limit.
const (
	MaxRepeatKeyLen = 1000
	MinRepeatPer    = time.Second
	MaxRepeatPer    = 720 * time.Hour
	// MaxRepeatKeyValue is the longest key value stored as is; a longer one is stored as its
	// SHA-256 (so that a hostile event cannot grow the table's index).
	MaxRepeatKeyValue = 200
)

// RepeatLimit is a webhook's repeat limit as stored and shown.
type RepeatLimit struct {
	Key string `json:"key"`
	Per string `json:"per"` // a Go duration, e.g. "24h"
}

// Period is Per as a duration (0 when it does not parse: Check refuses it).
func (r *RepeatLimit) Period() time.Duration {
	d, _ := time.ParseDuration(r.Per)
	return d
}

// ParseRepeatLimit reads the repeat_limit member of a request body into w: absent (nil) leaves
// w unchanged, null removes it. Unknown members and wrong types are problems with pointers.
func ParseRepeatLimit(raw json.RawMessage, w *Webhook) []Problem {
	if raw == nil {
		return nil
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		w.RepeatLimit = nil
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return []Problem{{Path: "/repeat_limit", Message: `must be an object such as {"key": "event.device.id", "per": "24h"}, or null`}}
	}
	var ps []Problem
	r := &RepeatLimit{}
	for k, v := range fields {
		switch k {
		case "key":
			if json.Unmarshal(v, &r.Key) != nil {
				ps = append(ps, Problem{Path: "/repeat_limit/key", Message: "must be a string (a CEL expression such as event.device.id)"})
			}
		case "per":
			if json.Unmarshal(v, &r.Per) != nil {
				ps = append(ps, Problem{Path: "/repeat_limit/per", Message: `must be a duration string such as "24h"`})
			}
		default:
			ps = append(ps, Problem{Path: "/repeat_limit/" + k, Message: "unknown field (repeat_limit takes key and per)"})
		}
	}
	sortProblems(ps)
	w.RepeatLimit = r
	return ps
}

// CheckRepeatLimit validates w's repeat limit: a key expression that compiles and can give a
// string, a period from MinRepeatPer to MaxRepeatPer, and no digest beside it.
func CheckRepeatLimit(f *Filters, w *Webhook) []Problem {
	r := w.RepeatLimit
	if r == nil {
		return nil
	}
	var ps []Problem
	switch {
	case r.Key == "":
		ps = append(ps, Problem{Path: "/repeat_limit/key", Message: "is required: a CEL expression giving the value repeats are counted by, e.g. event.device.id"})
	case len(r.Key) > MaxRepeatKeyLen:
		ps = append(ps, Problem{Path: "/repeat_limit/key", Message: fmt.Sprintf("must be at most %d characters", MaxRepeatKeyLen)})
	default:
		if _, err := f.CompileKey(r.Key); err != nil {
			ps = append(ps, Problem{Path: "/repeat_limit/key", Message: oneLine(err.Error())})
		}
	}
	if d, err := time.ParseDuration(r.Per); r.Per == "" || err != nil {
		ps = append(ps, Problem{Path: "/repeat_limit/per", Message: `is required: a duration such as "24h" or "30m"`})
	} else if d < MinRepeatPer || d > MaxRepeatPer {
		ps = append(ps, Problem{Path: "/repeat_limit/per", Message: fmt.Sprintf("must be from %s to %s", MinRepeatPer, MaxRepeatPer)})
	}
	if w.Digest != nil {
		ps = append(ps, Problem{Path: "/repeat_limit", Message: "cannot be combined with a digest (a digest already sends one message per window); remove one of them"})
	}
	return ps
}

// Key is a compiled repeat-limit key expression.
type Key struct{ prg cel.Program }

// CompileKey compiles a key expression over `event` and `type`: it must give a string (or a
// value only known per event, such as event.device.id, that is a string or a number then).
func (f *Filters) CompileKey(expr string) (*Key, error) {
	ast, iss := f.env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("does not compile: %w", iss.Err())
	}
	out := ast.OutputType()
	if !out.IsExactType(types.StringType) && !out.IsExactType(types.DynType) && !out.IsExactType(types.IntType) {
		return nil, fmt.Errorf("must give a string (e.g. event.device.id), this one gives %s", out)
	}
	prg, err := f.env.Program(ast, cel.CostLimit(CostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	return &Key{prg: prg}, nil
}

// Value is the key of an event; false when the expression gives no usable value for it (a
// missing field, null, a list): such an event is not limited.
func (k *Key) Value(subject string, ev map[string]any) (string, bool) {
	out, _, err := k.prg.Eval(map[string]any{"event": ev, "type": subject})
	if err != nil {
		return "", false
	}
	return keyString(out)
}

func keyString(v ref.Val) (string, bool) {
	var s string
	switch x := v.Value().(type) {
	case string:
		s = x
	case int64, uint64, bool:
		s = fmt.Sprint(x)
	case float64:
		s = fmt.Sprint(x)
	default:
		return "", false
	}
	if len(s) > MaxRepeatKeyValue || !utf8.ValidString(s) {
		sum := sha256.Sum256([]byte(s))
		s = "sha256:" + hex.EncodeToString(sum[:])
	}
	return s, true
}
