package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/families"
	"github.com/taskhook/taskhook/pkg/logtest"
	"github.com/taskhook/taskhook/pkg/natstest"
	"github.com/taskhook/taskhook/pkg/natsx"
	"github.com/taskhook/taskhook/pkg/pgtest"
)

const (
	adminToken  = "test-admin-token"
	viewerToken = "test-viewer-token"
)

// fakeDNS answers from a table (a function per name, so that answers can change) and fails
// for names it does not know.
type fakeDNS struct {
	mu    sync.Mutex
	names map[string]func() []netip.Addr
}

func (f *fakeDNS) set(name string, fn func() []netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.names[name] = fn
}

func (f *fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	fn := f.names[host]
	f.mu.Unlock()
	if fn == nil {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return fn(), nil
}

type harness struct {
	t     testing.TB
	nats  *natstest.Server
	dbURL string
	db    *sqlx.DB
	base  string
	dns   *fakeDNS
	js    jetstream.JetStream
	cfg   Config
	stop  func()
	valid *event.Catalog
	// keyEnv restarts a dispatcher on the same data: TASKHOOK_ENCRYPTION_KEY=<this one's key>
	keyEnv string
	routes []*echo.Route
}

func testKey() string {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// env is the test configuration: fast retries, short timeouts, loopback receivers allowed.
func testEnv(natsURL, dbURL string) []string {
	return []string{"NATS_URL=" + natsURL, "DATABASE_URL=" + dbURL, "DISPATCHER_ADDR=127.0.0.1:0",
		"TASKHOOK_ADMIN_TOKENS=" + adminToken, "TASKHOOK_VIEWER_TOKENS=" + viewerToken, "TASKHOOK_ENCRYPTION_KEY=" + testKey(),
		"TASKHOOK_ALLOW_HTTP=true", "TASKHOOK_ALLOWED_NETWORKS=127.0.0.0/8",
		"TASKHOOK_RETRY_SCHEDULE=100ms,200ms,300ms,300ms", "TASKHOOK_ATTEMPT_TIMEOUT=1s", "TASKHOOK_LEASE=5s",
		"TASKHOOK_POLL_INTERVAL=50ms", "TASKHOOK_ACK_WINDOW=100ms", "TASKHOOK_GAUGE_INTERVAL=100ms", "TASKHOOK_SHUTDOWN_TIMEOUT=5s", "TASKHOOK_LOG_LEVEL=debug",
		// The seed's due date is in 2024: derived reminders would add a task.overdue to every
		// test that publishes it. The tests of reminders turn them on (TASKHOOK_DUE_EVENTS=derive).
		"TASKHOOK_DUE_EVENTS=off"}
}

func start(t testing.TB, extraEnv ...string) *harness {
	t.Helper()
	srv := natstest.Start(t)
	dbURL := pgtest.NewDatabase(t)
	return startWith(t, srv, dbURL, dbURL, extraEnv...)
}

func natstestStart(t *testing.T) *natstest.Server { return natstest.Start(t) }
func newDB(t *testing.T) string                   { return pgtest.NewDatabase(t) }

// startWith runs the dispatcher against nats and dbURL (which may be a proxy of realDB).
func startWith(t testing.TB, srv *natstest.Server, dbURL, realDB string, extraEnv ...string) *harness {
	t.Helper()
	return startDeps(t, srv, dbURL, realDB, Deps{}, extraEnv...)
}

// startDeps is startWith with dependencies a test sets (the resolver is always the harness's).
func startDeps(t testing.TB, srv *natstest.Server, dbURL, realDB string, deps Deps, extraEnv ...string) *harness {
	t.Helper()
	cfg, err := Load(append(testEnv(srv.URL, dbURL), extraEnv...))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, nats: srv, dbURL: realDB, cfg: cfg, dns: &fakeDNS{names: map[string]func() []netip.Addr{}},
		keyEnv: "TASKHOOK_ENCRYPTION_KEY=" + cfg.EncryptionKey}
	h.valid, _ = families.Catalog()
	log := logtest.Logger(t, append(logtest.SeedPHI, "whsec_", adminToken)...)
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	routes := make(chan []*echo.Route, 1)
	go func() {
		deps.Resolver, deps.Routes = h.dns, func(r []*echo.Route) { routes <- r }
		done <- Run(ctx, cfg, deps, log, func(a net.Addr) { addrc <- a })
	}()
	select {
	case h.routes = <-routes:
	case err := <-done:
		t.Fatalf("dispatcher exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("dispatcher did not register routes")
	}
	select {
	case a := <-addrc:
		h.base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("dispatcher exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("dispatcher did not listen")
	}
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("dispatcher returned %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("dispatcher did not stop within 30s")
			}
		})
	}
	t.Cleanup(h.stop)
	if h.db, err = sqlx.Open("postgres", realDB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.db.Close() })
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	h.js, _ = jetstream.New(nc)
	return h
}

type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r reply) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("status %d, body not JSON (%v): %s", r.Status, err, r.Body)
	}
}

func (h *harness) do(method, path, token string, body any) reply {
	h.t.Helper()
	return h.doType(method, path, token, "application/json", body)
}

func (h *harness) doType(method, path, token, ctype string, body any) reply {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			b, _ = json.Marshal(body)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

// webhookView is the part of a webhook response the tests read.
type webhookView struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Active bool   `json:"active"`
	Auth   struct {
		Type   string `json:"type"`
		Hint   string `json:"hint"`
		Secret string `json:"secret"`
	} `json:"auth"`
	Health struct {
		State               string   `json:"state"`
		SuccessRate24h      *float64 `json:"success_rate_24h"`
		ConsecutiveFailures int      `json:"consecutive_failures"`
	} `json:"health"`
	DisabledReason string `json:"disabled_reason"`
	MaxAttempts    int    `json:"max_attempts"`
}

func (h *harness) createWebhook(body map[string]any) webhookView {
	h.t.Helper()
	if body["name"] == nil {
		body["name"] = "test webhook"
	}
	r := h.do("POST", "/v1/webhooks", adminToken, body)
	if r.Status != http.StatusCreated {
		h.t.Fatalf("create webhook: %d %s", r.Status, r.Body)
	}
	var v webhookView
	r.decode(h.t, &v)
	return v
}

// publish stores an event in the stream the way ingest does (validated, Nats-Msg-Id set).
func (h *harness) publish(body string) string {
	h.t.Helper()
	v, err := h.valid.Validate([]byte(body), "", func() string { return fmt.Sprintf("evt-%d", time.Now().UnixNano()) })
	if err != nil {
		h.t.Fatalf("test event invalid: %v", err)
	}
	h.publishRaw(v.Subject, v.Body, v.ID)
	return v.ID
}

func (h *harness) publishRaw(subject string, data []byte, msgID string) {
	h.t.Helper()
	m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	if msgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The stream is created by the dispatcher at start.
	if _, err := h.js.PublishMsg(ctx, m); err != nil {
		h.t.Fatalf("publish: %v", err)
	}
}

func seed(t *testing.T) string {
	b, err := os.ReadFile("../../../examples/seed-task-created.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func taskEvent(id, name string, extra string) string {
	return fmt.Sprintf(`{"event_id":%q,"task_id":"t-%s","event":%q,"title":"Follow up"%s}`, id, id, name, extra)
}

// received is what a test receiver saw.
type received struct {
	Path   string
	Header http.Header
	Body   []byte
	At     time.Time
}

// receiver is an httptest server answering with script[i] for the i-th request (the last
// answer repeats).
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

type answer struct {
	status int
	header map[string]string
	delay  time.Duration
	body   string
}

func newReceiver(t *testing.T, script ...answer) *receiver {
	r := &receiver{}
	if len(script) == 0 {
		script = []answer{{status: 200}}
	}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, received{Path: req.URL.Path, Header: req.Header.Clone(), Body: b, At: time.Now()})
		a := script[min(len(r.reqs)-1, len(script)-1)]
		r.mu.Unlock()
		if a.delay > 0 {
			select {
			case <-time.After(a.delay):
			case <-req.Context().Done():
				return
			}
		}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

func (r *receiver) waitFor(t *testing.T, n int, within time.Duration) []received {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if got := r.requests(); len(got) >= n {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("receiver got %d requests within %s, want %d", len(r.requests()), within, n)
	return nil
}

// delivery is a deliveries row.
type delivery struct {
	ID        string `db:"id"`
	Status    string `db:"status"`
	Attempts  int    `db:"attempts"`
	LastCode  *int   `db:"last_status_code"`
	LastError string `db:"last_error"`
	EventID   string `db:"event_id"`
}

func (h *harness) deliveries(webhookID string) []delivery {
	h.t.Helper()
	var out []delivery
	if err := h.db.Select(&out, `SELECT id, status, attempts, last_status_code, last_error, event_id FROM deliveries WHERE webhook_id = $1 ORDER BY created_at`, webhookID); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// waitDelivery waits until the webhook's single delivery reaches status.
func (h *harness) waitDelivery(webhookID, status string, within time.Duration) delivery {
	h.t.Helper()
	deadline := time.Now().Add(within)
	var last []delivery
	for time.Now().Before(deadline) {
		last = h.deliveries(webhookID)
		if len(last) == 1 && last[0].Status == status {
			return last[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("delivery did not reach %s within %s: %+v", status, within, last)
	return delivery{}
}

type attemptRow struct {
	N          int
	StatusCode *int
	Error      string
	Excerpt    []byte
}

// attempts reads a delivery's attempts the way the delivery log does (store.GetDelivery).
func (h *harness) attempts(deliveryID string) []attemptRow {
	h.t.Helper()
	db, err := store.Open(context.Background(), h.dbURL, 2)
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	_, as, err := db.GetDelivery(context.Background(), uuid.MustParse(deliveryID))
	if err != nil {
		h.t.Fatal(err)
	}
	var out []attemptRow
	for _, a := range as {
		r := attemptRow{N: a.N, Error: a.Error, Excerpt: a.Excerpt}
		if a.StatusCode.Valid {
			c := int(a.StatusCode.Int32)
			r.StatusCode = &c
		}
		out = append(out, r)
	}
	return out
}

var metricLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$`)

// metric returns the sum of the samples of name whose labels contain every labels item.
func (h *harness) metric(name string, labels ...string) float64 {
	h.t.Helper()
	r := h.do("GET", "/metrics", "", nil)
	sum := 0.0
	for _, line := range strings.Split(string(r.Body), "\n") {
		m := metricLine.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(m[2], l)
		}
		if ok {
			v, _ := strconv.ParseFloat(m[3], 64)
			sum += v
		}
	}
	return sum
}

func (h *harness) consumerInfo() *jetstream.ConsumerInfo {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := h.js.Consumer(ctx, natsx.StreamName, h.cfg.ConsumerName)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return info
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, within)
}
