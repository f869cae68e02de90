package subscription

import (
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

// Filters compiles CEL filter expressions. The task event is bound to `event` (its fields as in
// the schema) and the subject to `type`.
type Filters struct{ env *cel.Env }

// NewFilters builds the CEL environment.
func NewFilters() (*Filters, error) {
	env, err := cel.NewEnv(
		cel.Variable("event", cel.DynType),
		cel.Variable("type", cel.StringType),
	)
	if err != nil {
		return nil, err
	}
	return &Filters{env: env}, nil
}

// CostLimit bounds one evaluation of a filter (CEL's cost units: about one per operation).
const CostLimit = 100000

// Filter is a compiled expression.
type Filter struct{ prg cel.Program }

// Compile checks expr: it must parse, type-check, and yield a boolean.
func (f *Filters) Compile(expr string) (*Filter, error) {
	ast, iss := f.env.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if out := ast.OutputType(); !out.IsExactType(types.BoolType) {
		if out.IsExactType(types.DynType) {
			return nil, fmt.Errorf("filter must be a boolean expression; this one's value is only known per event (compare it, e.g. %s == \"x\" or %s == true)", expr, expr)
		}
		return nil, fmt.Errorf("filter must be a boolean expression, this one yields %s", out)
	}
	prg, err := f.env.Program(ast, cel.CostLimit(CostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	return &Filter{prg: prg}, nil
}

// Match evaluates the filter. Whatever cannot be evaluated (a field the event lacks, a null
// in the path, a type mismatch) makes the expression false, never an error.
func (f *Filter) Match(subject string, ev map[string]any) bool {
	ok, _ := f.Eval(subject, ev)
	return ok
}

// Eval evaluates the filter and says why it could not.
func (f *Filter) Eval(subject string, ev map[string]any) (bool, error) {
	out, _, err := f.prg.Eval(map[string]any{"event": ev, "type": subject})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	return ok && b, nil
}

// OverCost reports whether err is an evaluation stopped by CostLimit.
func OverCost(err error) bool {
	return err != nil && strings.Contains(err.Error(), "cost limit exceeded")
}
