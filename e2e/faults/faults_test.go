package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhook/taskhook/pkg/natsx"
	"github.com/taskhook/taskhook/pkg/tcpproxy"
)

// publisher posts events one by one through ingest (as a Canvas plugin would) and remembers
// which were accepted and how unavailability was answered.
type publisher struct {
	s        *stack
	mu       sync.Mutex
	accepted []string
	refused  int // 503s
	noRetry  int // 503s without Retry-After
	other    []string
}

func (p *publisher) run(ctx context.Context, prefix string, every time.Duration) {
	client := &http.Client{Timeout: 10 * time.Second}
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("%s-%05d", prefix, i)
		body := fmt.Sprintf(`{"event_id":%q,"task_id":"%d","event":"created","title":"Follow up"}`, id, i)
		req, _ := http.NewRequest("POST", "http://"+p.s.ingestAddr+"/v1/events", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+ingestToken)
		resp, err := client.Do(req)
		p.mu.Lock()
		switch {
		case err != nil:
			p.other = append(p.other, err.Error())
		case resp.StatusCode == 202:
			p.accepted = append(p.accepted, id)
		case resp.StatusCode == 503:
			p.refused++
			if resp.Header.Get("Retry-After") == "" {
				p.noRetry++
			}
		default:
			p.other = append(p.other, resp.Status)
		}
		p.mu.Unlock()
		if resp != nil {
			resp.Body.Close()
		}
		time.Sleep(every)
	}
}

// startPublisher publishes in the background (events prefix-00000, -00001, …, one every
// `every`) until stop is called; stop waits for the last request to finish.
func startPublisher(s *stack, prefix string, every time.Duration) (*publisher, func()) {
	p := &publisher{s: s}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.run(ctx, prefix, every); close(done) }()
	return p, func() { cancel(); <-done }
}

func (p *publisher) ids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.accepted...)
}

// reconcile checks, once the pipeline is idle: the stream holds every accepted event (and
// nothing more than was published), ingest's metrics count what the publisher saw, every
// stream event reached the sink, and every delivery is final and succeeded.
func reconcile(t *testing.T, s *stack, accepted []string, sink *sink) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(sink.missing(t, accepted)) > 0 {
		if time.Now().After(deadline) {
			diagnose(t, s, sink.missing(t, accepted))
			t.Fatalf("%d of %d accepted events not delivered within 60s", len(sink.missing(t, accepted)), len(accepted))
		}
		time.Sleep(50 * time.Millisecond)
	}
	nc, err := nats.Connect(s.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, natsx.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	inStream := int(info.State.Msgs)
	if inStream < len(accepted) {
		t.Fatalf("stream holds %d messages, fewer than the %d accepted events", inStream, len(accepted))
	}
	if got := metric(t, s.ingestAddr, "taskhook_ingest_events_total", `outcome="accepted"`); int(got) != len(accepted) {
		t.Fatalf("ingest counted %v accepted events, the publisher saw %d", got, len(accepted))
	}
	db, err := sqlx.Open("postgres", s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	total := waitRecorded(t, db, inStream)
	sink.mu.Lock()
	distinct := len(sink.byEv)
	sink.mu.Unlock()
	// An event can be stored although its publisher was told 503 (the ack was lost); it is
	// delivered too. So: accepted ⊆ stream = deliveries = distinct events at the receiver.
	if distinct != inStream {
		t.Fatalf("stream %d, deliveries %d, distinct events at the receiver %d, accepted %d", inStream, total, distinct, len(accepted))
	}
	t.Logf("reconciled: %d accepted, %d in the stream, %d deliveries succeeded, %d duplicates (same webhook-id)",
		len(accepted), inStream, total, sink.duplicates())
}

// TestNATSRestartMidBurst: NATS goes away mid-burst. Ingest answers 503 with Retry-After while
// it is down and recovers by itself; nothing accepted is lost.
func TestNATSRestartMidBurst(t *testing.T) {
	s := newStack(t)
	s.startDispatcher()
	s.startIngest()
	sink := newSink(t, 0)
	s.createWebhook(map[string]any{"url": sink.URL})
	p, stop := startPublisher(s, "n", 5*time.Millisecond)
	waitUntil(t, 20*time.Second, "burst under way", func() bool { return sink.requests() > 100 })
	s.nats.Shutdown()
	time.Sleep(2 * time.Second)
	s.nats.Start()
	before := len(p.ids())
	waitUntil(t, 30*time.Second, "ingest accepts again", func() bool { return len(p.ids()) > before+50 })
	stop()
	if p.refused == 0 || p.noRetry != 0 {
		t.Fatalf("while NATS was down: %d 503s, %d without Retry-After", p.refused, p.noRetry)
	}
	if len(p.other) > 0 {
		t.Fatalf("answers other than 202 and 503: %v", p.other)
	}
	reconcile(t, s, p.ids(), sink)
}

// TestDatabaseCutMidBurst: every dispatcher connection to PostgreSQL is cut and refused for a
// while (what a restart looks like from the dispatcher); nothing is lost.
func TestDatabaseCutMidBurst(t *testing.T) {
	s := newStack(t)
	u, _ := url.Parse(s.dbURL)
	proxy, err := tcpproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	real := s.dbURL
	viaProxy := *u
	viaProxy.Host = proxy.Addr()
	s.dbURL = viaProxy.String()
	s.startDispatcher()
	s.dbURL = real
	s.startIngest()
	sink := newSink(t, 0)
	s.createWebhook(map[string]any{"url": sink.URL})
	p, stop := startPublisher(s, "d", 5*time.Millisecond)
	waitUntil(t, 20*time.Second, "burst under way", func() bool { return sink.requests() > 100 })
	proxy.SetMode(tcpproxy.Refuse)
	time.Sleep(3 * time.Second)
	proxy.SetMode(tcpproxy.Forward)
	time.Sleep(time.Second)
	stop()
	reconcile(t, s, p.ids(), sink)
}

// TestReceiverFaults: a receiver behind a proxy that stalls and then refuses connections, and
// a receiver that flaps (half of its answers are 500, at most four per delivery): everything
// arrives, duplicates carry the same webhook-id, nothing is left non-final.
func TestReceiverFaults(t *testing.T) {
	s := newStack(t, "TASKHOOK_RETRY_SCHEDULE=200ms,300ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms")
	s.startDispatcher()
	s.startIngest()
	cut := newSink(t, 0)
	proxy, err := tcpproxy.Start(strings.TrimPrefix(cut.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	s.createWebhook(map[string]any{"url": "http://" + proxy.Addr() + "/hook"})
	flap := newFlappingSink(t, 0.5)
	s.createWebhook(map[string]any{"url": flap.URL})

	p, stop := startPublisher(s, "r", 10*time.Millisecond)
	waitUntil(t, 20*time.Second, "burst under way", func() bool { return cut.requests() > 30 })
	proxy.SetMode(tcpproxy.Stall)
	time.Sleep(2500 * time.Millisecond) // beyond the 1s attempt timeout
	proxy.SetMode(tcpproxy.Refuse)
	time.Sleep(1500 * time.Millisecond)
	proxy.SetMode(tcpproxy.Forward)
	time.Sleep(500 * time.Millisecond)
	stop()
	ids := p.ids()
	waitUntil(t, 60*time.Second, "the flapping receiver got everything", func() bool { return len(flap.missing(t, ids)) == 0 })
	reconcileTwo(t, s, ids, cut, flap)
}

// reconcileTwo is reconcile for two webhooks that both take every event.
func reconcileTwo(t *testing.T, s *stack, ids []string, a, b *sink) {
	t.Helper()
	waitUntil(t, 60*time.Second, "every accepted event at both receivers", func() bool {
		return len(a.missing(t, ids)) == 0 && len(b.missing(t, ids)) == 0
	})
	db, err := sqlx.Open("postgres", s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitRecorded(t, db, 2*len(ids))
	t.Logf("%d events; duplicates: %d at the cut receiver, %d at the flapping one", len(ids), a.duplicates(), b.duplicates())
}

// newFlappingSink is a sink that answers 500 to a share of requests (before recording them).
func newFlappingSink(t *testing.T, failShare float64) *sink {
	s := &sink{byEv: map[string][]string{}}
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(1, 2))
	// A delivery fails at most flapLimit times: with failures at random and no bound, a burst of
	// ~600 events has a few percent chance that one of them fails all its attempts (0.5^13) and
	// is, rightly, given up, which this test would take for a lost event.
	const flapLimit = 4
	fails := map[string]int{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id := req.Header.Get("webhook-id")
		mu.Lock()
		fail := fails[id] < flapLimit && r.Float64() < failShare
		if fail {
			fails[id]++
		}
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var env struct {
			Data struct {
				EventID string `json:"event_id"`
			} `json:"data"`
		}
		_ = json.NewDecoder(req.Body).Decode(&env)
		s.mu.Lock()
		s.byEv[env.Data.EventID] = append(s.byEv[env.Data.EventID], req.Header.Get("webhook-id"))
		s.n++
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s
}

// diagnose logs what became of undelivered events: their delivery rows and the consumer.
func diagnose(t *testing.T, s *stack, missing []string) {
	t.Helper()
	if len(missing) > 10 {
		missing = missing[:10]
	}
	t.Logf("missing (first 10): %v", missing)
	db, err := sqlx.Open("postgres", s.dbURL)
	if err == nil {
		defer db.Close()
		var rows []struct {
			EventID  string `db:"event_id"`
			Status   string `db:"status"`
			Attempts int    `db:"attempts"`
			Err      string `db:"last_error"`
		}
		_ = db.Select(&rows, `SELECT event_id, status, attempts, last_error FROM deliveries WHERE event_id = ANY($1)`, pq.Array(missing))
		t.Logf("their delivery rows: %+v", rows)
		var byStatus []struct {
			Status string `db:"status"`
			N      int    `db:"n"`
		}
		_ = db.Select(&byStatus, `SELECT status, count(*) AS n FROM deliveries GROUP BY status`)
		t.Logf("deliveries by status: %+v", byStatus)
	}
	if nc, err := nats.Connect(s.natsURL); err == nil {
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if c, err := js.Consumer(ctx, natsx.StreamName, "taskhook-dispatcher"); err == nil {
			info, _ := c.Info(ctx)
			t.Logf("consumer: delivered %+v ack floor %+v pending %d ack pending %d redelivered %d", info.Delivered, info.AckFloor, info.NumPending, info.NumAckPending, info.NumRedelivered)
		} else {
			t.Logf("consumer: %v", err)
		}
	}
}

// waitRecorded waits until want deliveries are recorded, all succeeded. Deliveries that a
// killed or cut-off dispatcher sent but did not record come back with their unacknowledged
// messages after the ack wait, are sent again (same webhook-id) and recorded.
func waitRecorded(t *testing.T, db *sqlx.DB, want int) int {
	t.Helper()
	var total, ok int
	deadline := time.Now().Add(60 * time.Second)
	for {
		_ = db.Get(&total, `SELECT count(*) FROM deliveries`)
		_ = db.Get(&ok, `SELECT count(*) FROM deliveries WHERE status = 'succeeded'`)
		if total == want && ok == want {
			return total
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries recorded (%d succeeded), want %d, all succeeded", total, ok, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
