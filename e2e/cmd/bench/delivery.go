package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/lib/pq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhook/taskhook/e2e/proc"
	"github.com/taskhook/taskhook/pkg/natsx"
)

const adminToken = "bench-admin-token"

// receiver is the local Go receiver deliveries and the raw client post to: it answers 204 and
// records, per event id, when the event arrived.
type receiver struct {
	srv     *http.Server
	addr    string
	count   atomic.Int64
	mu      sync.Mutex
	arrived map[string]time.Time // event id → first arrival (latency runs only)
	track   atomic.Bool
	first   atomic.Int64 // unix nanos of the first request since reset
	last    atomic.Int64
	status  atomic.Int32 // the answer (204 unless set)
	signed  atomic.Int64 // requests carrying a webhook-signature header
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{addr: ln.Addr().String(), arrived: map[string]time.Time{}}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }() // ends with ErrServerClosed when the suite closes it
	return r, nil
}

var eventIDField = []byte(`"event_id":"`)

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	now := time.Now()
	if r.track.Load() {
		if i := bytes.Index(body, eventIDField); i >= 0 {
			rest := body[i+len(eventIDField):]
			if j := bytes.IndexByte(rest, '"'); j >= 0 {
				id := string(rest[:j])
				r.mu.Lock()
				if _, seen := r.arrived[id]; !seen {
					r.arrived[id] = now
				}
				r.mu.Unlock()
			}
		}
	}
	if req.Header.Get("webhook-signature") != "" {
		r.signed.Add(1)
	}
	r.first.CompareAndSwap(0, now.UnixNano())
	r.last.Store(now.UnixNano())
	r.count.Add(1)
	if code := r.status.Load(); code != 0 {
		w.WriteHeader(int(code))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) reset() {
	r.count.Store(0)
	r.first.Store(0)
	r.last.Store(0)
	r.mu.Lock()
	r.arrived = map[string]time.Time{}
	r.mu.Unlock()
}

// pipeline is a running dispatcher with its database, on the bench's nats-server.
type pipeline struct {
	e      *env
	db     *sql.DB
	dbURL  string
	dbName string
	addr   string
	proc   *proc.Process
	js     jetstream.JetStream
	nc     *nats.Conn
}

func newPipeline(ctx context.Context, e *env, extra ...string) (*pipeline, error) {
	p := &pipeline{e: e}
	// Each pipeline's consumer reads from the start of the stream: start from an empty one.
	if err := e.purgeStream(ctx); err != nil {
		return nil, err
	}
	admin, err := sql.Open("postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	p.dbName = fmt.Sprintf("taskhook_bench_%d", time.Now().UnixNano())
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+p.dbName); err != nil {
		return nil, fmt.Errorf("create bench database (is PostgreSQL running on 127.0.0.1:5432?): %w", err)
	}
	p.dbURL = "postgres://postgres@127.0.0.1:5432/" + p.dbName + "?sslmode=disable"
	if p.db, err = sql.Open("postgres", p.dbURL); err != nil {
		return nil, err
	}
	port, _ := proc.FreePort()
	p.addr = fmt.Sprintf("127.0.0.1:%d", port)
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	dsn := p.dbURL
	if e.opts.dbParams != "" {
		dsn += "&" + e.opts.dbParams
	}
	env := append([]string{"NATS_URL=" + e.natsURL, "DATABASE_URL=" + dsn, "DISPATCHER_ADDR=" + p.addr,
		"TASKHOOK_ADMIN_TOKENS=" + adminToken, "TASKHOOK_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(k),
		"TASKHOOK_ALLOW_HTTP=true", "TASKHOOK_ALLOWED_NETWORKS=127.0.0.0/8", "TASKHOOK_LOG_LEVEL=warn",
		"TASKHOOK_CONSUMER=bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)}, extra...)
	if e.opts.pprof != "" {
		env = append(env, "TASKHOOK_PPROF_ADDR="+e.opts.pprof)
	}
	if p.proc, err = e.start("dispatcher", env, p.addr); err != nil {
		return nil, err
	}
	if p.nc, err = nats.Connect(e.natsURL); err != nil {
		return nil, err
	}
	p.js, _ = jetstream.New(p.nc, jetstream.WithPublishAsyncMaxPending(8192))
	return p, nil
}

func (p *pipeline) close(ctx context.Context) {
	_ = p.proc.Stop(15 * time.Second)
	p.nc.Close()
	p.db.Close()
	if admin, err := sql.Open("postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"); err == nil {
		_, _ = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+p.dbName+" WITH (FORCE)")
		admin.Close()
	}
}

func (p *pipeline) createWebhook(url string, extra map[string]any) (string, error) {
	body := map[string]any{"name": "bench", "url": url, "events": []string{"task.*"}}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", "http://"+p.addr+"/v1/webhooks", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		return "", fmt.Errorf("create webhook: %d %s", resp.StatusCode, rb)
	}
	var v struct{ ID string }
	_ = json.Unmarshal(rb, &v)
	return v.ID, nil
}

// eventBody is the seed event with a given event id (as ingest would publish it).
func eventBody(seed []byte, id string) []byte {
	trimmed := bytes.TrimLeft(seed, " \t\r\n")
	return append([]byte(`{"event_id":"`+id+`",`), trimmed[1:]...)
}

// publishAll publishes n events asynchronously and waits for their acks.
func (p *pipeline) publishAll(ctx context.Context, seed []byte, prefix string, n int) error {
	for i := 0; i < n; i++ {
		id := prefix + strconv.Itoa(i)
		m := &nats.Msg{Subject: "task.created", Data: eventBody(seed, id), Header: nats.Header{jetstream.MsgIDHeader: []string{id}}}
		for {
			_, err := p.js.PublishMsgAsync(m, jetstream.WithStallWait(5*time.Second))
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				return err
			}
			<-p.js.PublishAsyncComplete()
		}
	}
	select {
	case <-p.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("publish acks did not complete")
	}
}

func waitCount(ctx context.Context, r *receiver, n int64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for r.count.Load() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("receiver got %d of %d within %s", r.count.Load(), n, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

func benchDelivery(ctx context.Context, e *env) ([]row, error) {
	seed, rcv, err := e.deliverySetup(ctx)
	if err != nil {
		return nil, err
	}
	defer rcv.srv.Close()
	o := e.opts

	// Raw: a Go HTTP client POSTs the generic body the dispatcher would send, same receiver.
	body := []byte(`{"type":"task.created","timestamp":"2024-01-10T09:00:00Z","data":` + string(eventBody(seed, "raw")) + `}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}}
	raw := closedLoop(ctx, o.concurrency, o.warmup, o.duration, func(ctx context.Context, _ int) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+rcv.addr+"/raw", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return 1, nil
	})
	client.CloseIdleConnections()
	rawRate := raw.perSecond()
	rows := []row{{measure: fmt.Sprintf("raw Go HTTP client POST, %d clients (baseline)", o.concurrency), unit: "POST/s",
		value: rawRate, p50: raw.pct(.5), p99: raw.pct(.99), p999: raw.pct(.999)}}

	// End to end: publish N events while the dispatcher consumes and delivers them.
	p, err := newPipeline(ctx, e, "TASKHOOK_WEBHOOK_CONCURRENCY="+strconv.Itoa(o.concurrency), "TASKHOOK_MAX_INFLIGHT=1024")
	if err != nil {
		return nil, err
	}
	defer p.close(ctx)
	if _, err := p.createWebhook("http://"+rcv.addr+"/hook", nil); err != nil {
		return nil, err
	}
	n := o.events
	rcv.reset()
	cpu := p.cpuMeter()
	start := time.Now()
	if err := p.publishAll(ctx, seed, "d-", n); err != nil {
		return nil, err
	}
	if err := waitCount(ctx, rcv, int64(n), 5*time.Minute); err != nil {
		return nil, err
	}
	took := time.Duration(rcv.last.Load() - start.UnixNano())
	e2e := float64(n) / took.Seconds()
	dispatcherCPU := cpu.snapshot()["dispatcher"]
	rows = append(rows, row{measure: fmt.Sprintf("deliveries end to end (%d events, 1 webhook)", n), unit: "deliveries/s", value: e2e,
		baseline: "raw Go HTTP client POST", base: rawRate, target: ">= 0.40x", minRatio: 0.4,
		note: fmt.Sprintf("publish → consume → store → POST: %d events published asynchronously at once; rate = events / (last arrival − first publish). %s",
			n, cpu.per(n, "delivery"))},
		row{measure: fmt.Sprintf("dispatcher CPU per delivery (%d events, 1 webhook)", n), unit: "µs", value: float64(dispatcherCPU.Microseconds()) / float64(n),
			target: "<= 35 µs", maxValue: 35.0001,
			note: "user + system time of bin/dispatcher from the first publish to the last arrival, over the deliveries (consume, store, attempt, record)."})

	// Fan-out: one event to 100 webhooks.
	for i := 0; i < 99; i++ {
		if _, err := p.createWebhook("http://"+rcv.addr+"/hook/"+strconv.Itoa(i), nil); err != nil {
			return nil, err
		}
	}
	m := o.fanoutEvents
	rcv.reset()
	cpu = p.cpuMeter()
	start = time.Now()
	if err := p.publishAll(ctx, seed, "f-", m); err != nil {
		return nil, err
	}
	if err := waitCount(ctx, rcv, int64(100*m), 5*time.Minute); err != nil {
		return nil, err
	}
	took = time.Duration(rcv.last.Load() - start.UnixNano())
	rows = append(rows, row{measure: fmt.Sprintf("fan-out: 1 event → 100 webhooks (%d events)", m), unit: "deliveries/s",
		value: float64(100*m) / took.Seconds(), baseline: "raw Go HTTP client POST", base: rawRate,
		note: fmt.Sprintf("%d deliveries in %s. %s", 100*m, took.Round(time.Millisecond), cpu.per(100*m, "delivery"))})
	return rows, nil
}

// cpuMeter samples the CPU time of the processes of a run: the dispatcher, nats-server and the
// bench itself (publisher and receiver), and PostgreSQL's server processes.
type cpuMeter struct {
	procs []meteredProc
	self  time.Duration
	pg    map[int]time.Duration
	db    *sql.DB // the run's database: only its backends and PostgreSQL's writers count
}

type meteredProc struct {
	name  string
	p     *proc.Process
	start time.Duration
}

func (p *pipeline) cpuMeter() *cpuMeter {
	m := &cpuMeter{self: selfCPU(), db: p.db}
	m.pg = postgresCPU(pgPids(m.db))
	for _, mp := range []meteredProc{{name: "dispatcher", p: p.proc}, {name: "nats-server", p: p.e.nats}} {
		mp.start, _ = mp.p.CPUTime()
		m.procs = append(m.procs, mp)
	}
	return m
}

// per describes the CPU time used since the meter started, per unit of work.
func (m *cpuMeter) per(n int, unit string) string {
	perN := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	var parts []string
	for _, mp := range m.procs {
		if t, err := mp.p.CPUTime(); err == nil {
			parts = append(parts, fmt.Sprintf("%s %.0f µs", mp.name, perN(t-mp.start)))
		}
	}
	parts = append(parts, fmt.Sprintf("bench (publisher, receiver) %.0f µs", perN(selfCPU()-m.self)))
	var pg time.Duration
	for pid, t := range postgresCPU(pgPids(m.db)) {
		pg += t - m.pg[pid] // a backend started since counts whole
	}
	parts = append(parts, fmt.Sprintf("PostgreSQL %.0f µs", perN(pg)))
	return "CPU per " + unit + ": " + strings.Join(parts, ", ") + "."
}

// pgPids is the server processes that work for db: its own backends and the WAL writer,
// checkpointer and background writer (shared with any other database of the cluster). On a
// machine where others use the same PostgreSQL, their backends are left out; nil when db cannot
// be asked (every postgres process counts).
func pgPids(db *sql.DB) map[int]bool {
	if db == nil {
		return nil
	}
	rows, err := db.Query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database()
		OR backend_type IN ('walwriter', 'checkpointer', 'background writer')`)
	if err != nil {
		return nil
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			out[pid] = true
		}
	}
	if rows.Err() != nil {
		return nil
	}
	return out
}

// postgresCPU is the CPU time of every process named postgres (only the pids in only, unless it
// is nil), by pid (Linux; empty elsewhere).
func postgresCPU(only map[int]bool) map[int]time.Duration {
	out := map[int]time.Duration{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || (only != nil && !only[pid]) {
			continue
		}
		if comm, err := os.ReadFile("/proc/" + d.Name() + "/comm"); err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		if t, err := proc.CPUTimeOf(pid); err == nil {
			out[pid] = t
		}
	}
	return out
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// purgeStream empties TASK_EVENTS.
func (e *env) purgeStream(ctx context.Context) error {
	nc, err := nats.Connect(e.natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(ctx, natsx.StreamName)
	if err != nil {
		return err
	}
	return s.Purge(ctx)
}

// ensureStream declares TASK_EVENTS on the bench's nats-server.
func (e *env) ensureStream(ctx context.Context) error {
	nc, err := nats.Connect(e.natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	_, err = natsx.EnsureStream(ctx, js, natsx.DefaultStream(1, 2*time.Minute, 168*time.Hour))
	return err
}

// deliverySetup is what the delivery suites share: the seed event, the stream, a receiver.
func (e *env) deliverySetup(ctx context.Context) ([]byte, *receiver, error) {
	seed, err := os.ReadFile(filepath.Join(e.root, "examples", "seed-task-created.json"))
	if err != nil {
		return nil, nil, err
	}
	if err := e.ensureStream(ctx); err != nil {
		return nil, nil, err
	}
	rcv, err := startReceiver()
	return seed, rcv, err
}
