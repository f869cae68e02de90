// Package app wires ingest together: NATS connection, stream, publisher, HTTP API.
package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/ingest/internal/api"
	"github.com/taskhook/taskhook/ingest/internal/metrics"
	"github.com/taskhook/taskhook/ingest/internal/publish"
	"github.com/taskhook/taskhook/pkg/config"
	"github.com/taskhook/taskhook/pkg/families"
	"github.com/taskhook/taskhook/pkg/httpx"
	"github.com/taskhook/taskhook/pkg/natsx"
	"github.com/taskhook/taskhook/pkg/tracing"
	"github.com/taskhook/taskhook/pkg/version"
)

// Hooks let tests observe a running ingest (nil fields are ignored).
type Hooks struct {
	Ready  func(net.Addr)      // the listening address
	Routes func([]*echo.Route) // the HTTP routes once registered
	// Tracing replaces what OTEL_* configures (tests: the SDK's in-memory exporter).
	Tracing *tracing.Tracing
}

// Run serves ingest until ctx is cancelled, then shuts down gracefully: the HTTP server stops
// accepting and finishes in-flight requests, then the NATS connection drains.
func Run(ctx context.Context, cfg Config, log *zap.Logger, hooks Hooks) error {
	validator, err := families.Catalog()
	if err != nil {
		return err
	}
	nc, err := natsx.Connect(cfg.NATSURL, "taskhook-ingest "+version.Version, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(4*api.MaxBatchItems),
		jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout))
	if err != nil {
		return err
	}
	streamCfg := natsx.DefaultStream(cfg.StreamReplicas, cfg.DuplicateWindow, cfg.StreamMaxAge)

	// The stream is (re)declared in the background: at start, and whenever a publish finds no
	// stream (say, a NATS server that lost its store). Ingest answers 503 meanwhile.
	ensure := make(chan struct{}, 1)
	ensure <- struct{}{}
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	go func() {
		for {
			select {
			case <-bg.Done():
				return
			case <-ensure:
			}
			if _, err := natsx.EnsureStreamLoop(bg, js, streamCfg, log); err == nil {
				log.Info("stream ready", zap.String("stream", streamCfg.Name), zap.Int("replicas", streamCfg.Replicas))
			}
		}
	}()
	streamMissing := func() {
		select {
		case ensure <- struct{}{}:
		default:
		}
	}

	httpx.ServePprof(ctx, cfg.PprofAddr, log)
	m := metrics.New()
	tr, err := tracing.New(ctx, "taskhook-ingest", version.Version)
	if err != nil {
		return fmt.Errorf("tracing (OTEL_*): %w", err)
	}
	if hooks.Tracing != nil {
		tr = hooks.Tracing
	}
	defer func() { _ = tr.Shutdown(context.Background()) }()
	pub := publish.New(nc, js, streamCfg.Name, cfg.PublishTimeout, m, streamMissing).WithTracing(tr)
	tokens := httpx.NewTokens()
	tokens.Add(httpx.RoleAdmin, config.SplitList(cfg.Tokens)...)

	e := httpx.NewEcho(log, func(route string, status int, took time.Duration) {
		m.Requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		m.RequestDuration.WithLabelValues(route).Observe(took.Seconds())
	})
	httpx.Health(e, m.Registry,
		httpx.Check{Name: "nats", Fn: func(context.Context) error { return natsx.Ready(nc) }},
		httpx.Check{Name: "stream", Fn: func(ctx context.Context) error {
			if _, err := js.Stream(ctx, streamCfg.Name); err != nil {
				return fmt.Errorf("stream %s: %w", streamCfg.Name, err)
			}
			return nil
		}})
	doc, err := OpenAPIDocument(validator)
	if err != nil {
		return err
	}
	e.GET("/openapi.json", func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, doc) })
	v1 := e.Group("/v1", tr.Echo("taskhook/ingest"), httpx.Authenticate(tokens))
	api.New(validator, pub, api.Options{
		MaxBodyBytes:  cfg.MaxBodyBytes,
		MaxBatchBytes: cfg.MaxBatchBytes,
		NewID:         func() string { return uuid.Must(uuid.NewV7()).String() },
	}, m, log).Register(v1)
	if hooks.Routes != nil {
		hooks.Routes(e.Routes())
	}

	log.Info("ingest starting", zap.String("addr", cfg.Addr), zap.String("version", version.Version),
		zap.String("stream", streamCfg.Name))
	err = httpx.Serve(ctx, e, cfg.Addr, cfg.ShutdownTimeout, func(a net.Addr) {
		log.Info("ingest listening", zap.String("addr", a.String()))
		if hooks.Ready != nil {
			hooks.Ready(a)
		}
	})
	stopBG()
	dctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if derr := natsx.Drain(dctx, nc); derr != nil {
		log.Warn("nats drain", zap.Error(derr))
	}
	log.Info("ingest stopped")
	return err
}
