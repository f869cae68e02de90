package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskhook/taskhook/e2e/proc"
	"github.com/taskhook/taskhook/pkg/natstest"
	"github.com/taskhook/taskhook/pkg/pgtest"
)

const (
	adminToken  = "e2e-admin"
	ingestToken = "e2e-ingest"
)

// binaries builds bin/ingest and bin/dispatcher once per test binary run.
var buildOnce sync.Once
var binDir string
var buildErr error

func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := proc.Root()
		if err != nil {
			buildErr = err
			return
		}
		binDir, err = os.MkdirTemp("", "taskhook-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		buildErr = proc.Build(ctx, root, binDir, "ingest", "dispatcher")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// stack is a running pipeline: NATS (embedded, real), PostgreSQL, bin/ingest, bin/dispatcher.
type stack struct {
	t          *testing.T
	bin        string
	nats       *natstest.Server
	dbURL      string
	key        string
	ingestAddr string
	dispAddr   string
	ingest     *proc.Process
	dispatcher *proc.Process
	logDir     string
	extraEnv   []string
	natsURL    string // NATS_URL given to the services (a cluster's servers, comma-separated)
	replicas   []*replica
}

// replica is one more dispatcher process on the same database and consumer.
type replica struct {
	p    *proc.Process
	addr string
}

func newStack(t *testing.T, extraEnv ...string) *stack {
	t.Helper()
	return newStackOn(t, natstest.Start(t), extraEnv...)
}

// newStackOn is newStack on a given NATS server (or the first of a cluster).
func newStackOn(t *testing.T, srv *natstest.Server, extraEnv ...string) *stack {
	t.Helper()
	s := &stack{t: t, bin: binaries(t), nats: srv, natsURL: srv.URL, dbURL: pgtest.NewDatabase(t), logDir: t.TempDir(), extraEnv: extraEnv}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	s.key = base64.StdEncoding.EncodeToString(k)
	ip, _ := proc.FreePort()
	dp, _ := proc.FreePort()
	s.ingestAddr, s.dispAddr = fmt.Sprintf("127.0.0.1:%d", ip), fmt.Sprintf("127.0.0.1:%d", dp)
	t.Cleanup(func() {
		for _, r := range s.replicas {
			_ = r.p.Stop(10 * time.Second)
		}
		for _, p := range []*proc.Process{s.ingest, s.dispatcher} {
			if p != nil {
				_ = p.Stop(10 * time.Second)
			}
		}
		if t.Failed() {
			for _, n := range []string{"ingest.log", "dispatcher.log", "dispatcher-2.log"} {
				b, err := os.ReadFile(filepath.Join(s.logDir, n))
				if err != nil {
					t.Logf("%s: %v", n, err)
				}
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("--- tail of %s ---\n%s", n, b)
			}
		}
	})
	return s
}

func (s *stack) startIngest() {
	s.t.Helper()
	// The extra environment goes to ingest too: both declare the stream and must agree on it
	// (TASKHOOK_STREAM_REPLICAS); ingest ignores the dispatcher's variables.
	p, err := proc.Start("ingest", filepath.Join(s.bin, "ingest"), nil, append([]string{
		"NATS_URL=" + s.natsURL, "INGEST_ADDR=" + s.ingestAddr, "TASKHOOK_INGEST_TOKENS=" + ingestToken,
		"TASKHOOK_PUBLISH_TIMEOUT=2s", "TASKHOOK_LOG_LEVEL=info"}, s.extraEnv...), filepath.Join(s.logDir, "ingest.log"))
	if err != nil {
		s.t.Fatal(err)
	}
	s.ingest = p
	if err := p.WaitHTTP("http://"+s.ingestAddr+"/readyz", 30*time.Second); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stack) dispatcherEnv() []string {
	return s.dispatcherEnvAt(s.dispAddr)
}

func (s *stack) dispatcherEnvAt(addr string) []string {
	return append([]string{"NATS_URL=" + s.natsURL, "DATABASE_URL=" + s.dbURL, "DISPATCHER_ADDR=" + addr,
		"TASKHOOK_ADMIN_TOKENS=" + adminToken, "TASKHOOK_ENCRYPTION_KEY=" + s.key,
		"TASKHOOK_ALLOW_HTTP=true", "TASKHOOK_ALLOWED_NETWORKS=127.0.0.0/8",
		"TASKHOOK_RETRY_SCHEDULE=200ms,500ms,1s,1s,1s,1s,1s,1s,1s", "TASKHOOK_ATTEMPT_TIMEOUT=1s", "TASKHOOK_LEASE=5s",
		"TASKHOOK_POLL_INTERVAL=100ms", "TASKHOOK_SHUTDOWN_TIMEOUT=5s", "TASKHOOK_LOG_LEVEL=info",
		// Reminders off unless a test asks (extraEnv comes last): the seed's due date is in 2024.
		"TASKHOOK_DUE_EVENTS=off"}, s.extraEnv...)
}

func (s *stack) startDispatcher() {
	s.t.Helper()
	if s.dispatcher != nil && s.dispatcher.Exited() {
		if err := s.dispatcher.Restart(); err != nil {
			s.t.Fatal(err)
		}
	} else {
		p, err := proc.Start("dispatcher", filepath.Join(s.bin, "dispatcher"), nil, s.dispatcherEnv(), filepath.Join(s.logDir, "dispatcher.log"))
		if err != nil {
			s.t.Fatal(err)
		}
		s.dispatcher = p
	}
	if err := s.dispatcher.WaitHTTP("http://"+s.dispAddr+"/readyz", 30*time.Second); err != nil {
		s.t.Fatal(err)
	}
}

// startReplica starts another dispatcher process (a replica) and returns it.
func (s *stack) startReplica() *replica {
	s.t.Helper()
	port, _ := proc.FreePort()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := proc.Start("dispatcher-2", filepath.Join(s.bin, "dispatcher"), nil, s.dispatcherEnvAt(addr), filepath.Join(s.logDir, "dispatcher-2.log"))
	if err != nil {
		s.t.Fatal(err)
	}
	r := &replica{p: p, addr: addr}
	s.replicas = append(s.replicas, r)
	if err := p.WaitHTTP("http://"+addr+"/readyz", 30*time.Second); err != nil {
		s.t.Fatal(err)
	}
	return r
}

// metric sums the samples of name (whose label set contains every labels item) at addr.
func metric(t *testing.T, addr, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	sum := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(rest, l)
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		sum += v
	}
	return sum
}

func (s *stack) call(method, url, token string, body any) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (s *stack) createWebhook(body map[string]any) string {
	s.t.Helper()
	if body["name"] == nil {
		body["name"] = "e2e"
	}
	code, b := s.call("POST", "http://"+s.dispAddr+"/v1/webhooks", adminToken, body)
	if code != 201 {
		s.t.Fatalf("create webhook: %d %s", code, b)
	}
	var v struct{ ID string }
	_ = json.Unmarshal(b, &v)
	return v.ID
}

// sink is a receiver that records, per event id, every webhook-id it was delivered with.
type sink struct {
	*httptest.Server
	mu   sync.Mutex
	byEv map[string][]string // event id -> webhook-id of each request
	n    int
}

func newSink(t *testing.T, delay time.Duration) *sink {
	s := &sink{byEv: map[string][]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var env struct {
			Data struct {
				EventID string `json:"event_id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(b, &env)
		if delay > 0 {
			time.Sleep(delay)
		}
		s.mu.Lock()
		s.byEv[env.Data.EventID] = append(s.byEv[env.Data.EventID], r.Header.Get("webhook-id"))
		s.n++
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// missing lists the ids not delivered yet, and checks that every duplicate carried the same
// webhook-id.
func (s *sink) missing(t *testing.T, ids []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range ids {
		got := s.byEv[id]
		if len(got) == 0 {
			out = append(out, id)
			continue
		}
		for _, w := range got[1:] {
			if w != got[0] {
				t.Fatalf("event %s delivered with two webhook-ids: %v", id, got)
			}
		}
	}
	return out
}

func (s *sink) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := 0
	for _, v := range s.byEv {
		d += len(v) - 1
	}
	return d
}

// postBatch publishes events through ingest and returns the ids accepted (202 items).
func (s *stack) postBatch(events []map[string]any) []string {
	s.t.Helper()
	code, b := s.call("POST", "http://"+s.ingestAddr+"/v1/events/batch", ingestToken, events)
	if code != 200 {
		return nil
	}
	var res []struct {
		Status int
		ID     string
	}
	_ = json.Unmarshal(b, &res)
	var ids []string
	for _, r := range res {
		if r.Status == 202 {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, within)
}
