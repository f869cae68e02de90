// Package app wires the dispatcher together: PostgreSQL (migrated at start), NATS (stream and
// durable consumer), the webhook cache, the delivery engine, the consumer and the HTTP API.
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

	"github.com/taskhook/taskhook/dispatcher/internal/admin"
	"github.com/taskhook/taskhook/dispatcher/internal/alert"
	"github.com/taskhook/taskhook/dispatcher/internal/consume"
	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/credential/smart"
	"github.com/taskhook/taskhook/dispatcher/internal/deliver"
	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/due"
	"github.com/taskhook/taskhook/dispatcher/internal/metrics"
	"github.com/taskhook/taskhook/dispatcher/internal/netguard"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/providers"
	"github.com/taskhook/taskhook/dispatcher/internal/ops"
	"github.com/taskhook/taskhook/dispatcher/internal/replay"
	"github.com/taskhook/taskhook/dispatcher/internal/reseal"
	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/dispatcher/internal/ui"
	"github.com/taskhook/taskhook/pkg/config"
	"github.com/taskhook/taskhook/pkg/families"
	"github.com/taskhook/taskhook/pkg/httpx"
	"github.com/taskhook/taskhook/pkg/natsx"
	"github.com/taskhook/taskhook/pkg/retry"
	"github.com/taskhook/taskhook/pkg/tracing"
	"github.com/taskhook/taskhook/pkg/version"
)

// Deps are what tests may replace (nil fields get the production default).
type Deps struct {
	Resolver netguard.Resolver   // DNS for the SSRF guard
	Routes   func([]*echo.Route) // told the HTTP routes once registered (the OpenAPI test)
	Tracing  *tracing.Tracing    // instead of what OTEL_* configures (tests: the SDK's in-memory exporter)
}

// Run serves the dispatcher until ctx is cancelled, then shuts down gracefully: stop serving
// HTTP, stop consuming (finish batches in progress, hand back the rest), finish in-flight
// attempts and give back queued ones, write outcomes, drain NATS.
func Run(ctx context.Context, cfg Config, deps Deps, log *zap.Logger, ready func(net.Addr)) error {
	box, err := secretbox.New(cfg.key, cfg.previous...)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()

	nc, err := natsx.Connect(cfg.NATSURL, "taskhook-dispatcher "+version.Version, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	streamCfg := natsx.DefaultStream(cfg.StreamReplicas, cfg.DuplicateWindow, cfg.StreamMaxAge)
	if _, err := natsx.EnsureStreamLoop(ctx, js, streamCfg, log); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	cons, err := ensureConsumer(ctx, js, streamCfg.Name, cfg, log)
	if err != nil {
		return err
	}

	tr, err := tracing.New(ctx, "taskhook-dispatcher", version.Version)
	if err != nil {
		return fmt.Errorf("tracing (OTEL_*): %w", err)
	}
	if deps.Tracing != nil {
		tr = deps.Tracing
	}
	defer func() { _ = tr.Shutdown(context.Background()) }()
	m := metrics.New()
	policy := &netguard.Policy{AllowHTTP: cfg.AllowHTTP, Allowed: cfg.allowed, Resolver: deps.Resolver}
	client := policy.Client(cfg.AttemptTimeout, cfg.MaxInflight)
	catalog, err := families.Catalog()
	if err != nil {
		return err
	}
	providers := providers.All(catalog)
	doc, err := OpenAPIDocument(catalog, providers)
	if err != nil {
		return err
	}
	filters, err := subscription.NewFilters()
	if err != nil {
		return err
	}
	compiler := &subscription.Compiler{
		URLs: policy, Providers: providers, Catalog: catalog, Filters: filters, DefaultMaxAttempts: cfg.schedule.DefaultAttempts(),
		Credential: func(c credential.Config) (credential.Credential, error) {
			return credential.New(c, credential.Deps{HTTPClient: client}, smart.New)
		},
		CheckSMART: smart.Check,
	}
	codec := subscription.Codec{Box: box, Providers: providers}
	cache := subscription.NewCache(db, codec, compiler, log)
	if err := cache.Refresh(ctx); err != nil {
		return fmt.Errorf("load webhooks: %w", err)
	}

	engine := deliver.New(deliver.Config{
		Schedule: cfg.schedule, AttemptTimeout: cfg.AttemptTimeout, RetryAfterMax: cfg.RetryAfterMax, Lease: cfg.Lease,
		MaxInflight: cfg.MaxInflight, WebhookConcurrency: cfg.WebhookConcurrency, PollInterval: cfg.PollInterval,
		WriteBatch: 500, WriteInterval: 20 * time.Millisecond, GaugeInterval: cfg.GaugeInterval, Tracing: tr,
		Marks: (&alert.Marks{Store: db, Box: box, PublicURL: cfg.PublicURL, Active: cache.Alerting}).Lookup,
	}, db, cache, client, box, m, log)
	work, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	engine.Run(work)
	go cache.Watch(work, time.Second)

	var dueRules *due.Rules
	consumeCfg := consume.Config{BatchSize: cfg.BatchSize, BatchWait: 2 * time.Millisecond, Window: cfg.AckWindow,
		Workers: 4, Lease: cfg.Lease, GaugeInterval: cfg.GaugeInterval, Catalog: catalog, Tracing: tr, AckLinkTTL: cfg.AckLinkTTL}
	if cfg.DueEvents == "derive" {
		dueRules = &due.Rules{Location: cfg.location, Grace: cfg.OverdueGrace}
		scheduler := &due.Scheduler{Rules: *dueRules, Store: db, Box: box, Catalog: catalog, Metrics: m, Log: log,
			Pub:      &due.JetStream{JS: js, Stream: streamCfg.Name, Timeout: 5 * time.Second},
			Interval: cfg.PollInterval, Batch: 200, Gauges: cfg.GaugeInterval}
		consumeCfg.Tasks = scheduler
		go scheduler.Run(work)
	}
	opsFlusher := &ops.Flusher{Store: db, Pub: &due.JetStream{JS: js, Stream: streamCfg.Name, Timeout: 5 * time.Second}, Catalog: catalog,
		Log: log, Interval: cfg.OpsInterval, Every: cfg.PollInterval, Batch: 100,
		Published: func(typ string, n int) { m.OpsPublished.WithLabelValues(typ).Add(float64(n)) }}
	go opsFlusher.Run(work)
	if cfg.PublicURL == "" {
		for _, w := range cache.All() {
			if w.Escalation != nil {
				log.Warn("a webhook has an escalation policy but TASKHOOK_PUBLIC_URL is unset: its messages carry no acknowledge link", zap.String("webhook_id", w.ID.String()))
			}
		}
	}
	escalations := &alert.Scheduler{Store: db, Metrics: m, Log: log, Interval: cfg.PollInterval, Gauges: cfg.GaugeInterval, Batch: 100, Poke: engine.Poke}
	go escalations.Run(work)
	acknowledger := &alert.Acknowledger{Store: db, Metrics: m, Log: log}
	go (&ops.Observer{Store: db, Log: log, RedAfter: cfg.RedAfter, Every: 2 * time.Second}).Run(work)
	consumer := consume.New(consumeCfg, cons, cache, db, engine, box, m, log)
	consumeCtx, stopConsume := context.WithCancel(context.Background())
	consumed := make(chan error, 1)
	go func() { consumed <- consumer.Run(consumeCtx) }()

	httpx.ServePprof(ctx, cfg.PprofAddr, log)
	e := httpx.NewEcho(log, func(route string, status int, took time.Duration) {
		m.Requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		m.RequestDuration.WithLabelValues(route).Observe(took.Seconds())
	})
	httpx.Health(e, m.Registry,
		httpx.Check{Name: "nats", Fn: func(context.Context) error { return natsx.Ready(nc) }},
		httpx.Check{Name: "postgres", Fn: db.Ping})
	tokens := httpx.NewTokens()
	tokens.Add(httpx.RoleAdmin, config.SplitList(cfg.AdminTokens)...)
	tokens.Add(httpx.RoleViewer, config.SplitList(cfg.ViewerTokens)...)
	v1 := e.Group("/v1", tr.Echo("taskhook/dispatcher/admin"), httpx.Authenticate(tokens))
	replayer := replay.New(js, streamCfg.Name, db, box, consume.DeliveryID)
	resealer := &reseal.Resealer{DB: db, Box: box, Metrics: m, Log: log, Batch: 500, Every: 10 * time.Minute}
	go resealer.Run(work)
	admin.New(admin.Deps{DB: db, Codec: codec, Compiler: compiler, Cache: cache, Engine: engine, Replayer: replayer, Log: log, Sealed: resealer.Left},
		admin.Options{RedAfter: cfg.RedAfter, DefaultMaxAttempts: cfg.schedule.DefaultAttempts(), RotationGrace: cfg.RotationGrace,
			ReplayLimit: cfg.ReplayLimit, ReplayMaxScan: 20 * cfg.ReplayLimit,
			Lease: max(cfg.Lease, deliver.MinLease(cfg.AttemptTimeout)), // a manual retry is not renewed
			Due:   dueRules, PublicURL: cfg.PublicURL}).Register(v1)
	(&alert.API{Store: db, Ack: acknowledger}).Register(v1)
	v1.GET("/event-types", httpx.EventTypes(catalog))
	v1.GET("/providers", providersHandler(providers))
	e.GET("/openapi.json", func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, doc) })
	e.GET("/.well-known/jwks.json", admin.JWKS(cache, time.Now))
	if deps.Routes != nil {
		deps.Routes(e.Routes())
	}
	// The dashboard is mounted after the routes are told: its HTML pages are not part of the
	// JSON API that openapi.json describes. It calls the /v1 routes above in-process.
	dashboard, err := ui.New(ui.Options{API: e, Providers: providers, Catalog: catalog, Tokens: tokens, Key: cfg.key, Session: cfg.UISession, Hourly: db.Hourly, Log: log})
	if err != nil { // embedded templates that do not parse: caught by the ui tests
		stopConsume()
		<-consumed
		return err
	}
	dashboard.Mount(e)
	(&alert.Pages{Store: db, Ack: acknowledger, Box: box, EventAAD: deliver.EventAAD, Catalog: catalog,
		Channel: func(id uuid.UUID) (alert.Channel, bool) {
			w := cache.Get(id)
			if w == nil {
				return alert.Channel{}, false
			}
			return alert.Channel{Name: w.Name, Redact: w.Redact, Location: w.Target.Location}, true
		}}).Mount(e)
	go housekeeping(work, db, cfg, m, log)
	flusher := &digest.Flusher{DB: db, Webhooks: cache, Box: box, EventAAD: deliver.EventAAD, Delivered: engine.Poke,
		Every: cfg.PollInterval, Metrics: m, Log: log}
	go flusher.Run(work)

	log.Info("dispatcher starting", zap.String("addr", cfg.Addr), zap.String("version", version.Version),
		zap.String("consumer", cfg.ConsumerName), zap.Int("webhooks", len(cache.Subscribed("task.created"))), zap.Duration("lease", cfg.Lease))
	serveErr := httpx.Serve(ctx, e, cfg.Addr, cfg.ShutdownTimeout, func(a net.Addr) {
		log.Info("dispatcher listening", zap.String("addr", a.String()))
		if ready != nil {
			ready(a)
		}
	})

	// Graceful shutdown, in dependency order.
	grace, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	stopConsume()
	select {
	case err := <-consumed:
		if err != nil {
			log.Warn("consumer", zap.Error(err))
		}
	case <-grace.Done():
	}
	engine.Stop(grace)
	stopWork()
	if err := natsx.Drain(grace, nc); err != nil {
		log.Warn("nats drain", zap.Error(err))
	}
	log.Info("dispatcher stopped")
	return serveErr
}

// housekeeping runs the periodic jobs every replica may run (each is idempotent): deactivate
// webhooks failing for longer than TASKHOOK_DISABLE_AFTER, prune what is older than
// TASKHOOK_RETENTION in small batches, and, at start and every TASKHOOK_RETENTION_INTERVAL,
// create the next days' partitions and drop the days past the retention.
func housekeeping(ctx context.Context, db *store.DB, cfg Config, m *metrics.Metrics, log *zap.Logger) {
	disable := time.NewTicker(time.Minute)
	prune := time.NewTicker(10 * time.Minute)
	defer disable.Stop()
	defer prune.Stop()
	go func() { // ends with ctx, as housekeeping does
		retain(ctx, db, cfg.Retention, log)
		retry.Every(ctx, cfg.RetentionInterval, func(ctx context.Context) { retain(ctx, db, cfg.Retention, log) })
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-disable.C:
			if cfg.DisableAfter == 0 {
				continue
			}
			ids, err := db.DisableFailing(ctx, cfg.DisableAfter)
			if err != nil {
				log.Warn("auto-disable failed", zap.Error(err))
				continue
			}
			for _, id := range ids {
				m.WebhooksDisabled.Inc()
				log.Warn("webhook deactivated: failing continuously", zap.String("webhook_id", id.String()), zap.Duration("after", cfg.DisableAfter))
				if err := store.Audit(ctx, db, "taskhook", "webhook.auto_disable", id, "", map[string]any{"failing_for": cfg.DisableAfter.String()}); err != nil {
					log.Warn("audit", zap.Error(err))
				}
			}
		case <-prune.C:
			n, err := db.Prune(ctx, time.Now().Add(-cfg.Retention), 1000)
			if err != nil {
				log.Warn("pruning failed", zap.Error(err))
			} else if n > 0 {
				log.Info("pruned old rows", zap.Int64("rows", n), zap.Duration("retention", cfg.Retention))
			}
		}
	}
}

// openDB connects (retrying while PostgreSQL is unreachable, until ctx ends) and migrates.
func openDB(ctx context.Context, cfg Config, log *zap.Logger) (*store.DB, error) {
	return retry.Until(ctx, retry.Backoff{Initial: 250 * time.Millisecond, Max: 5 * time.Second},
		func(ctx context.Context) (*store.DB, error) {
			db, err := store.Open(ctx, cfg.DatabaseURL, cfg.DBMaxConns)
			if err != nil {
				return nil, err
			}
			res, err := db.Migrate(ctx)
			if err != nil {
				db.Close()
				return nil, retry.Permanent(err)
			}
			for _, r := range res {
				log.Info("migration applied", zap.Int64("version", r.Source.Version), zap.Duration("took", r.Duration))
			}
			// Today's partitions and the next week's exist before anything is written (failing
			// that, rows land in the DEFAULT partitions, and retention tries again).
			if _, err := db.EnsurePartitions(ctx, time.Now(), time.Now().AddDate(0, 0, store.PartitionsAhead)); err != nil {
				log.Warn("creating this week's partitions failed; retrying at the next retention run", zap.Error(err))
			}
			return db, nil
		},
		func(err error, wait time.Duration) {
			log.Warn("PostgreSQL not reachable; retrying", zap.Error(err), zap.Duration("retry_in", wait))
		})
}

func ensureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg Config, log *zap.Logger) (jetstream.Consumer, error) {
	return retry.Until(ctx, retry.Backoff{Initial: 250 * time.Millisecond, Max: 5 * time.Second},
		func(ctx context.Context) (jetstream.Consumer, error) {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return natsx.EnsureConsumer(cctx, js, stream, natsx.ConsumerConfig{Durable: cfg.ConsumerName,
				AckWait: cfg.Lease, MaxAckPending: 20000})
		},
		func(err error, _ time.Duration) { log.Warn("consumer not ready; retrying", zap.Error(err)) })
}

// retain creates the next days' partitions and drops the days past retention (a day with open
// deliveries is kept until they are final).
func retain(ctx context.Context, db *store.DB, retention time.Duration, log *zap.Logger) {
	now := time.Now()
	if created, err := db.EnsurePartitions(ctx, now, now.AddDate(0, 0, store.PartitionsAhead)); err != nil {
		log.Warn("creating the next days' partitions failed; retrying at the next run", zap.Error(err))
	} else if len(created) > 0 {
		log.Info("partitions created", zap.Strings("partitions", created))
	}
	d, err := db.DropPartitions(ctx, now.Add(-retention))
	switch {
	case err != nil:
		log.Warn("dropping old partitions failed; retrying at the next run", zap.Error(err))
	case len(d.Names) > 0:
		log.Info("old partitions dropped", zap.Strings("partitions", d.Names), zap.Duration("longest_lock", d.Lock), zap.Duration("retention", retention))
	}
	if len(d.Kept) > 0 {
		log.Warn("partitions past the retention kept: deliveries in them are still open", zap.Strings("partitions", d.Kept))
	}
	if d.DefaultRows > 0 {
		log.Warn("rows outside every day partition (in the DEFAULT partitions)", zap.Int64("rows", d.DefaultRows))
	}
}
