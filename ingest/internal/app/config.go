package app

import (
	"fmt"
	"net"
	"time"

	"github.com/taskhook/taskhook/pkg/config"
)

// Summary is the first paragraph of `ingest -h`.
const Summary = `ingest validates events of every family (task, report, battery) against their schemas in
schemas/ and publishes them durably to the NATS JetStream stream TASK_EVENTS, the subject being
the event type (task.created, report.completed, battery.critical, ...). It answers 202 only
after JetStream acknowledged the event.`

// Config is ingest's configuration, read from the environment.
type Config struct {
	NATSURL         string        `env:"NATS_URL" envDefault:"nats://127.0.0.1:4222" help:"NATS server(s), comma-separated"`
	Addr            string        `env:"INGEST_ADDR" envDefault:"127.0.0.1:8080" help:"HTTP listen address"`
	Tokens          string        `env:"TASKHOOK_INGEST_TOKENS,required,notEmpty" help:"comma-separated bearer tokens accepted from publishers"`
	StreamReplicas  int           `env:"TASKHOOK_STREAM_REPLICAS" envDefault:"1" help:"JetStream replicas of the event stream (3 in a NATS cluster)"`
	DuplicateWindow time.Duration `env:"TASKHOOK_DUPLICATE_WINDOW" envDefault:"2m" help:"window in which a repeated event id is answered as a duplicate and not stored again"`
	StreamMaxAge    time.Duration `env:"TASKHOOK_STREAM_MAX_AGE" envDefault:"168h" help:"how long events stay in the stream (0 keeps them forever)"`
	MaxBodyBytes    int64         `env:"TASKHOOK_MAX_BODY_BYTES" envDefault:"1048576" help:"largest body of POST /v1/events (413 above)"`
	MaxBatchBytes   int64         `env:"TASKHOOK_MAX_BATCH_BYTES" envDefault:"16777216" help:"largest body of POST /v1/events/batch (413 above)"`
	PublishTimeout  time.Duration `env:"TASKHOOK_PUBLISH_TIMEOUT" envDefault:"5s" help:"longest wait for JetStream's acknowledgement before answering 503"`
	ReadTimeout     time.Duration `env:"TASKHOOK_READ_TIMEOUT" envDefault:"30s" help:"time for a whole request, headers and body, to arrive (408 and the connection closed otherwise); 1s to 1h"`
	IdleTimeout     time.Duration `env:"TASKHOOK_IDLE_TIMEOUT" envDefault:"120s" help:"an idle keep-alive connection closes after this; 1s to 1h"`
	ShutdownTimeout time.Duration `env:"TASKHOOK_SHUTDOWN_TIMEOUT" envDefault:"15s" help:"grace period for in-flight requests on SIGTERM"`
	LogLevel        string        `env:"TASKHOOK_LOG_LEVEL" envDefault:"info" help:"debug, info, warn or error"`
	OTLPEndpoint    string        `env:"OTEL_EXPORTER_OTLP_ENDPOINT" help:"OpenTelemetry traces: the OTLP/HTTP collector; empty: tracing off (the SDK reads every other OTEL_* variable itself)"`
	PprofAddr       string        `env:"TASKHOOK_PPROF_ADDR" help:"serve Go pprof profiles on this address (loopback only; off when empty)"`
}

// Load reads and checks the configuration; the error is one line naming the variable.
func Load(environ []string) (Config, error) {
	var c Config
	if err := config.Load(&c, environ); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c Config) validate() error {
	switch {
	case len(config.SplitList(c.Tokens)) == 0:
		return fmt.Errorf("TASKHOOK_INGEST_TOKENS is required: comma-separated bearer tokens")
	case c.StreamReplicas < 1 || c.StreamReplicas > 5:
		return fmt.Errorf("TASKHOOK_STREAM_REPLICAS must be 1 to 5, got %d", c.StreamReplicas)
	case c.DuplicateWindow <= 0:
		return fmt.Errorf("TASKHOOK_DUPLICATE_WINDOW must be positive, got %s", c.DuplicateWindow)
	case c.StreamMaxAge < 0:
		return fmt.Errorf("TASKHOOK_STREAM_MAX_AGE must not be negative, got %s", c.StreamMaxAge)
	case c.StreamMaxAge > 0 && c.StreamMaxAge < c.DuplicateWindow:
		return fmt.Errorf("TASKHOOK_STREAM_MAX_AGE (%s) must not be shorter than TASKHOOK_DUPLICATE_WINDOW (%s)", c.StreamMaxAge, c.DuplicateWindow)
	case c.MaxBodyBytes < 1024:
		return fmt.Errorf("TASKHOOK_MAX_BODY_BYTES must be at least 1024, got %d", c.MaxBodyBytes)
	case c.MaxBatchBytes < c.MaxBodyBytes:
		return fmt.Errorf("TASKHOOK_MAX_BATCH_BYTES (%d) must be at least TASKHOOK_MAX_BODY_BYTES (%d)", c.MaxBatchBytes, c.MaxBodyBytes)
	case c.PublishTimeout <= 0:
		return fmt.Errorf("TASKHOOK_PUBLISH_TIMEOUT must be positive, got %s", c.PublishTimeout)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("TASKHOOK_SHUTDOWN_TIMEOUT must be positive, got %s", c.ShutdownTimeout)
	case c.ReadTimeout < time.Second || c.ReadTimeout > time.Hour:
		return fmt.Errorf("TASKHOOK_READ_TIMEOUT must be between 1s and 1h, got %s", c.ReadTimeout)
	case c.IdleTimeout < time.Second || c.IdleTimeout > time.Hour:
		return fmt.Errorf("TASKHOOK_IDLE_TIMEOUT must be between 1s and 1h, got %s", c.IdleTimeout)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("INGEST_ADDR must be host:port, got %q", c.Addr)
	}
	return nil
}
