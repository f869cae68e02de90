// Package ctl is taskhookctl: its commands, their output (human tables or JSON) and its exit
// codes.
package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/taskhook/taskhook/client"
)

// Exit codes scripts can rely on.
const (
	ExitOK      = 0 // everything succeeded
	ExitFailed  = 1 // a request failed, or what it reports failed (a test send, a retry)
	ExitUsage   = 2 // wrong flags or arguments, or no token configured
	ExitPartial = 3 // the command ran to the end but some items were refused (publish) or a replay was capped
)

// IO is what the commands read and write.
type IO struct {
	In     io.Reader
	Out    io.Writer
	Err    io.Writer
	Getenv func(string) string
}

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// partial is a run that completed with refused items: the summary is printed already.
func partial(format string, args ...any) error {
	return &exitError{code: ExitPartial, err: fmt.Errorf(format, args...)}
}

func failedf(format string, args ...any) error {
	return &exitError{code: ExitFailed, err: fmt.Errorf(format, args...)}
}

// env is the resolved configuration of one run.
type env struct {
	IO
	adminURL, adminToken   string
	ingestURL, ingestToken string
	output                 string
	timeout                time.Duration
	quiet, progress        bool
}

// Main runs taskhookctl with args and returns the exit code.
func Main(ctx context.Context, args []string, io IO) int {
	e := &env{IO: io}
	root := e.root()
	root.SetArgs(args)
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var xe *exitError
	code := ExitFailed
	if errors.As(err, &xe) {
		code = xe.code
	} else if isUsage(err) {
		code = ExitUsage
	}
	fmt.Fprintln(io.Err, "taskhookctl:", err)
	if code == ExitUsage {
		fmt.Fprintln(io.Err, "Run taskhookctl --help (or <command> --help) for usage.")
	}
	return code
}

// isUsage recognizes cobra's own errors about arguments and commands.
func isUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "flag needs an argument", "invalid argument", "required flag"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func (e *env) root() *cobra.Command {
	getenv := func(k, def string) string {
		if v := e.Getenv(k); v != "" {
			return v
		}
		return def
	}
	root := &cobra.Command{
		Use:   "taskhookctl",
		Short: "Drive Taskhook: webhooks, deliveries, replays, publishing, stats",
		Long: `taskhookctl drives Taskhook's admin API (dispatcher) and ingest API.

Configuration (flags override the environment):
  TASKHOOK_URL           admin API, default http://127.0.0.1:8081
  TASKHOOK_TOKEN         admin token (read and write) or viewer token (read only)
  TASKHOOK_INGEST_URL    ingest API, default http://127.0.0.1:8080 (publish)
  TASKHOOK_INGEST_TOKEN  publisher token (publish)

Exit codes: 0 success; 1 a request failed, or what it reports failed (a test send, a
retry that did not succeed); 2 wrong usage or no token; 3 the command ran to the end but
some items were refused (publish; a replay capped by the server's limit).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if e.output != "table" && e.output != "json" {
				return usagef("-o must be table or json, got %q", e.output)
			}
			if e.adminToken == "" {
				e.adminToken = e.Getenv("TASKHOOK_TOKEN")
			}
			if e.ingestToken == "" {
				e.ingestToken = e.Getenv("TASKHOOK_INGEST_TOKEN")
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: ExitUsage, err: err} })
	pf := root.PersistentFlags()
	pf.StringVar(&e.adminURL, "url", getenv("TASKHOOK_URL", "http://127.0.0.1:8081"), "admin API URL (TASKHOOK_URL)")
	// The tokens' defaults come from the environment after the flags are parsed, not as the
	// flags' defaults: --help prints defaults, and must never print a token.
	pf.StringVar(&e.adminToken, "token", "", "admin or viewer token (default: $TASKHOOK_TOKEN, never printed)")
	pf.StringVar(&e.ingestURL, "ingest-url", getenv("TASKHOOK_INGEST_URL", "http://127.0.0.1:8080"), "ingest API URL (TASKHOOK_INGEST_URL)")
	pf.StringVar(&e.ingestToken, "ingest-token", "", "publisher token (default: $TASKHOOK_INGEST_TOKEN, never printed)")
	pf.StringVarP(&e.output, "output", "o", "table", "output: table (for people) or json (for scripts)")
	pf.DurationVar(&e.timeout, "timeout", 60*time.Second, "timeout of each HTTP request")
	pf.BoolVarP(&e.quiet, "quiet", "q", false, "no progress bar")
	pf.BoolVar(&e.progress, "progress", false, "show the progress bar even when stderr is not a terminal")
	root.AddCommand(e.webhooksCmd(), e.deliveriesCmd(), e.replayCmd(), e.publishCmd(), e.tailCmd(), e.statsCmd(), e.providersCmd(), e.eventTypesCmd())
	return root
}

func (e *env) admin() (*client.Admin, error) {
	if e.adminToken == "" {
		return nil, usagef("no admin token: set TASKHOOK_TOKEN or pass --token")
	}
	a, err := client.NewAdmin(e.adminURL, e.adminToken, client.WithHTTPClient(&http.Client{Timeout: e.timeout}))
	if err != nil {
		return nil, usagef("%v", err)
	}
	return a, nil
}

func (e *env) publisher() (*client.Publisher, error) {
	if e.ingestToken == "" {
		return nil, usagef("no publisher token: set TASKHOOK_INGEST_TOKEN or pass --ingest-token")
	}
	p, err := client.NewPublisher(e.ingestURL, e.ingestToken, client.WithHTTPClient(&http.Client{Timeout: e.timeout}))
	if err != nil {
		return nil, usagef("%v", err)
	}
	return p, nil
}

// showProgress says whether to draw a progress bar on stderr.
func (e *env) showProgress() bool {
	if e.quiet {
		return false
	}
	if e.progress {
		return true
	}
	f, ok := e.Err.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// json writes v as indented JSON.
func (e *env) json(v any) error {
	enc := json.NewEncoder(e.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows under a header, aligned.
func (e *env) table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(e.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// fields writes key: value lines, aligned.
func (e *env) fields(kv [][2]string) {
	tw := tabwriter.NewWriter(e.Out, 0, 4, 2, ' ', 0)
	for _, f := range kv {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
	}
	tw.Flush()
}

// readBody reads a JSON document from path ("-": stdin).
func (e *env) readBody(path string) (json.RawMessage, error) {
	if path == "" {
		return nil, usagef("-f is required (a JSON file, or - for stdin)")
	}
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(e.In)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, usagef("%v", err)
	}
	if !json.Valid(b) {
		return nil, usagef("%s is not valid JSON", path)
	}
	return b, nil
}

// parseTime reads an RFC 3339 time or a duration before now ("6h": six hours ago).
func parseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usagef("%q is neither an RFC 3339 time (2024-01-15T10:00:00Z) nor a duration ago (6h)", s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func fmtCode(c *int) string {
	if c == nil {
		return "-"
	}
	return fmt.Sprint(*c)
}

func exact(n int, names string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("expects %s, got %d argument(s)", names, len(args))
		}
		return nil
	}
}
