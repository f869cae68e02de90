package faults

import (
	"bytes"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpSpan is one span an OTLP receiver got.
type otlpSpan struct {
	service, name           string
	traceID, spanID, parent string
}

// otlpSink is an OTLP/HTTP trace receiver (protobuf), as a collector would be.
type otlpSink struct {
	*httptest.Server
	mu    sync.Mutex
	spans []otlpSpan
}

func newOTLPSink(t *testing.T) *otlpSink {
	s := &otlpSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &req) != nil {
			http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					s.spans = append(s.spans, otlpSpan{service: service, name: sp.Name, traceID: hex.EncodeToString(sp.TraceId),
						spanID: hex.EncodeToString(sp.SpanId), parent: hex.EncodeToString(sp.ParentSpanId)})
				}
			}
		}
		s.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *otlpSink) find(traceID, service, name string) (otlpSpan, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range s.spans {
		if sp.traceID == traceID && sp.service == service && sp.name == name {
			return sp, true
		}
	}
	return otlpSpan{}, false
}

// TestOneTraceFromPublisherToReceiver: with OTEL_EXPORTER_OTLP_ENDPOINT set on bin/ingest and
// bin/dispatcher, a publisher's traced request yields one trace: its request span in ingest,
// the publish, the dispatcher's consume and the attempt, each the parent of the next, exported
// over OTLP; the receiver (opted in) gets the attempt's traceparent.
func TestOneTraceFromPublisherToReceiver(t *testing.T) {
	sink := newOTLPSink(t)
	s := newStack(t, "OTEL_EXPORTER_OTLP_ENDPOINT="+sink.URL, "OTEL_BSP_SCHEDULE_DELAY=100")
	s.startDispatcher()
	s.startIngest()
	rcv := newCapture(t, nil)
	s.createWebhook(map[string]any{"url": rcv.URL, "send_traceparent": true})
	seed, err := os.ReadFile("../../examples/seed-task-created.json")
	if err != nil {
		t.Fatal(err)
	}
	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest("POST", "http://"+s.ingestAddr+"/v1/events", bytes.NewReader(seed))
	req.Header.Set("Authorization", "Bearer "+ingestToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-"+callerSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("publish: %v %v", resp, err)
	}
	resp.Body.Close()
	got, _ := rcv.first(t)
	tp := got.Header.Get("traceparent")
	if !strings.HasPrefix(tp, "00-"+traceID+"-") {
		t.Fatalf("the receiver got traceparent %q, not in the publisher's trace", tp)
	}
	chain := []struct{ service, name string }{
		{"taskhook-ingest", "POST /v1/events"},
		{"taskhook-ingest", "publish task.created"},
		{"taskhook-dispatcher", "consume task.created"},
		{"taskhook-dispatcher", "attempt task.created"},
	}
	var spans []otlpSpan
	waitUntil(t, 20*time.Second, "the trace exported by both services", func() bool {
		spans = spans[:0]
		for _, c := range chain {
			sp, ok := sink.find(traceID, c.service, c.name)
			if !ok {
				return false
			}
			spans = append(spans, sp)
		}
		return true
	})
	parent := callerSpan
	for i, sp := range spans {
		if sp.parent != parent {
			t.Fatalf("%s's parent is %s, want %s (the span before it in %v)", chain[i].name, sp.parent, parent, chain)
		}
		parent = sp.spanID
	}
	if want := "00-" + traceID + "-" + spans[3].spanID + "-01"; tp != want {
		t.Fatalf("receiver traceparent %s, want the attempt's %s", tp, want)
	}
	t.Logf("one trace: %s", traceID)
}
