package app

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskhook/taskhook/pkg/natstest"
	"github.com/taskhook/taskhook/pkg/tracing"
)

// TestTraceThroughIngest: a request that carries a publisher's traceparent gets a server span
// in that trace, the publish is its child, and the stored message carries the publish span's
// context for the dispatcher (one per item of a batch).
func TestTraceThroughIngest(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.WithExporter(exp, nil)
	h := startHooks(t, natstest.Start(t), Hooks{Tracing: tr})
	caller := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if r := h.event(seedEvent(t), "traceparent", caller); r.Status != http.StatusAccepted {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if r := h.post("/v1/events/batch", "application/json", token, []byte(`[{"task_id":"1","event":"due","title":"A"},{"task_id":"2","event":"due","title":"B"}]`)); r.Status != http.StatusOK {
		t.Fatalf("batch %d %s", r.Status, r.Body)
	}
	_ = tr.Flush(context.Background())
	spans := exp.GetSpans()
	var server, batch tracetest.SpanStub
	var publishes []tracetest.SpanStub
	for _, s := range spans {
		switch {
		case s.Name == "POST /v1/events":
			server = s
		case s.Name == "POST /v1/events/batch":
			batch = s
		case s.SpanKind == trace.SpanKindProducer:
			publishes = append(publishes, s)
		}
	}
	want := tracing.Parse(caller)
	if server.SpanContext.TraceID() != want.TraceID() || server.Parent.SpanID() != want.SpanID() || server.SpanKind != trace.SpanKindServer {
		t.Fatalf("server span %v (parent %v), want a child of the caller's %v", server.SpanContext, server.Parent, want)
	}
	if len(publishes) != 3 {
		t.Fatalf("%d publish spans, want 3", len(publishes))
	}
	stored := map[trace.SpanID]bool{}
	for _, m := range h.streamMsgs() {
		stored[tracing.Parse(m.Header.Get("traceparent")).SpanID()] = true
	}
	for _, p := range publishes {
		parent := server
		if p.SpanContext.TraceID() != server.SpanContext.TraceID() {
			parent = batch
		}
		if p.Parent.SpanID() != parent.SpanContext.SpanID() {
			t.Fatalf("publish span %s is not under its request", p.Name)
		}
		if !stored[p.SpanContext.SpanID()] {
			t.Fatalf("no stored message carries publish span %s", p.SpanContext.SpanID())
		}
	}
}

// TestNoTracingNoHeaders: with tracing off (no OTEL_* endpoint), messages carry no trace headers.
func TestNoTracingNoHeaders(t *testing.T) {
	h := start(t)
	if r := h.event(seedEvent(t), "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"); r.Status != http.StatusAccepted {
		t.Fatalf("%d", r.Status)
	}
	for _, m := range h.streamMsgs() {
		if m.Header.Get("traceparent") != "" {
			t.Fatalf("trace header without tracing: %v", m.Header)
		}
	}
}
