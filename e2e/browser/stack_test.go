package browser

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/taskhook/taskhook/e2e/proc"
	"github.com/taskhook/taskhook/pkg/natstest"
	"github.com/taskhook/taskhook/pkg/pgtest"
)

const (
	adminToken  = "browser-admin-token"
	viewerToken = "browser-viewer-token"
	ingestToken = "browser-ingest-token"
)

// stack is bin/ingest and bin/dispatcher, built and started for one browser test, with what
// its script needs to drive them in chromium.
type stack struct {
	t                    *testing.T
	ctx                  context.Context
	root, dir            string // the checkout; e2e/browser (the scripts and their npm packages)
	node, chromium       string
	ingestAddr, dispAddr string
	logs                 string // ingest.log and dispatcher.log
}

// startStack fails (never skips) when chromium, node or the npm packages are missing: .ci/run
// installs chromium and `make test` runs npm ci first. dispatcherEnv is added to the settings
// every browser test shares (database, NATS, tokens, key, no reminders).
func startStack(t *testing.T, dispatcherEnv ...string) *stack {
	t.Helper()
	s := &stack{t: t, chromium: os.Getenv("CHROMIUM")}
	if s.chromium == "" {
		s.chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(s.chromium); err != nil {
		t.Fatalf("chromium is needed for the browser tests (apt-get install chromium; .ci/run does): %v", err)
	}
	var err error
	if s.node, err = exec.LookPath("node"); err != nil {
		t.Fatalf("node is needed for the browser tests: %v", err)
	}
	if s.root, err = proc.Root(); err != nil {
		t.Fatal(err)
	}
	s.dir = filepath.Join(s.root, "e2e", "browser")
	for _, m := range []string{"playwright-core", "axe-core"} {
		if _, err := os.Stat(filepath.Join(s.dir, "node_modules", m, "package.json")); err != nil {
			t.Fatalf("npm package %s is missing: run `npm ci` in e2e/browser (make test does)", m)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	s.ctx = ctx
	bin := t.TempDir()
	if err := proc.Build(ctx, s.root, bin, "ingest", "dispatcher"); err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t)
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	s.logs = t.TempDir()
	ip, _ := proc.FreePort()
	dp, _ := proc.FreePort()
	s.ingestAddr, s.dispAddr = fmt.Sprintf("127.0.0.1:%d", ip), fmt.Sprintf("127.0.0.1:%d", dp)
	ingest, err := proc.Start("ingest", filepath.Join(bin, "ingest"), nil, []string{"NATS_URL=" + srv.URL,
		"INGEST_ADDR=" + s.ingestAddr, "TASKHOOK_INGEST_TOKENS=" + ingestToken}, filepath.Join(s.logs, "ingest.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ingest.Stop(10 * time.Second) })
	env := append([]string{"NATS_URL=" + srv.URL, "DATABASE_URL=" + pgtest.NewDatabase(t), "DISPATCHER_ADDR=" + s.dispAddr,
		"TASKHOOK_ADMIN_TOKENS=" + adminToken, "TASKHOOK_VIEWER_TOKENS=" + viewerToken,
		"TASKHOOK_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(k),
		"TASKHOOK_DUE_EVENTS=off", "TASKHOOK_SHUTDOWN_TIMEOUT=5s"}, dispatcherEnv...)
	disp, err := proc.Start("dispatcher", filepath.Join(bin, "dispatcher"), nil, env, filepath.Join(s.logs, "dispatcher.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = disp.Stop(10 * time.Second) })
	for p, u := range map[*proc.Process]string{ingest: "http://" + s.ingestAddr + "/readyz", disp: "http://" + s.dispAddr + "/readyz"} {
		if err := p.WaitHTTP(u, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// shots is where a script writes its screenshots: a temporary folder, so that a test run leaves
// the checkout as it was; UI_SCREENSHOTS=docs (make screenshots) refreshes the documentation's.
func (s *stack) shots() string {
	shots := os.Getenv("UI_SCREENSHOTS")
	if shots == "" {
		return s.t.TempDir()
	}
	if !filepath.IsAbs(shots) {
		shots = filepath.Join(s.root, shots)
	}
	return shots
}

// run runs one script in chromium against the stack (the addresses, the tokens and env in its
// environment); on failure it shows the tails of both services' logs and fails the test.
func (s *stack) run(script string, env ...string) {
	s.t.Helper()
	cmd := exec.CommandContext(s.ctx, s.node, script)
	cmd.Dir = s.dir
	cmd.Env = append(append(os.Environ(), "UI_BASE=http://"+s.dispAddr, "INGEST_BASE=http://"+s.ingestAddr,
		"ADMIN_TOKEN="+adminToken, "VIEWER_TOKEN="+viewerToken, "INGEST_TOKEN="+ingestToken, "CHROMIUM="+s.chromium), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	s.t.Logf("%s (%s):\n%s", script, time.Since(start).Round(100*time.Millisecond), out)
	if err != nil {
		for _, n := range []string{"dispatcher.log", "ingest.log"} {
			if b, rerr := os.ReadFile(filepath.Join(s.logs, n)); rerr == nil {
				if len(b) > 6000 {
					b = b[len(b)-6000:]
				}
				s.t.Logf("--- tail of %s ---\n%s", n, b)
			}
		}
		s.t.Fatalf("%s failed: %v", script, err)
	}
}
