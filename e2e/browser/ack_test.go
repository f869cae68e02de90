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

// TestAckPage runs ack.mjs: the acknowledge page of an alert in chromium, with axe.
func TestAckPage(t *testing.T) {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("chromium is needed for the browser tests: %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed for the browser tests: %v", err)
	}
	root, err := proc.Root()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin := t.TempDir()
	if err := proc.Build(ctx, root, bin, "ingest", "dispatcher"); err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t)
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
	const public = "https://taskhook.example.org"
	disp, err := proc.Start("dispatcher", filepath.Join(bin, "dispatcher"), nil, []string{"NATS_URL=" + srv.URL,
		"DATABASE_URL=" + pgtest.NewDatabase(t), "DISPATCHER_ADDR=" + dispAddr, "TASKHOOK_ADMIN_TOKENS=" + adminToken,
		"TASKHOOK_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(k), "TASKHOOK_ALLOW_HTTP=true", "TASKHOOK_ALLOWED_NETWORKS=127.0.0.0/8",
		"TASKHOOK_POLL_INTERVAL=100ms", "TASKHOOK_DUE_EVENTS=off", "TASKHOOK_PUBLIC_URL=" + public}, filepath.Join(logs, "dispatcher.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = disp.Stop(10 * time.Second) })
	for p, u := range map[*proc.Process]string{ingest: "http://" + ingestAddr + "/readyz", disp: "http://" + dispAddr + "/readyz"} {
		if err := p.WaitHTTP(u, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(ctx, node, "ack.mjs")
	cmd.Dir = filepath.Join(root, "e2e", "browser")
	cmd.Env = append(os.Environ(), "UI_BASE=http://"+dispAddr, "INGEST_BASE=http://"+ingestAddr, "ADMIN_TOKEN="+adminToken,
		"INGEST_TOKEN="+ingestToken, "EVENT_FILE="+filepath.Join(root, "examples", "goreporter-battery-critical.json"),
		"PUBLIC_URL="+public, "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("ack.mjs:\n%s", out)
	if err != nil {
		if b, rerr := os.ReadFile(filepath.Join(logs, "dispatcher.log")); rerr == nil {
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("--- tail of dispatcher.log ---\n%s", b)
		}
		t.Fatalf("the acknowledge page's browser test failed: %v", err)
	}
}
