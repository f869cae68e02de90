package tracing

import (
	"context"
	"net/http"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestEnabled(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
	}
	for _, c := range cases {
		if got := Enabled(func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("%v: %v, want %v", c.env, got, c.want)
		}
	}
	if Off().On() {
		t.Fatal("Off is on")
	}
}

// TestNATSPropagation: a span's context crosses a NATS message (lower-case W3C headers) and an
// HTTP request, and spans started from it belong to the same trace with the right parent.
func TestNATSPropagation(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := WithExporter(exp, nil)
	ctx, pub := tr.Tracer("test").Start(context.Background(), "publish")
	m := &nats.Msg{Subject: "task.created"}
	tr.Inject(ctx, m)
	pub.End()
	if m.Header.Get("traceparent") == "" {
		t.Fatalf("no traceparent header: %v", m.Header)
	}
	got := tr.Extract(context.Background(), m.Header)
	cctx, consume := tr.Tracer("test").Start(got, "consume")
	h := http.Header{}
	tr.InjectHTTP(cctx, h)
	consume.End()
	back := trace.SpanContextFromContext(tr.ExtractHTTP(context.Background(), h))
	if err := tr.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	p, c := spans[0], spans[1]
	if c.SpanContext.TraceID() != p.SpanContext.TraceID() || c.Parent.SpanID() != p.SpanContext.SpanID() {
		t.Fatalf("consume is not a child of publish: %v / %v", c.Parent, p.SpanContext)
	}
	if back.TraceID() != p.SpanContext.TraceID() || back.SpanID() != c.SpanContext.SpanID() {
		t.Fatalf("the outbound traceparent %v does not name the consume span", back)
	}
	// Nothing is injected without a span, and an empty header extracts nothing.
	m2 := &nats.Msg{}
	tr.Inject(context.Background(), m2)
	if m2.Header != nil {
		t.Fatalf("headers without a span: %v", m2.Header)
	}
	if sc := trace.SpanContextFromContext(tr.Extract(context.Background(), nil)); sc.IsValid() {
		t.Fatal("a context from nothing")
	}
}

// TestFormatParse: a stored traceparent is the W3C header the propagator would write, and reads
// back as the same span context.
func TestFormatParse(t *testing.T) {
	tr := WithExporter(tracetest.NewInMemoryExporter(), nil)
	ctx, span := tr.Tracer("t").Start(context.Background(), "s")
	defer span.End()
	h := http.Header{}
	tr.InjectHTTP(ctx, h)
	if got := Format(span.SpanContext()); got != h.Get("traceparent") {
		t.Fatalf("Format = %q, the propagator writes %q", got, h.Get("traceparent"))
	}
	if back := Parse(Format(span.SpanContext())); back.TraceID() != span.SpanContext().TraceID() || back.SpanID() != span.SpanContext().SpanID() || !back.IsRemote() {
		t.Fatalf("Parse(Format) = %v", back)
	}
	if Format(trace.SpanContext{}) != "" || Parse("garbage").IsValid() {
		t.Fatal("invalid contexts")
	}
}
