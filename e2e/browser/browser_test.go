package browser

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestDashboard fails (never skips) when chromium, node or the npm packages are missing:
// .ci/run installs chromium and `make test` runs npm ci first.
func TestDashboard(t *testing.T) {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("chromium is needed for the browser tests (apt-get install chromium; .ci/run does): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed for the browser tests: %v", err)
	}
	root, err := proc.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "e2e", "browser")
	for _, m := range []string{"playwright-core", "axe-core"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", m, "package.json")); err != nil {
			t.Fatalf("npm package %s is missing: run `npm ci` in e2e/browser (make test does)", m)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin := t.TempDir()
	if err := proc.Build(ctx, root, bin, "ingest", "dispatcher"); err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t)
	dbURL := pgtest.NewDatabase(t)
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	logs := t.TempDir()
	ip, _ := proc.FreePort()
	dp, _ := proc.FreePort()
	ingestAddr, dispAddr := fmt.Sprintf("127.0.0.1:%d", ip), fmt.Sprintf("127.0.0.1:%d", dp)

	ingest, err := proc.Start("ingest", filepath.Join(bin, "ingest"), nil, []string{"NATS_URL=" + srv.URL,
		"INGEST_ADDR=" + ingestAddr, "TASKHOOK_INGEST_TOKENS=" + ingestToken}, filepath.Join(logs, "ingest.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ingest.Stop(10 * time.Second) })
	disp, err := proc.Start("dispatcher", filepath.Join(bin, "dispatcher"), nil, []string{"NATS_URL=" + srv.URL,
		"DATABASE_URL=" + dbURL, "DISPATCHER_ADDR=" + dispAddr, "TASKHOOK_ADMIN_TOKENS=" + adminToken,
		"TASKHOOK_VIEWER_TOKENS=" + viewerToken, "TASKHOOK_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(k),
		// The receivers are the test's own, on loopback over http.
		"TASKHOOK_ALLOW_HTTP=true", "TASKHOOK_ALLOWED_NETWORKS=127.0.0.0/8",
		// Three quick attempts, red after two failures: the failing receiver turns the webhook red
		// and its delivery fails within about a second.
		"TASKHOOK_RETRY_SCHEDULE=200ms,300ms", "TASKHOOK_RED_AFTER=2", "TASKHOOK_ATTEMPT_TIMEOUT=2s", "TASKHOOK_LEASE=6s",
		"TASKHOOK_POLL_INTERVAL=100ms", "TASKHOOK_DUE_EVENTS=off", "TASKHOOK_SHUTDOWN_TIMEOUT=5s"}, filepath.Join(logs, "dispatcher.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = disp.Stop(10 * time.Second) })
	for p, u := range map[*proc.Process]string{ingest: "http://" + ingestAddr + "/readyz", disp: "http://" + dispAddr + "/readyz"} {
		if err := p.WaitHTTP(u, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	// Screenshots go to a temporary folder, so that a test run leaves the checkout as it was;
	// UI_SCREENSHOTS=docs (make screenshots) refreshes the documentation's pictures.
	shots := os.Getenv("UI_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if !filepath.IsAbs(shots) {
		shots = filepath.Join(root, shots)
	}
	cmd := exec.CommandContext(ctx, node, "dashboard.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "UI_BASE=http://"+dispAddr, "INGEST_BASE=http://"+ingestAddr,
		"ADMIN_TOKEN="+adminToken, "VIEWER_TOKEN="+viewerToken, "INGEST_TOKEN="+ingestToken,
		"SEED_FILE="+filepath.Join(root, "examples", "seed-task-created.json"), "SHOTS_DIR="+shots, "CHROMIUM="+chromium)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("dashboard.mjs (%s):\n%s", time.Since(start).Round(100*time.Millisecond), out)
	if err != nil {
		for _, n := range []string{"dispatcher.log", "ingest.log"} {
			if b, rerr := os.ReadFile(filepath.Join(logs, n)); rerr == nil {
				if len(b) > 6000 {
					b = b[len(b)-6000:]
				}
				t.Logf("--- tail of %s ---\n%s", n, b)
			}
		}
		t.Fatalf("the browser test failed: %v", err)
	}
	// Nothing the dashboard did may put a token in the dispatcher's log.
	b, err := os.ReadFile(filepath.Join(logs, "dispatcher.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{adminToken, viewerToken} {
		if strings.Contains(string(b), tok) {
			t.Errorf("the dispatcher's log contains the token %q", tok)
		}
	}
}
