package app

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkOrdering measures the delivery rate of one webhook with ordering none and subject,
// for events of 1,000 distinct tasks (-events per task, default 1), through the whole dispatcher
// (real NATS, PostgreSQL, an HTTP receiver). Not part of make test:
//
//	go test -run '^$' -bench Ordering -benchtime 1x ./dispatcher/internal/app/
//
// It reports events/s from the first publish to the last delivery ("wall") and between the
// first and the last delivery ("flow": the rate once deliveries run, without the fixed wait of
// ordered deliveries before their first attempt).
func BenchmarkOrdering(b *testing.B) {
	for _, perTask := range []int{1, 5} {
		for _, ordering := range []string{"none", "subject"} {
			b.Run(fmt.Sprintf("tasks=1000/events-per-task=%d/ordering=%s", perTask, ordering), func(b *testing.B) {
				for range b.N {
					benchOrdering(b, ordering, 1000, perTask)
				}
			})
		}
	}
}

func benchOrdering(b *testing.B, ordering string, tasks, perTask int) {
	h := start(b, "TASKHOOK_LOG_LEVEL=warn", "TASKHOOK_POLL_INTERVAL=500ms", "TASKHOOK_ACK_WINDOW=250ms") // the defaults
	defer h.stop()
	var got atomic.Int64
	var mu sync.Mutex
	var first, last time.Time
	total := int64(tasks * perTask)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := got.Add(1)
		mu.Lock()
		if n == 1 {
			first = time.Now()
		}
		if n == total {
			last = time.Now()
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	h.createWebhook(map[string]any{"url": rcv.URL, "ordering": ordering})
	bodies := make([]string, 0, total)
	for e := range perTask {
		for i := range tasks {
			name := "created"
			if e > 0 {
				name = "updated"
			}
			bodies = append(bodies, fmt.Sprintf(`{"event_id":"b-%d-%d","task_id":"T-%d","event":%q,"title":"v%d"}`, i, e, i, name, e))
		}
	}
	msgs := make([]*nats.Msg, len(bodies))
	for i, body := range bodies {
		v, err := h.valid.Validate([]byte(body), "", nil)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = &nats.Msg{Subject: v.Subject, Data: v.Body, Header: nats.Header{jetstream.MsgIDHeader: []string{v.ID}}}
	}
	b.ResetTimer()
	began := time.Now()
	for _, m := range msgs { // asynchronously, in stream order: the publisher is not what is measured
		if _, err := h.js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-h.js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publishes not acknowledged")
	}
	deadline := time.Now().Add(5 * time.Minute)
	for got.Load() < total && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	if got.Load() < total {
		b.Fatalf("%d of %d delivered", got.Load(), total)
	}
	mu.Lock()
	defer mu.Unlock()
	b.ReportMetric(float64(total)/last.Sub(began).Seconds(), "wall-events/s")
	b.ReportMetric(float64(total)/last.Sub(first).Seconds(), "flow-events/s")
}
