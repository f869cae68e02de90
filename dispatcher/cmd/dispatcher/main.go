// Command dispatcher consumes task events and delivers them to webhooks, with retries; it
// serves the admin API and metrics. Configuration comes from the environment; run
// `dispatcher -h` for every variable.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // IANA time zones for webhooks' timezone, also in images without zoneinfo

	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/app"
	"github.com/taskhook/taskhook/pkg/config"
	"github.com/taskhook/taskhook/pkg/httpx"
	"github.com/taskhook/taskhook/pkg/logx"
)

func main() {
	probe := func() error {
		addr := os.Getenv("DISPATCHER_ADDR")
		if addr == "" {
			addr = "127.0.0.1:8081"
		}
		return httpx.Probe(context.Background(), addr)
	}
	if done, err := config.HandleArgs(os.Args[1:], os.Stdout, "dispatcher", app.Summary, &app.Config{}, probe); done {
		if err != nil {
			config.Exit("dispatcher", err)
		}
		return
	}
	config.TuneGC(400)
	cfg, err := app.Load(os.Environ())
	if err != nil {
		config.Exit("dispatcher", err)
	}
	log, err := logx.New(cfg.LogLevel, "dispatcher")
	if err != nil {
		config.Exit("dispatcher", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg, app.Deps{}, log, nil); err != nil {
		log.Error("dispatcher failed", zap.Error(err))
		_ = log.Sync()
		os.Exit(1)
	}
	_ = log.Sync()
}
