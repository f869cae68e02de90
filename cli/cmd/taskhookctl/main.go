// Command taskhookctl drives Taskhook from a terminal or a script: webhooks, the delivery log,
// retries and replays, publishing NDJSON files, following deliveries, stats.
// Run taskhookctl --help.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/taskhook/taskhook/cli/internal/ctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := ctl.Main(ctx, os.Args[1:], ctl.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
