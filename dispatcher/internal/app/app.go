// Package app wires the dispatcher together: PostgreSQL (migrated at start), NATS (stream and
// durable consumer), the webhook cache, the delivery engine, the consumer and the HTTP API.
package app

import (
	"context"
	"crypto/tls"
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
	"github.com/taskhook/taskhook/dispatcher/internal/eventtypes"
	"github.com/taskhook/taskhook/dispatcher/internal/metrics"
	"github.com/taskhook/taskhook/dispatcher/internal/netguard"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/providers"
	"github.com/taskhook/taskhook/dispatcher/internal/ops"
	"github.com/taskhook/taskhook/dispatcher/internal/quiet"
	"github.com/taskhook/taskhook/dispatcher/internal/replay"
	"github.com/taskhook/taskhook/dispatcher/internal/reseal"
	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/streampub"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/dispatcher/internal/ui"
	"github.com/taskhook/taskhook/dispatcher/internal/webhooks"
	"github.com/taskhook/taskhook/pkg/config"
	"github.com/taskhook/taskhook/pkg/families"
	"github.com/taskhook/taskhook/pkg/httpx"
	"github.com/taskhook/taskhook/pkg/lifecycle"
	"github.com/taskhook/taskhook/pkg/natsx"
	"github.com/taskhook/taskhook/pkg/retry"
	"github.com/taskhook/taskhook/pkg/tracing"
	"github.com/taskhook/taskhook/pkg/typesync"
	"github.com/taskhook/taskhook/pkg/version"
)

// Deps are what tests may replace (nil fields get the production default).
type Deps struct {
	Resolver netguard.Resolver   // DNS for the SSRF guard
	Routes   func([]*echo.Route) // told the HTTP routes once registered (the OpenAPI test)
	Tracing  *tracing.Tracing    // instead of what OTEL_* configures (tests: the SDK's in-memory exporter)
	Stopped  func()              // told once every component returned, before NATS drains and PostgreSQL closes
}

// Run serves the dispatcher until ctx is cancelled (or a component fails), then shuts down
// gracefully: stop serving HTTP, stop consuming (finish batches in progress, hand back the
// rest), finish in-flight attempts and give back queued ones, write outcomes, stop the
// background jobs, drain NATS, close PostgreSQL.
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
	policy := &netguard.Policy{AllowHTTP: cfg.AllowHTTP, Allowed: cfg.allowed, Resolver: deps.Resolver, Proxy: cfg.egress}
	client := policy.Client(cfg.AttemptTimeout, cfg.MaxInflight)
	catalog, err := families.Catalog()
	if err != nil {
		return err
	}
	// Custom event types: stored here, installed in the catalog before the webhooks compile,
	// handed to ingest through the stream's subjects and the key-value bucket (Run), and
	// watched in the bucket for the changes other replicas make.
	typesPub := &eventtypes.Publisher{DB: db, JS: js, Stream: streamCfg, Catalog: catalog, Log: log}
	typesPub.Init()
	if _, err := typesPub.Load(ctx); err != nil {
		return err
	}
	providers := providers.All(catalog)
	doc, err := httpx.LiveDocument(catalog, func() ([]byte, error) { return OpenAPIDocument(catalog, providers) })
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
		Dial:       policy.DialContext, AllowPlain: cfg.AllowHTTP,
		TLSClient: func(t *tls.Config) *http.Client {
			return policy.ClientTLS(cfg.AttemptTimeout, cfg.WebhookConcurrency, t)
		},
	}
	codec := subscription.Codec{Box: box, Providers: providers}
	cache := subscription.NewCache(db, codec, compiler, log)
	if err := cache.Refresh(ctx); err != nil {
		return fmt.Errorf("load webhooks: %w", err)
	}

	engine := deliver.New(deliver.Config{
		Schedule: cfg.schedule, AttemptTimeout: cfg.AttemptTimeout, RetryAfterMax: cfg.RetryAfterMax, Lease: cfg.Lease,
		MaxInflight: cfg.MaxInflight, WebhookConcurrency: cfg.WebhookConcurrency, PollInterval: cfg.PollInterval,
		WriteBatch: writeBatch, WriteInterval: writeInterval, GaugeInterval: cfg.GaugeInterval, Tracing: tr,
		Marks: (&alert.Marks{Store: db, Box: box, PublicURL: cfg.PublicURL, Active: cache.Alerting}).Lookup,
	}, db, cache, client, box, m, log)
	silences := quiet.NewSet(db, filters, log)
	if err := silences.Refresh(ctx); err != nil {
		return fmt.Errorf("load silences: %w", err)
	}

	// Reminders and operational events go to the event stream through one publisher.
	pub := &streampub.JetStream{JS: js, Stream: streamCfg.Name, Timeout: streampub.Timeout}
	var dueRules *due.Rules
	var scheduler *due.Scheduler
	consumeCfg := consume.Config{BatchSize: cfg.BatchSize, BatchWait: consumeBatchWait, Window: cfg.AckWindow,
		Workers: consumeWorkers, Lease: cfg.Lease, GaugeInterval: cfg.GaugeInterval, Catalog: catalog, Tracing: tr, AckLinkTTL: cfg.AckLinkTTL,
		Silences: silences, Generations: db.Generations}
	consumeCfg.FilterErrors = subscription.NewFilterErrors() // shown as the webhooks' health hints
	if cfg.DueEvents == "derive" {
		dueRules = &due.Rules{Location: cfg.location, Grace: cfg.OverdueGrace}
		scheduler = &due.Scheduler{Rules: *dueRules, Store: db, Box: box, Catalog: catalog, Metrics: m, Log: log,
			Pub: pub, Interval: cfg.PollInterval, Batch: dueBatch, Gauges: cfg.GaugeInterval}
		consumeCfg.Tasks = scheduler
	}
	opsFlusher := &ops.Flusher{Store: db, Pub: pub, Catalog: catalog,
		Log: log, Interval: cfg.OpsInterval, Every: cfg.PollInterval, Batch: opsBatch,
		Published: func(typ string, n int) { m.OpsPublished.WithLabelValues(typ).Add(float64(n)) }}
	observer := &ops.Observer{Store: db, Log: log, RedAfter: cfg.RedAfter, Every: observeEvery}
	if cfg.PublicURL == "" {
		for _, w := range cache.All() {
			if w.Escalation != nil {
				log.Warn("a webhook has an escalation policy but TASKHOOK_PUBLIC_URL is unset: its messages carry no acknowledge link", zap.String("webhook_id", w.ID.String()))
			}
		}
	}
	escalations := &alert.Scheduler{Store: db, Metrics: m, Log: log, Interval: cfg.PollInterval, Gauges: cfg.GaugeInterval, Batch: escalationBatch, Poke: engine.Poke}
	acknowledger := &alert.Acknowledger{Store: db, Metrics: m, Log: log}
	consumer := consume.New(consumeCfg, cons, cache, db, engine, box, m, log)

	e := httpx.NewEcho(log, func(route string, status int, took time.Duration) {
		m.Requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		m.RequestDuration.WithLabelValues(route).Observe(took.Seconds())
	})
	e.Server.ReadTimeout, e.Server.IdleTimeout = cfg.ReadTimeout, cfg.IdleTimeout
	httpx.Health(e, m.Registry,
		httpx.Check{Name: "nats", Fn: func(context.Context) error { return natsx.Ready(nc) }},
		httpx.Check{Name: "postgres", Fn: db.Ping})
	tokens := httpx.NewTokens()
	tokens.Add(httpx.RoleAdmin, config.SplitList(cfg.AdminTokens)...)
	tokens.Add(httpx.RoleViewer, config.SplitList(cfg.ViewerTokens)...)
	v1 := e.Group("/v1", tr.Echo("taskhook/dispatcher/admin"), httpx.Authenticate(tokens))
	replayer := replay.New(js, streamCfg.Name, db, box, consume.DeliveryID)
	resealer := &reseal.Resealer{DB: db, Box: box, Metrics: m, Log: log, Batch: resealBatch, Every: resealRetry}
	hooks := &webhooks.Service{Store: webhooks.PG{DB: db}, Codec: codec, Compiler: compiler, Sender: engine, Compiled: cache, Log: log,
		Options: webhooks.Options{RedAfter: cfg.RedAfter, DefaultMaxAttempts: cfg.schedule.DefaultAttempts(), RotationGrace: cfg.RotationGrace, PublicURL: cfg.PublicURL, FilterErrors: consumeCfg.FilterErrors}}
	admin.New(admin.Deps{DB: db, Codec: codec, Cache: cache, Engine: engine, Replayer: replayer, Webhooks: hooks, Log: log, Sealed: resealer.Left,
		Silences: quiet.Rules{Filters: filters, Catalog: catalog, Max: cfg.SilenceMax}},
		admin.Options{ReplayLimit: cfg.ReplayLimit, ReplayMaxScan: replayScanFactor * cfg.ReplayLimit,
			Lease: max(cfg.Lease, deliver.MinLease(cfg.AttemptTimeout)), // a manual retry is not renewed
			Due:   dueRules}).Register(v1)
	(&alert.API{Store: db, Ack: acknowledger}).Register(v1)
	v1.GET("/event-types", httpx.EventTypes(catalog))
	(&eventtypes.API{DB: db, Catalog: catalog, Publisher: typesPub, Log: log,
		Changed: func(ctx context.Context) { _ = cache.Refresh(ctx) }}).Register(v1)
	v1.GET("/providers", providersHandler(providers))
	e.GET("/openapi.json", doc)
	e.GET("/.well-known/jwks.json", admin.JWKS(cache, time.Now))
	if deps.Routes != nil {
		deps.Routes(e.Routes())
	}
	// The dashboard is mounted after the routes are told: its HTML pages are not part of the
	// JSON API that openapi.json describes. It changes webhooks through the same service as the
	// admin API.
	dashboard, err := ui.New(ui.Options{API: e, Webhooks: hooks, Providers: providers, Catalog: catalog, Tokens: tokens, Key: cfg.key, Session: cfg.UISession, Hourly: db.Hourly, Log: log})
	if err != nil { // embedded templates that do not parse: caught by the ui tests
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
	digests := &digest.Flusher{DB: db, Webhooks: cache, Box: box, EventAAD: deliver.EventAAD, Delivered: engine.Poke,
		Every: cfg.PollInterval, MaxBytes: int(cfg.DigestMaxBytes), Metrics: m, Log: log}
	house := &housekeeping{db: db, disableAfter: cfg.DisableAfter, retention: cfg.Retention, metrics: m, log: log}

	// Every goroutine of the dispatcher belongs to one of these components. They stop stage by
	// stage, in dependency order: stop serving HTTP; stop consuming (finish batches in progress,
	// hand back the rest); finish in-flight attempts, give back queued ones and write outcomes;
	// then the background jobs. Only then do NATS drain and PostgreSQL close.
	var group lifecycle.Group
	group.Stage(
		lifecycle.Func("http", func(ctx context.Context) error {
			return httpx.Serve(ctx, e, cfg.Addr, cfg.ShutdownTimeout, func(a net.Addr) {
				log.Info("dispatcher listening", zap.String("addr", a.String()))
				if ready != nil {
					ready(a)
				}
			})
		}),
		lifecycle.Func("pprof", func(ctx context.Context) error { return httpx.RunPprof(ctx, cfg.PprofAddr, log) }))
	group.Stage(lifecycle.Func("consumer", consumer.Run))
	group.Stage(lifecycle.Func("delivery engine", func(ctx context.Context) error { return runEngine(ctx, engine, cfg.ShutdownTimeout) }))
	jobs := []lifecycle.Component{
		lifecycle.Loop("webhook cache", func(ctx context.Context) { cache.Watch(ctx, cacheRefresh) }),
		lifecycle.Loop("silence cache", func(ctx context.Context) { silences.Watch(ctx, cacheRefresh) }),
		lifecycle.Loop("ops flusher", opsFlusher.Run),
		lifecycle.Loop("ops observer", observer.Run),
		lifecycle.Loop("resealer", resealer.Run),
		lifecycle.Loop("digest flusher", digests.Run),
		lifecycle.Loop("escalations", escalations.Run),
		lifecycle.Loop("auto-disable", func(ctx context.Context) { retry.Every(ctx, disableEvery, house.disable) }),
		lifecycle.Loop("prune", func(ctx context.Context) { retry.Every(ctx, pruneEvery, house.prune) }),
		lifecycle.Loop("retention", func(ctx context.Context) {
			house.retain(ctx) // at start, then every TASKHOOK_RETENTION_INTERVAL
			retry.Every(ctx, cfg.RetentionInterval, house.retain)
		}),
		lifecycle.Loop("event types publisher", typesPub.Run),
		lifecycle.Loop("event types watcher", func(ctx context.Context) {
			(&typesync.Watcher{JS: js, Replicas: cfg.StreamReplicas, Catalog: catalog, Summarizers: eventtypes.Summarizers, Log: log,
				Applied: func(int) { _ = cache.Refresh(ctx) }}).Run(ctx)
		}),
	}
	if scheduler != nil {
		jobs = append(jobs, lifecycle.Loop("due scheduler", scheduler.Run))
	}
	group.Stage(jobs...)
	group.Stopped = func(names []string) { log.Debug("stopped", zap.Strings("components", names)) }

	log.Info("dispatcher starting", zap.String("addr", cfg.Addr), zap.String("version", version.Version),
		zap.String("consumer", cfg.ConsumerName), zap.Int("webhooks", len(cache.Subscribed("task.created"))), zap.Duration("lease", cfg.Lease))
	runErr := group.Run(ctx)
	if deps.Stopped != nil {
		deps.Stopped()
	}
	grace, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := natsx.Drain(grace, nc); err != nil {
		log.Warn("nats drain", zap.Error(err))
	}
	log.Info("dispatcher stopped")
	return runErr
}

// runEngine runs the delivery engine until ctx ends, then stops it gracefully within grace:
// in-flight attempts finish (or are cancelled once grace is over), queued ones are given back,
// outcomes are written; it returns once every goroutine of the engine returned.
func runEngine(ctx context.Context, engine *deliver.Engine, grace time.Duration) error {
	loops, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoops()
	done := make(chan error, 1)
	go func() { done <- engine.Run(loops) }()
	<-ctx.Done()
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	engine.Stop(gctx)
	stopLoops()
	return <-done
}

// housekeeping holds the periodic jobs every replica may run (each is idempotent): deactivate
// webhooks failing for longer than TASKHOOK_DISABLE_AFTER, prune what is older than
// TASKHOOK_RETENTION in small batches, and (retain) create the next days' partitions and drop
// the days past the retention.
type housekeeping struct {
	db           *store.DB
	disableAfter time.Duration // 0: never
	retention    time.Duration
	metrics      *metrics.Metrics
	log          *zap.Logger
}

func (h *housekeeping) disable(ctx context.Context) {
	if h.disableAfter == 0 {
		return
	}
	ids, err := h.db.DisableFailing(ctx, h.disableAfter)
	if err != nil {
		h.log.Warn("auto-disable failed", zap.Error(err))
		return
	}
	for _, id := range ids {
		h.metrics.WebhooksDisabled.Inc()
		h.log.Warn("webhook deactivated: failing continuously", zap.String("webhook_id", id.String()), zap.Duration("after", h.disableAfter))
		if err := store.Audit(ctx, h.db, "taskhook", "webhook.auto_disable", id, "", map[string]any{"failing_for": h.disableAfter.String()}); err != nil {
			h.log.Warn("audit", zap.Error(err))
		}
	}
}

func (h *housekeeping) prune(ctx context.Context) {
	n, err := h.db.Prune(ctx, time.Now().Add(-h.retention), pruneBatch)
	if err != nil {
		h.log.Warn("pruning failed", zap.Error(err))
	} else if n > 0 {
		h.log.Info("pruned old rows", zap.Int64("rows", n), zap.Duration("retention", h.retention))
	}
}

// openDB connects (retrying while PostgreSQL is unreachable, until ctx ends) and migrates.
func openDB(ctx context.Context, cfg Config, log *zap.Logger) (*store.DB, error) {
	return retry.Until(ctx, retry.Backoff{Initial: connectRetryFirst, Max: connectRetryMax},
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
	return retry.Until(ctx, retry.Backoff{Initial: connectRetryFirst, Max: connectRetryMax},
		func(ctx context.Context) (jetstream.Consumer, error) {
			cctx, cancel := context.WithTimeout(ctx, consumerTimeout)
			defer cancel()
			return natsx.EnsureConsumer(cctx, js, stream, natsx.ConsumerConfig{Durable: cfg.ConsumerName,
				AckWait: cfg.Lease, MaxAckPending: maxAckPending})
		},
		func(err error, _ time.Duration) { log.Warn("consumer not ready; retrying", zap.Error(err)) })
}

// retain creates the next days' partitions and drops the days past retention (a day with open
// deliveries is kept until they are final).
func (h *housekeeping) retain(ctx context.Context) {
	now := time.Now()
	if created, err := h.db.EnsurePartitions(ctx, now, now.AddDate(0, 0, store.PartitionsAhead)); err != nil {
		h.log.Warn("creating the next days' partitions failed; retrying at the next run", zap.Error(err))
	} else if len(created) > 0 {
		h.log.Info("partitions created", zap.Strings("partitions", created))
	}
	d, err := h.db.DropPartitions(ctx, now.Add(-h.retention))
	switch {
	case err != nil:
		h.log.Warn("dropping old partitions failed; retrying at the next run", zap.Error(err))
	case len(d.Names) > 0:
		h.log.Info("old partitions dropped", zap.Strings("partitions", d.Names), zap.Duration("longest_lock", d.Lock), zap.Duration("retention", h.retention))
	}
	if len(d.Kept) > 0 {
		h.log.Warn("partitions past the retention kept: deliveries in them are still open", zap.Strings("partitions", d.Kept))
	}
	if d.DefaultRows > 0 {
		h.log.Warn("rows outside every day partition (in the DEFAULT partitions)", zap.Int64("rows", d.DefaultRows))
	}
}
