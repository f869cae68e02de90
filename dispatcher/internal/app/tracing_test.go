package app

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskhook/taskhook/pkg/tracing"
)

// TestTraceThroughTheDispatcher: an event published with a trace context (as ingest publishes
// it) is consumed, matched, stored, rendered and attempted in spans of that trace, each under the
// right parent; a webhook that opts in receives the attempt's traceparent; the delivery log
// shows each attempt's trace id; the retry (claimed later from PostgreSQL) continues the trace.
func TestTraceThroughTheDispatcher(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.WithExporter(exp, nil)
	db := newDB(t)
	h := startDeps(t, natstestStart(t), db, db, Deps{Tracing: tr})
	rcv := newReceiver(t, answer{status: 503}, answer{status: 204})
	plain := newReceiver(t)
	wh := h.createWebhook(map[string]any{"url": rcv.URL, "send_traceparent": true})
	h.createWebhook(map[string]any{"url": plain.URL})

	// What ingest does: a publish span, its context in the message headers.
	ctx, pub := tr.Tracer("test/ingest").Start(context.Background(), "publish task.created", trace.WithSpanKind(trace.SpanKindProducer))
	v, err := h.valid.Validate([]byte(seed(t)), "", func() string { return "evt-traced" })
	if err != nil {
		t.Fatal(err)
	}
	m := &nats.Msg{Subject: v.Subject, Data: v.Body, Header: nats.Header{jetstream.MsgIDHeader: []string{v.ID}}}
	tr.Inject(ctx, m)
	if _, err := h.js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	pub.End()
	reqs := rcv.waitFor(t, 2, 10*time.Second)
	plain.waitFor(t, 1, 10*time.Second)
	if got := plain.requests()[0].Header.Get("traceparent"); got != "" {
		t.Fatalf("a webhook that did not opt in got traceparent %q", got)
	}
	d := h.waitDelivery(wh.ID, "succeeded", 10*time.Second)

	var spans tracetest.SpanStubs
	eventually(t, 10*time.Second, "the spans", func() bool {
		_ = tr.Flush(context.Background())
		spans = exp.GetSpans()
		n := 0
		for _, s := range spans {
			if s.Name == "attempt task.created" {
				n++
			}
		}
		return n >= 3 // two attempts at one webhook, one at the other
	})
	traceID := pub.SpanContext().TraceID()
	byName := map[string][]tracetest.SpanStub{}
	for _, s := range spans {
		if s.SpanContext.TraceID() == traceID {
			byName[s.Name] = append(byName[s.Name], s)
		}
	}
	one := func(name string) tracetest.SpanStub {
		t.Helper()
		if len(byName[name]) != 1 {
			t.Fatalf("%d %q spans in the trace; spans: %v", len(byName[name]), name, names(spans))
		}
		return byName[name][0]
	}
	consume := one("consume task.created")
	if consume.Parent.SpanID() != pub.SpanContext().SpanID() || consume.SpanKind != trace.SpanKindConsumer {
		t.Fatalf("consume's parent %s, want the publish span %s", consume.Parent.SpanID(), pub.SpanContext().SpanID())
	}
	if match := one("match"); match.Parent.SpanID() != consume.SpanContext.SpanID() {
		t.Fatal("match is not under consume")
	}
	attempts := byName["attempt task.created"]
	if len(attempts) != 3 {
		t.Fatalf("%d attempt spans in the trace, want 3 (two at one webhook, one at the other)", len(attempts))
	}
	bySpan := map[trace.SpanID]tracetest.SpanStub{}
	for _, a := range attempts {
		if a.Parent.SpanID() != consume.SpanContext.SpanID() {
			t.Fatalf("an attempt's parent is %s, not the consume span", a.Parent.SpanID())
		}
		bySpan[a.SpanContext.SpanID()] = a
	}
	for _, r := range byName["render generic"] {
		if _, ok := bySpan[r.Parent.SpanID()]; !ok {
			t.Fatal("a render span is not under an attempt")
		}
	}
	if len(byName["render generic"]) != 3 {
		t.Fatalf("%d render spans", len(byName["render generic"]))
	}
	// The receiver saw each attempt's own span as its parent.
	for i, r := range reqs[:2] {
		sc := tracing.Parse(r.Header.Get("traceparent"))
		a, ok := bySpan[sc.SpanID()]
		if !sc.IsValid() || sc.TraceID() != traceID || !ok {
			t.Fatalf("request %d: traceparent %q is not an attempt of the trace", i, r.Header.Get("traceparent"))
		}
		if code := attr(a, "http.response.status_code"); (i == 0 && code != "503") || (i == 1 && code != "204") {
			t.Fatalf("attempt %d recorded status %s", i+1, code)
		}
	}
	// The batch's write links to the event's consume span.
	linked := false
	for _, s := range spans {
		if s.Name == "store batch" {
			for _, l := range s.Links {
				linked = linked || l.SpanContext.SpanID() == consume.SpanContext.SpanID()
			}
		}
	}
	if !linked {
		t.Fatal("no store batch span links to the event")
	}
	var detail struct {
		AttemptLog []struct {
			TraceID string `json:"trace_id"`
		} `json:"attempt_log"`
	}
	h.do("GET", "/v1/deliveries/"+d.ID, viewerToken, nil).decode(t, &detail)
	if len(detail.AttemptLog) != 2 || detail.AttemptLog[0].TraceID != traceID.String() || detail.AttemptLog[1].TraceID != traceID.String() {
		t.Fatalf("delivery log trace ids %+v, want %s twice", detail.AttemptLog, traceID)
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}
