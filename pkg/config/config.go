// Package config loads a service's configuration from environment variables into a flat struct
// (github.com/caarlos0/env tags plus a `help` tag), prints `-h` usage listing every variable with
// its default, and turns every failure into one line that names the variable.
package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/caarlos0/env/v11"
)

// Load fills cfg (a pointer to a flat struct) from environ (os.Environ() form).
func Load(cfg any, environ []string) error {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	err := env.ParseWithOptions(cfg, env.Options{Environment: vars})
	if err == nil {
		return nil
	}
	return oneLine(cfg, err)
}

// oneLine reduces the library's aggregate error to its first problem, named by variable.
func oneLine(cfg any, err error) error {
	keys := fieldKeys(cfg)
	var agg env.AggregateError
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		err = agg.Errors[0]
	}
	var notSet env.VarIsNotSetError
	var empty env.EmptyVarError
	var parse env.ParseError
	switch {
	case errors.As(err, &notSet):
		return fmt.Errorf("%s is required but not set (%s)", notSet.Key, help(cfg, notSet.Key))
	case errors.As(err, &empty):
		return fmt.Errorf("%s is required but empty (%s)", empty.Key, help(cfg, empty.Key))
	case errors.As(err, &parse):
		key := keys[parse.Name]
		return fmt.Errorf("%s: cannot parse as %s: %v", key, typeName(parse.Type), unwrapAll(parse.Err))
	}
	return fmt.Errorf("configuration: %v", err)
}

func typeName(t reflect.Type) string {
	switch t.String() {
	case "time.Duration":
		return "a Go duration such as 5s or 2m"
	case "bool":
		return "true or false"
	case "int", "int64", "uint64":
		return "an integer"
	case "float64":
		return "a number"
	case "config.Bytes":
		return "a size such as 4MiB, 512KiB or 1048576"
	}
	return t.String()
}

func unwrapAll(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

type field struct {
	key, def, help string
	required       bool
}

func fields(cfg any) []field {
	params, err := env.GetFieldParams(cfg)
	if err != nil {
		return nil
	}
	t := reflect.TypeOf(cfg).Elem()
	out := make([]field, 0, len(params))
	i := 0
	for j := 0; j < t.NumField(); j++ {
		sf := t.Field(j)
		if sf.Tag.Get("env") == "" || i >= len(params) {
			continue
		}
		p := params[i]
		i++
		out = append(out, field{key: p.Key, def: p.DefaultValue, help: sf.Tag.Get("help"), required: p.Required || p.NotEmpty})
	}
	return out
}

func fieldKeys(cfg any) map[string]string {
	t := reflect.TypeOf(cfg).Elem()
	out := map[string]string{}
	for j := 0; j < t.NumField(); j++ {
		sf := t.Field(j)
		if tag := sf.Tag.Get("env"); tag != "" {
			out[sf.Name], _, _ = strings.Cut(tag, ",")
		}
	}
	return out
}

func help(cfg any, key string) string {
	for _, f := range fields(cfg) {
		if f.key == key {
			return f.help
		}
	}
	return ""
}

// Usage prints a usage text: the summary, then every variable with its default and meaning.
func Usage(w io.Writer, program, summary string, cfg any) {
	fmt.Fprintf(w, "Usage: %s [-h]\n\n%s\n\nConfigured by environment variables:\n\n", program, summary)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  VARIABLE\tDEFAULT\tMEANING")
	for _, f := range fields(cfg) {
		def := f.def
		switch {
		case f.required:
			def = "(required)"
		case def == "":
			def = "(empty)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.key, def, f.help)
	}
	tw.Flush()
}

// HandleArgs implements the command line shared by Taskhook's binaries: `-h`/`--help` prints
// usage and reports done=true; `healthcheck` calls probe (container health checks); any other
// argument is an error.
func HandleArgs(args []string, stdout io.Writer, program, summary string, cfg any, probe func() error) (done bool, err error) {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "help":
			Usage(stdout, program, summary, cfg)
			fmt.Fprintf(stdout, "\nSubcommands:\n  %s healthcheck   exit 0 when the running service answers /healthz (for container health checks)\n", program)
			return true, nil
		case "healthcheck":
			if probe == nil {
				return true, fmt.Errorf("healthcheck is not supported")
			}
			if err := probe(); err != nil {
				return true, fmt.Errorf("healthcheck: %w", err)
			}
			return true, nil
		default:
			return true, fmt.Errorf("unknown argument %q (configuration comes from the environment; run %s -h)", a, program)
		}
	}
	return false, nil
}

// SplitList splits a comma-separated value, trimming spaces and dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Exit prints err as one line prefixed with the program name and exits with status 2.
func Exit(program string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
	os.Exit(2)
}

// TuneGC sets the garbage collector's target percentage unless the operator set GOGC. Taskhook's
// services keep small heaps of short-lived request garbage, so collecting less often trades a
// few megabytes for markedly less CPU (measured in BENCHMARKS.md).
func TuneGC(percent int) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(percent)
	}
}
