package tools

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskhook/taskhook/client"
	"github.com/taskhook/taskhook/e2e/proc"
	"github.com/taskhook/taskhook/pkg/natstest"
	"github.com/taskhook/taskhook/pkg/pgtest"
)

const (
	adminToken  = "tools-admin"
	viewerToken = "tools-viewer"
	ingestToken = "tools-ingest"
)

// bins is where TestMain built bin/ingest, bin/dispatcher and bin/taskhookctl (set once,
// before any test runs).
var bins string

func TestMain(m *testing.M) {
	code := func() int {
		root, err := proc.Root()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		dir, err := os.MkdirTemp("", "taskhook-tools-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := proc.Build(ctx, root, dir, "ingest", "dispatcher"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "taskhookctl"), "./cli/cmd/taskhookctl")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build taskhookctl: %v\n%s", err, out)
			return 1
		}
		bins = dir
		return m.Run()
	}()
	os.Exit(code)
}

// stack is a running pipeline: embedded NATS, a database of its own, bin/ingest and
// bin/dispatcher on free ports.
type stack struct {
	t          *testing.T
	nats       *natstest.Server
	ingestURL  string
	adminURL   string
	ingest     *proc.Process
	dispatcher *proc.Process
}

func newStack(t *testing.T, extraEnv ...string) *stack {
	t.Helper()
	s := &stack{t: t, nats: natstest.Start(t)}
	db := pgtest.NewDatabase(t)
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	ip, _ := proc.FreePort()
	dp, _ := proc.FreePort()
	ingestAddr, dispAddr := fmt.Sprintf("127.0.0.1:%d", ip), fmt.Sprintf("127.0.0.1:%d", dp)
	s.ingestURL, s.adminURL = "http://"+ingestAddr, "http://"+dispAddr
	logs := t.TempDir()
	t.Cleanup(func() {
		for _, p := range []*proc.Process{s.ingest, s.dispatcher} {
			if p != nil {
				_ = p.Stop(10 * time.Second)
			}
		}
		if t.Failed() {
			for _, n := range []string{"ingest.log", "dispatcher.log"} {
				b, _ := os.ReadFile(filepath.Join(logs, n))
				if len(b) > 3000 {
					b = b[len(b)-3000:]
				}
				t.Logf("--- tail of %s ---\n%s", n, b)
			}
		}
	})
	var err error
	s.dispatcher, err = proc.Start("dispatcher", filepath.Join(bins, "dispatcher"), nil, append([]string{
		"NATS_URL=" + s.nats.URL, "DATABASE_URL=" + db, "DISPATCHER_ADDR=" + dispAddr,
		"TASKHOOK_ADMIN_TOKENS=" + adminToken, "TASKHOOK_VIEWER_TOKENS=" + viewerToken,
		"TASKHOOK_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(k),
		"TASKHOOK_ALLOW_HTTP=true", "TASKHOOK_ALLOWED_NETWORKS=127.0.0.0/8",
		"TASKHOOK_RETRY_SCHEDULE=200ms,500ms,1s", "TASKHOOK_ATTEMPT_TIMEOUT=2s", "TASKHOOK_POLL_INTERVAL=100ms",
		"TASKHOOK_SHUTDOWN_TIMEOUT=5s", "TASKHOOK_DUE_EVENTS=off"}, extraEnv...), filepath.Join(logs, "dispatcher.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.ingest, err = proc.Start("ingest", filepath.Join(bins, "ingest"), nil, []string{
		"NATS_URL=" + s.nats.URL, "INGEST_ADDR=" + ingestAddr, "TASKHOOK_INGEST_TOKENS=" + ingestToken,
		"TASKHOOK_PUBLISH_TIMEOUT=1s"}, filepath.Join(logs, "ingest.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.dispatcher.WaitHTTP(s.adminURL+"/readyz", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.ingest.WaitHTTP(s.ingestURL+"/readyz", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *stack) admin(t *testing.T) *client.Admin {
	t.Helper()
	a, err := client.NewAdmin(s.adminURL, adminToken)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (s *stack) publisher(t *testing.T, opts ...client.Option) *client.Publisher {
	t.Helper()
	p, err := client.NewPublisher(s.ingestURL, ingestToken, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// delivery is one request a receiver got.
type delivery struct {
	ID         string
	Signatures int
	Body       []byte
	Verified   error
}

// receiver is a real HTTP endpoint that verifies each request with client.Verify against its
// secret and records it.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	got    []delivery
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		err := client.Verify(r.secret, req.Header, body)
		r.got = append(r.got, delivery{ID: req.Header.Get("webhook-id"), Signatures: len(strings.Fields(req.Header.Get("webhook-signature"))), Body: body, Verified: err})
		r.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setSecret(s string) { r.mu.Lock(); r.secret = s; r.mu.Unlock() }

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func taskEvent(id, title string) string {
	return fmt.Sprintf(`{"event_id":%q,"task_id":"T-%s","event":"created","title":%q}`, id, id, title)
}

// metric sums the samples of name whose labels contain every item of labels, at baseURL.
func metric(t *testing.T, baseURL, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	sum := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		for _, l := range labels {
			ok = ok && strings.Contains(rest, l)
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		var v float64
		_, _ = fmt.Sscan(f[len(f)-1], &v)
		sum += v
	}
	return sum
}
