package subscription

import (
	"fmt"

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

// Filter is a compiled expression.
type Filter struct{ prg cel.Program }

// Compile checks expr: it must parse, type-check, and yield a boolean.
func (f *Filters) Compile(expr string) (*Filter, error) {
	ast, iss := f.env.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if out := ast.OutputType(); !out.IsExactType(types.BoolType) && !out.IsExactType(types.DynType) {
		return nil, fmt.Errorf("filter must be a boolean expression, this one yields %s", out)
	}
	prg, err := f.env.Program(ast, cel.CostLimit(100000), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	return &Filter{prg: prg}, nil
}

// Match evaluates the filter. Whatever cannot be evaluated (a field the event lacks, a null
// in the path, a type mismatch) makes the expression false, never an error.
func (f *Filter) Match(subject string, ev map[string]any) bool {
	out, _, err := f.prg.Eval(map[string]any{"event": ev, "type": subject})
	if err != nil {
		return false
	}
	b, ok := out.Value().(bool)
	return ok && b
}
