package tmpl

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
)

// TestBudgetBoundsEveryValue: templates that build large values without writing them (the
// doubling printf the probe found, and the same trick with every other function that builds a
// string) fail fast, with ErrBudget, after allocating a small multiple of MaxBuilt.
func TestBudgetBoundsEveryValue(t *testing.T) {
	wide := `{{ $x := printf "` + strings.Repeat("%999999s", 60) + `" } }}`
	wide = strings.Replace(wide, `" } }}`, `" }}`, 1)
	cases := []string{
		`{{ $x := printf "%999999s" "x" }}{{ range 8 }}{{ $x = printf "%s%s" $x $x }}{{ end }}{{ len $x }}`,
		`{{ $x := printf "%999999s" "x" }}{{ range 30 }}{{ $x = printf "%s%s" $x $x }}{{ end }}{{ len $x }}`,
		wide,
		`{{ $x := printf "%*s" 999999 "x" }}{{ range 40 }}{{ $x = printf "%*s%s" 999999 $x $x }}{{ end }}`,
		`{{ $x := .event.title }}{{ range 40 }}{{ $x = print $x $x }}{{ end }}{{ len $x }}`,
		`{{ $x := .event.title }}{{ range 40 }}{{ $x = println $x $x }}{{ end }}{{ len $x }}`,
		`{{ $x := .event.title }}{{ range 40 }}{{ $x = json (slice (print $x $x) 0) }}{{ end }}{{ len $x }}`,
		`{{ $x := .event.title }}{{ range 40 }}{{ $x = join $x $x $x }}{{ end }}{{ len $x }}`,
		`{{ $x := "<>" }}{{ range 40 }}{{ $x = html $x $x }}{{ end }}{{ len $x }}`,
		`{{ $x := "<>" }}{{ range 40 }}{{ $x = js $x $x }}{{ end }}{{ len $x }}`,
		`{{ $x := "<>" }}{{ range 40 }}{{ $x = urlquery $x $x }}{{ end }}{{ len $x }}`,
		`{{ $x := .event.title }}{{ range 40 }}{{ $x = upper (print $x $x) }}{{ end }}{{ len $x }}`,
		`{{ $x := .event.title }}{{ range 40 }}{{ $x = lower (print $x $x) }}{{ end }}{{ len $x }}`,
		`{{ $x := .event.title }}{{ range 40 }}{{ $x = truncate 100000000 (print $x $x) }}{{ end }}{{ len $x }}`,
		`{{ $x := printf "%999999s" "2006" }}{{ range 40 }}{{ $x = date (print $x $x) "2024-01-01" }}{{ end }}`,
		`{{ range 100000 }}{{ $a := printf "%50s" "x" }}{{ end }}`, // many small values add up
		`{{ range 99999 }}{{ if 1 }}{{ if 1 }}{{ if 1 }}{{ if 1 }}{{ if 1 }}{{ if 1 }}{{ if 1 }}{{ if 1 }}{{ if 1 }}{{ if 1 }}{{ if 1 }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}`, // steps
	}
	for _, text := range cases {
		tp, err := Parse(text, "text/plain")
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err = tp.Render(context.Background(), &notify.Target{ID: "w", Name: "n"}, msg(t))
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrBudget) {
			t.Errorf("%.80s: %v, want ErrBudget", text, err)
		}
		// Steps allocate a little garbage each (never kept): only building is held to MaxBuilt.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*MaxBuilt && !strings.Contains(text, "if 1") {
			t.Errorf("%.80s: allocated %d bytes", text, alloc)
		}
		if took > MaxDuration+time.Second {
			t.Errorf("%.80s: took %s", text, took)
		}
	}
}

// TestBudgetDeadline: the watchdog stops an execution at MaxDuration even when the attempt's
// own deadline is later, and a cancelled attempt stops at once.
func TestBudgetDeadline(t *testing.T) {
	tp, err := Parse(`{{ range 100000 }}{{ range 9 }}{{ end }}{{ end }}`, "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tp.Render(ctx, &notify.Target{}, msg(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	if _, err := tp.Render(ctx, &notify.Target{}, msg(t)); !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("past deadline: %v", err)
	}
}

// TestBuiltinsThatBuildAreCounted closes the class: every text/template builtin either builds
// nothing (it returns one of its arguments, a part of one, a bool or a length) or is replaced
// by a counted function of the same name. A builtin added by a future Go release fails here
// until it is classified.
func TestBuiltinsThatBuildAreCounted(t *testing.T) {
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skipf("go env GOROOT: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "src", "text", "template", "funcs.go"))
	if err != nil {
		t.Skipf("Go source not available: %v", err)
	}
	body := regexp.MustCompile(`(?s)func builtins\(\) FuncMap \{(.*?)\n\}`).FindSubmatch(src)
	if body == nil {
		t.Fatal("builtins() not found in text/template")
	}
	buildsNothing := map[string]bool{"and": true, "or": true, "not": true, "call": true, "index": true, "slice": true, "len": true,
		"eq": true, "ge": true, "gt": true, "le": true, "lt": true, "ne": true}
	counted := funcs(time.UTC, nil)
	names := regexp.MustCompile(`"(\w+)":`).FindAllSubmatch(body[1], -1)
	if len(names) < 19 {
		t.Fatalf("found only %d builtins", len(names))
	}
	for _, m := range names {
		name := string(m[1])
		if _, ok := counted[name]; !ok && !buildsNothing[name] {
			t.Errorf("builtin %q builds a value and is not counted", name)
		}
	}
}

// TestOrdinaryTemplatesFitEasily: a realistic body uses a small part of every budget.
func TestOrdinaryTemplatesFitEasily(t *testing.T) {
	text := `{"text": {{ json (printf "%s: %s (%s)" (upper .event.event) (truncate 40 .event.title) (date "Jan 2" .event.due_date)) }}, ` +
		`"who": {{ json (join " " .event.patient.first_name .event.patient.last_name) }}, "e": {{ json (print (html "<b>") (js "'") (urlquery "a b")) }}}`
	out, err := run(t, text, "", nil)
	if err != nil || !strings.Contains(out, `"CREATED: Follow up with patient (Jan 15)"`) {
		t.Fatalf("%s %v", out, err)
	}
}
