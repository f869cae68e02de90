package app

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/deliver"
	"github.com/taskhook/taskhook/dispatcher/internal/netguard"
	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/pkg/config"
)

// Summary is the first paragraph of `dispatcher -h`.
const Summary = `dispatcher consumes events (tasks, device reports, device batteries) from the NATS JetStream
stream TASK_EVENTS, matches them to the webhooks stored in PostgreSQL, renders each provider's
payload, delivers it (signed, authenticated, through an SSRF-safe client) and retries failures
with backoff. From the due dates of task events it derives task.due and task.overdue (unless
TASKHOOK_DUE_EVENTS=off); about its own webhooks it publishes operational events (webhook.*,
delivery.*) to the webhooks that name them. It serves the admin JSON API, the admins' dashboard
(/ui/) and Prometheus metrics on DISPATCHER_ADDR.`

// Config is the dispatcher's configuration, read from the environment.
type Config struct {
	NATSURL            string        `env:"NATS_URL" envDefault:"nats://127.0.0.1:4222" help:"NATS server(s), comma-separated"`
	DatabaseURL        string        `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/taskhook?sslmode=disable" help:"PostgreSQL; migrations run at start"`
	Addr               string        `env:"DISPATCHER_ADDR" envDefault:"127.0.0.1:8081" help:"HTTP listen address (admin API, metrics)"`
	AdminTokens        string        `env:"TASKHOOK_ADMIN_TOKENS,required,notEmpty" help:"comma-separated bearer tokens with full admin access"`
	ViewerTokens       string        `env:"TASKHOOK_VIEWER_TOKENS" help:"comma-separated bearer tokens with read-only access"`
	EncryptionKey      string        `env:"TASKHOOK_ENCRYPTION_KEY,required,notEmpty" help:"base64 of 32 random bytes; encrypts webhook secrets and stored payloads at rest"`
	PreviousKeys       string        `env:"TASKHOOK_PREVIOUS_ENCRYPTION_KEYS" help:"comma-separated old encryption keys that only open; what they sealed is re-sealed with TASKHOOK_ENCRYPTION_KEY in the background"`
	AllowHTTP          bool          `env:"TASKHOOK_ALLOW_HTTP" envDefault:"false" help:"allow http:// webhook URLs (development and tests only)"`
	AllowedNetworks    string        `env:"TASKHOOK_ALLOWED_NETWORKS" help:"CIDRs webhook targets may resolve to although private, loopback or link-local"`
	EgressProxy        string        `env:"TASKHOOK_EGRESS_PROXY" help:"http://host:port of an HTTP proxy every delivery, token request and mail leaves through (CONNECT tunnels, to the address the SSRF guard checked)"`
	StreamReplicas     int           `env:"TASKHOOK_STREAM_REPLICAS" envDefault:"1" help:"JetStream replicas of the event stream (3 in a NATS cluster); 1 to 5"`
	DuplicateWindow    time.Duration `env:"TASKHOOK_DUPLICATE_WINDOW" envDefault:"2m" help:"JetStream duplicate window of the stream"`
	StreamMaxAge       time.Duration `env:"TASKHOOK_STREAM_MAX_AGE" envDefault:"168h" help:"how long events stay in the stream (0 keeps them forever)"`
	RetrySchedule      string        `env:"TASKHOOK_RETRY_SCHEDULE" envDefault:"5s,5m,30m,2h,5h,10h,10h" help:"delays between attempts (Go durations); its length + 1 is the default number of attempts"`
	AttemptTimeout     time.Duration `env:"TASKHOOK_ATTEMPT_TIMEOUT" envDefault:"10s" help:"timeout of one delivery attempt"`
	RetryAfterMax      time.Duration `env:"TASKHOOK_RETRY_AFTER_MAX" envDefault:"1h" help:"cap on a receiver's Retry-After"`
	Lease              time.Duration `env:"TASKHOOK_LEASE" envDefault:"3s" help:"how long a claimed delivery stays with a replica that stops renewing it (renewed every sixth of it; an attempt is cancelled when a quarter is left unrenewed; also the consumer's ack wait); at least 1s"`
	MaxInflight        int           `env:"TASKHOOK_MAX_INFLIGHT" envDefault:"512" help:"attempts in flight at once, all webhooks"`
	WebhookConcurrency int           `env:"TASKHOOK_WEBHOOK_CONCURRENCY" envDefault:"32" help:"attempts in flight at once to one webhook"`
	PollInterval       time.Duration `env:"TASKHOOK_POLL_INTERVAL" envDefault:"500ms" help:"how often due retries, due reminders and closed digest windows are looked for; at least 10ms"`
	ConsumerName       string        `env:"TASKHOOK_CONSUMER" envDefault:"taskhook-dispatcher" help:"durable JetStream consumer shared by the replicas"`
	BatchSize          int           `env:"TASKHOOK_BATCH_SIZE" envDefault:"256" help:"events fanned out per database transaction; 1 to 5000"`
	AckWindow          time.Duration `env:"TASKHOOK_ACK_WINDOW" envDefault:"250ms" help:"how long a batch waits for its first attempts before storing them as pending; 0 to less than TASKHOOK_LEASE"`
	GaugeInterval      time.Duration `env:"TASKHOOK_GAUGE_INTERVAL" envDefault:"5s" help:"how often the retry backlog, consumer and reminder-lag gauges are refreshed; at least 100ms"`
	RedAfter           int           `env:"TASKHOOK_RED_AFTER" envDefault:"5" help:"consecutive failures that make a webhook's health red; at least 1"`
	DisableAfter       time.Duration `env:"TASKHOOK_DISABLE_AFTER" envDefault:"120h" help:"deactivate a webhook failing without a success for this long; 0 (never) or at least 1h"`
	Retention          time.Duration `env:"TASKHOOK_RETENTION" envDefault:"720h" help:"days of deliveries, attempts and stored events older than this are dropped (whole days), and tasks closed longer ago pruned; at least 24h, and at least the retry horizon (the schedule's sum plus TASKHOOK_RETRY_AFTER_MAX)"`
	RetentionInterval  time.Duration `env:"TASKHOOK_RETENTION_INTERVAL" envDefault:"1h" help:"how often old partitions are dropped (and the next days' created); at least 1m"`
	RotationGrace      time.Duration `env:"TASKHOOK_ROTATION_GRACE" envDefault:"24h" help:"how long a rotated hmac secret keeps signing beside the new one"`
	ReplayLimit        int           `env:"TASKHOOK_REPLAY_LIMIT" envDefault:"10000" help:"most deliveries one replay re-queues or creates; 1 to 1000000"`
	DBMaxConns         int           `env:"TASKHOOK_DB_MAX_CONNS" envDefault:"16" help:"PostgreSQL connections per replica; at least 2"`
	ReadTimeout        time.Duration `env:"TASKHOOK_READ_TIMEOUT" envDefault:"30s" help:"time for a whole request, headers and body, to arrive (408 and the connection closed otherwise); 1s to 1h"`
	IdleTimeout        time.Duration `env:"TASKHOOK_IDLE_TIMEOUT" envDefault:"120s" help:"an idle keep-alive connection closes after this; 1s to 1h"`
	ShutdownTimeout    time.Duration `env:"TASKHOOK_SHUTDOWN_TIMEOUT" envDefault:"15s" help:"grace period for in-flight work on SIGTERM"`
	LogLevel           string        `env:"TASKHOOK_LOG_LEVEL" envDefault:"info" help:"debug, info, warn or error"`
	OTLPEndpoint       string        `env:"OTEL_EXPORTER_OTLP_ENDPOINT" help:"OpenTelemetry traces: the OTLP/HTTP collector; empty: tracing off (the SDK reads every other OTEL_* variable itself)"`
	PprofAddr          string        `env:"TASKHOOK_PPROF_ADDR" help:"serve Go pprof profiles on this address (loopback only; off when empty)"`
	DueEvents          string        `env:"TASKHOOK_DUE_EVENTS" envDefault:"derive" help:"derive task.due and task.overdue from the due dates of task events, or off (publishers send them)"`
	Timezone           string        `env:"TASKHOOK_TIMEZONE" envDefault:"UTC" help:"IANA time zone that defines the day a task falls due (task.due fires at its start)"`
	OverdueGrace       time.Duration `env:"TASKHOOK_OVERDUE_GRACE" envDefault:"0s" help:"wait after a task's due date before task.overdue; 0 to 720h"`
	UISession          time.Duration `env:"TASKHOOK_UI_SESSION" envDefault:"12h" help:"lifetime of a dashboard (/ui/) session; 1m to 720h"`
	DigestMaxBytes     config.Bytes  `env:"TASKHOOK_DIGEST_MAX_BYTES" envDefault:"4MiB" help:"the largest digest body; a window holding more becomes further parts (part, parts); 64KiB to 64MiB"`
	SilenceMax         time.Duration `env:"TASKHOOK_SILENCE_MAX" envDefault:"168h" help:"the longest silence (POST /v1/silences); 1m to 8760h"`
	OpsInterval        time.Duration `env:"TASKHOOK_OPS_INTERVAL" envDefault:"5m" help:"operational events (webhook.disabled, webhook.health_changed, delivery.exhausted, delivery.recovered): at most one per webhook and type per interval, counting what happened in it; 1s to 24h"`
	PublicURL          string        `env:"TASKHOOK_PUBLIC_URL" help:"base URL people reach the dispatcher at, e.g. https://taskhook.example.org (acknowledge links of alerts); required for a webhook's escalation"`
	AckLinkTTL         time.Duration `env:"TASKHOOK_ACK_LINK_TTL" envDefault:"168h" help:"how long an alert's acknowledge link works; 10s to 720h"`

	key      []byte
	previous [][]byte
	allowed  []netip.Prefix
	egress   *url.URL
	schedule deliver.Schedule
	location *time.Location
}

// Load reads and checks the configuration; the error is one line naming the variable.
func Load(environ []string) (Config, error) {
	var c Config
	if err := config.Load(&c, environ); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	var err error
	if len(config.SplitList(c.AdminTokens)) == 0 {
		return fmt.Errorf("TASKHOOK_ADMIN_TOKENS is required: comma-separated bearer tokens")
	}
	if c.key, err = secretbox.ParseKey(c.EncryptionKey); err != nil {
		return fmt.Errorf("TASKHOOK_ENCRYPTION_KEY %v", err)
	}
	for i, k := range config.SplitList(c.PreviousKeys) {
		pk, err := secretbox.ParseKey(k)
		if err != nil {
			return fmt.Errorf("TASKHOOK_PREVIOUS_ENCRYPTION_KEYS: key %d %v", i+1, err)
		}
		c.previous = append(c.previous, pk)
	}
	if c.allowed, err = netguard.ParseAllowed(c.AllowedNetworks); err != nil {
		return err
	}
	if c.egress, err = netguard.ParseProxy(c.EgressProxy); err != nil {
		return err
	}
	if c.schedule, err = deliver.ParseSchedule(c.RetrySchedule); err != nil {
		return err
	}
	if c.DueEvents != "derive" && c.DueEvents != "off" {
		return fmt.Errorf("TASKHOOK_DUE_EVENTS must be derive or off, got %q", c.DueEvents)
	}
	if c.location, err = time.LoadLocation(c.Timezone); err != nil || c.Timezone == "Local" || c.Timezone == "" {
		return fmt.Errorf("TASKHOOK_TIMEZONE must be an IANA time zone such as America/New_York, got %q", c.Timezone)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("DISPATCHER_ADDR must be host:port, got %q", c.Addr)
	}
	if err := checkPublicURL(c.PublicURL); err != nil {
		return err
	}
	checks := []struct {
		ok  bool
		msg string
	}{
		{c.StreamReplicas >= 1 && c.StreamReplicas <= 5, fmt.Sprintf("TASKHOOK_STREAM_REPLICAS must be 1 to 5, got %d", c.StreamReplicas)},
		{c.DuplicateWindow > 0, "TASKHOOK_DUPLICATE_WINDOW must be positive"},
		{c.StreamMaxAge >= 0, "TASKHOOK_STREAM_MAX_AGE must not be negative"},
		{c.AttemptTimeout > 0, "TASKHOOK_ATTEMPT_TIMEOUT must be positive"},
		{c.RetryAfterMax > 0, "TASKHOOK_RETRY_AFTER_MAX must be positive"},
		{c.Lease >= time.Second, fmt.Sprintf("TASKHOOK_LEASE must be at least 1s, got %s", c.Lease)},
		{c.MaxInflight >= 1, "TASKHOOK_MAX_INFLIGHT must be at least 1"},
		{c.WebhookConcurrency >= 1, "TASKHOOK_WEBHOOK_CONCURRENCY must be at least 1"},
		{c.PollInterval >= 10*time.Millisecond, "TASKHOOK_POLL_INTERVAL must be at least 10ms"},
		{c.ConsumerName != "", "TASKHOOK_CONSUMER must not be empty"},
		{c.BatchSize >= 1 && c.BatchSize <= 5000, "TASKHOOK_BATCH_SIZE must be 1 to 5000"},
		{c.AckWindow >= 0 && c.AckWindow < c.Lease, "TASKHOOK_ACK_WINDOW must be between 0 and TASKHOOK_LEASE"},
		{c.RedAfter >= 1, "TASKHOOK_RED_AFTER must be at least 1"},
		{c.GaugeInterval >= 100*time.Millisecond, "TASKHOOK_GAUGE_INTERVAL must be at least 100ms"},
		{c.DisableAfter == 0 || c.DisableAfter >= time.Hour, "TASKHOOK_DISABLE_AFTER must be 0 (never) or at least 1h"},
		{c.Retention >= 24*time.Hour, "TASKHOOK_RETENTION must be at least 24h"},
		{c.Retention >= retryHorizon(c.schedule, c.RetryAfterMax), fmt.Sprintf("TASKHOOK_RETENTION (%s) must be at least the retry horizon, %s (the sum of TASKHOOK_RETRY_SCHEDULE plus TASKHOOK_RETRY_AFTER_MAX): a delivery must not outlive its day", c.Retention, retryHorizon(c.schedule, c.RetryAfterMax))},
		{c.RetentionInterval >= time.Minute, "TASKHOOK_RETENTION_INTERVAL must be at least 1m"},
		{c.RotationGrace >= 0, "TASKHOOK_ROTATION_GRACE must not be negative"},
		{c.ReplayLimit >= 1 && c.ReplayLimit <= 1000000, "TASKHOOK_REPLAY_LIMIT must be 1 to 1000000"},
		{c.DBMaxConns >= 2, "TASKHOOK_DB_MAX_CONNS must be at least 2"},
		{c.ShutdownTimeout > 0, "TASKHOOK_SHUTDOWN_TIMEOUT must be positive"},
		{c.ReadTimeout >= time.Second && c.ReadTimeout <= time.Hour, "TASKHOOK_READ_TIMEOUT must be between 1s and 1h"},
		{c.IdleTimeout >= time.Second && c.IdleTimeout <= time.Hour, "TASKHOOK_IDLE_TIMEOUT must be between 1s and 1h"},
		{c.OverdueGrace >= 0 && c.OverdueGrace <= 30*24*time.Hour, "TASKHOOK_OVERDUE_GRACE must be between 0 and 720h"},
		{c.UISession >= time.Minute && c.UISession <= 30*24*time.Hour, "TASKHOOK_UI_SESSION must be between 1m and 720h"},
		{c.AckLinkTTL >= 10*time.Second && c.AckLinkTTL <= 30*24*time.Hour, "TASKHOOK_ACK_LINK_TTL must be between 10s and 720h"},
		{c.DigestMaxBytes >= 64<<10 && c.DigestMaxBytes <= 64<<20, "TASKHOOK_DIGEST_MAX_BYTES must be between 64KiB and 64MiB"},
		{c.OpsInterval >= time.Second && c.OpsInterval <= 24*time.Hour, "TASKHOOK_OPS_INTERVAL must be between 1s and 24h"},
		{c.SilenceMax >= time.Minute && c.SilenceMax <= 8760*time.Hour, "TASKHOOK_SILENCE_MAX must be between 1m and 8760h"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("%s", ch.msg)
		}
	}
	return nil
}

// retryHorizon is the longest a delivery stays open by the default schedule: every delay of the
// schedule, plus the longest Retry-After honoured.
func retryHorizon(s deliver.Schedule, retryAfterMax time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return sum + retryAfterMax
}

// checkPublicURL accepts an empty TASKHOOK_PUBLIC_URL (no escalation) or an absolute http(s)
// URL without query or fragment.
func checkPublicURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("TASKHOOK_PUBLIC_URL must be an absolute http(s) URL such as https://taskhook.example.org, got %q", s)
	}
	return nil
}
