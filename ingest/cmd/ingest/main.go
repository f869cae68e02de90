// Command ingest validates task events and publishes them durably to NATS JetStream.
// Configuration comes from the environment; run `ingest -h` for every variable.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/taskhook/taskhook/ingest/internal/app"
	"github.com/taskhook/taskhook/pkg/config"
	"github.com/taskhook/taskhook/pkg/httpx"
	"github.com/taskhook/taskhook/pkg/logx"
	"go.uber.org/zap"
)

func main() {
	probe := func() error {
		addr := os.Getenv("INGEST_ADDR")
		if addr == "" {
			addr = "127.0.0.1:8080"
		}
		return httpx.Probe(context.Background(), addr)
	}
	if done, err := config.HandleArgs(os.Args[1:], os.Stdout, "ingest", app.Summary, &app.Config{}, probe); done {
		if err != nil {
			config.Exit("ingest", err)
		}
		return
	}
	config.TuneGC(400)
	cfg, err := app.Load(os.Environ())
	if err != nil {
		config.Exit("ingest", err)
	}
	log, err := logx.New(cfg.LogLevel, "ingest")
	if err != nil {
		config.Exit("ingest", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg, log, app.Hooks{}); err != nil {
		log.Error("ingest failed", zap.Error(err))
		_ = log.Sync()
		os.Exit(1)
	}
	_ = log.Sync()
}
