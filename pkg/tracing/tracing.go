// Package tracing is Taskhook's OpenTelemetry setup, shared by both services: a tracer provider
// exporting over OTLP as the SDK's standard OTEL_* variables say (off, at no cost, when none
// names an endpoint), and W3C trace context carried in NATS message headers, so that one trace
// runs from a publisher's request through ingest, JetStream and the dispatcher to the receiver.
package tracing

import (
	"context"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Enabled reports whether the environment asks for tracing: an OTLP endpoint is named
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and OTEL_TRACES_EXPORTER
// and OTEL_SDK_DISABLED do not turn it off.
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(getenv("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Tracing is a service's tracer provider and the propagator of trace context.
type Tracing struct {
	Provider   trace.TracerProvider
	Propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
	flush      func(context.Context) error
}

// Off is tracing that records nothing (and costs close to nothing).
func Off() *Tracing {
	return &Tracing{Provider: noop.NewTracerProvider(), Propagator: propagation.TraceContext{}}
}

// New returns tracing for service as the environment configures it (see Enabled): OTLP over
// HTTP, batched, with the SDK reading every other OTEL_* variable itself (headers, timeouts,
// sampler, resource attributes, OTEL_SERVICE_NAME).
func New(ctx context.Context, service, version string) (*Tracing, error) {
	if !Enabled(os.Getenv) {
		return Off(), nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, err
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", service), attribute.String("service.version", version)))
	if err != nil {
		return nil, err
	}
	if env, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, env); err == nil {
			res = merged
		}
	}
	return WithExporter(exp, res), nil
}

// WithExporter is tracing that sends every span to exp in batches (tests pass the SDK's
// in-memory exporter).
func WithExporter(exp sdktrace.SpanExporter, res *resource.Resource) *Tracing {
	opts := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp)}
	if res != nil {
		opts = append(opts, sdktrace.WithResource(res))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return &Tracing{Provider: tp, Propagator: propagation.TraceContext{}, shutdown: tp.Shutdown, flush: tp.ForceFlush}
}

// On reports whether spans are recorded (false for Off).
func (t *Tracing) On() bool { return t.shutdown != nil }

// Tracer is the named tracer of a package.
func (t *Tracing) Tracer(name string) trace.Tracer { return t.Provider.Tracer(name) }

// Shutdown flushes the spans not exported yet, within ctx.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.shutdown == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return t.shutdown(ctx)
}

// Flush exports the spans ended so far.
func (t *Tracing) Flush(ctx context.Context) error {
	if t.flush == nil {
		return nil
	}
	return t.flush(ctx)
}

// Inject writes ctx's trace context into a NATS message's headers (traceparent, tracestate).
func (t *Tracing) Inject(ctx context.Context, m *nats.Msg) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	t.Propagator.Inject(ctx, natsCarrier(m.Header))
}

// Extract reads the trace context a NATS message carries, onto ctx.
func (t *Tracing) Extract(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return t.Propagator.Extract(ctx, natsCarrier(h))
}

// InjectHTTP writes ctx's trace context into outbound HTTP headers.
func (t *Tracing) InjectHTTP(ctx context.Context, h http.Header) {
	t.Propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// ExtractHTTP reads a request's trace context (a publisher that traces its own calls).
func (t *Tracing) ExtractHTTP(ctx context.Context, h http.Header) context.Context {
	return t.Propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// natsCarrier adapts NATS headers (case-sensitive, unlike HTTP's) to the propagator, with the
// lower-case names W3C trace context uses.
type natsCarrier nats.Header

func (c natsCarrier) Get(key string) string {
	if v := nats.Header(c).Get(key); v != "" {
		return v
	}
	return nats.Header(c).Get(strings.ToLower(key))
}

func (c natsCarrier) Set(key, value string) { nats.Header(c).Set(strings.ToLower(key), value) }

func (c natsCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// Echo is middleware that records a server span per request (named by method and route, with
// the status code), continuing the caller's trace when its request carries one. With tracing
// off it passes requests through untouched.
func (t *Tracing) Echo(tracerName string) echo.MiddlewareFunc {
	tracer := t.Tracer(tracerName)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if !t.On() {
			return next
		}
		return func(c echo.Context) error {
			req := c.Request()
			ctx := t.ExtractHTTP(req.Context(), req.Header)
			ctx, span := tracer.Start(ctx, req.Method+" "+c.Path(), trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(attribute.String("http.request.method", req.Method), attribute.String("http.route", c.Path())))
			defer span.End()
			c.SetRequest(req.WithContext(ctx))
			err := next(c)
			status := c.Response().Status
			if he, ok := err.(*echo.HTTPError); ok {
				status = he.Code
			}
			span.SetAttributes(attribute.Int("http.response.status_code", status))
			if status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			return err
		}
	}
}

// Format is the W3C traceparent of a span context ("" when invalid), to store beside an event.
func Format(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	flags := "00"
	if sc.IsSampled() {
		flags = "01"
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + flags
}

// Parse reads a stored traceparent (an invalid span context when it does not parse).
func Parse(traceparent string) trace.SpanContext {
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	return trace.SpanContextFromContext(ctx)
}
