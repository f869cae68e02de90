package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/taskhook/taskhook/client"
	"github.com/taskhook/taskhook/e2e/proc"
	"github.com/taskhook/taskhook/pkg/pgtest"
)

// syncBuffer is a bytes.Buffer safe for a writer process and a reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestMakeRun runs scripts/run.sh (what make run runs after make build) with NATS_URL on a port
// where nothing listens: it must start the project's own nats-server with JetStream, bring the
// pipeline up, print the URLs, deliver an event, and stop the nats-server it started on exit.
func TestMakeRun(t *testing.T) {
	root, err := proc.Root()
	if err != nil {
		t.Fatal(err)
	}
	np, _ := proc.FreePort()
	ip, _ := proc.FreePort()
	dp, _ := proc.FreePort()
	natsAddr := fmt.Sprintf("127.0.0.1:%d", np)
	ingestURL, adminURL := fmt.Sprintf("http://127.0.0.1:%d", ip), fmt.Sprintf("http://127.0.0.1:%d", dp)
	if c, err := net.DialTimeout("tcp", natsAddr, time.Second); err == nil {
		c.Close()
		t.Fatalf("something listens on %s already", natsAddr)
	}
	runDir := t.TempDir()

	// An address in use is reported with the fix, before anything is started.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := exec.Command("bash", filepath.Join(root, "scripts", "run.sh"))
	refused.Env = append(os.Environ(), "NATS_URL=nats://"+natsAddr, "INGEST_ADDR="+busy.Addr().String(),
		fmt.Sprintf("DISPATCHER_ADDR=127.0.0.1:%d", dp), "TASKHOOK_RUN_DIR="+runDir, "TASKHOOK_BIN="+bins)
	msg, err := refused.CombinedOutput()
	busy.Close()
	if err == nil || !strings.Contains(string(msg), busy.Addr().String()+" is already in use") || !strings.Contains(string(msg), "Fix:") {
		t.Fatalf("run.sh with its ingest address in use: %v\n%s", err, msg)
	}
	if c, err := net.DialTimeout("tcp", natsAddr, time.Second); err == nil {
		c.Close()
		t.Fatal("run.sh started NATS although it could not run the services")
	}

	cmd := exec.Command("bash", filepath.Join(root, "scripts", "run.sh"))
	cmd.Env = append(os.Environ(), "NATS_URL=nats://"+natsAddr, "DATABASE_URL="+pgtest.NewDatabase(t),
		fmt.Sprintf("INGEST_ADDR=127.0.0.1:%d", ip), fmt.Sprintf("DISPATCHER_ADDR=127.0.0.1:%d", dp),
		"TASKHOOK_RUN_DIR="+runDir, "TASKHOOK_BIN="+bins, "TASKHOOK_LOG_LEVEL=warn",
		// Lists of two tokens: what run.sh prints must name one of each.
		"TASKHOOK_INGEST_TOKENS=run-ingest,run-ingest-2", "TASKHOOK_ADMIN_TOKENS=run-admin,run-admin-2", "TASKHOOK_VIEWER_TOKENS=run-viewer,run-viewer-2")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever is left, if the test failed midway
		if t.Failed() {
			t.Logf("make run printed:\n%s", out.String())
		}
	})

	// Up: the URLs are printed once both services are ready (building bin/nats-server the first
	// time takes a while on a cold cache).
	deadline := time.Now().Add(4 * time.Minute)
	for !strings.Contains(out.String(), "Taskhook is up") {
		select {
		case err := <-exited:
			t.Fatalf("run.sh exited before it was up: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("run.sh was not up within 4 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	m := regexp.MustCompile(`started the project's nats-server \(pid (\d+)\) on ` + regexp.QuoteMeta(natsAddr)).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("run.sh did not say it started nats-server on %s", natsAddr)
	}
	natsPid, _ := strconv.Atoi(m[1])
	for _, want := range []string{ingestURL, adminURL + "/v1", "taskhookctl", "JetStream in " + runDir} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("run.sh did not print %q", want)
		}
	}

	// The pipeline works: a webhook, an event, a verified delivery.
	ctx := context.Background()
	adm, _ := client.NewAdmin(adminURL, "run-admin")
	pub, _ := client.NewPublisher(ingestURL, "run-ingest")
	rcv := newReceiver(t)
	w, err := adm.CreateWebhook(ctx, client.WebhookInput{Name: client.Ptr("run"), URL: client.Ptr(rcv.srv.URL + "/hook"),
		Events: []string{"task.*"}, Auth: &client.Auth{Type: "hmac"}})
	if err != nil {
		t.Fatal(err)
	}
	rcv.setSecret(w.Auth.Secret)
	seed, err := os.ReadFile(filepath.Join(root, "examples", "seed-task-created.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, json.RawMessage(seed)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the seed event delivered", func() bool { return len(rcv.deliveries()) == 1 })
	if d := rcv.deliveries()[0]; d.Verified != nil {
		t.Fatalf("the delivery did not verify: %v", d.Verified)
	}

	// Every command it printed works as printed: pasted into a shell in another directory, with
	// none of the settings in the environment.
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		if c, ok := strings.CutPrefix(l, "  $ "); ok {
			lines = append(lines, c)
		}
	}
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "export TASKHOOK_URL=") {
		t.Fatalf("run.sh printed no commands to try: %q", lines)
	}
	var clean []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TASKHOOK_") {
			clean = append(clean, kv)
		}
	}
	for _, l := range lines[1:] {
		sh := exec.Command("bash", "-euo", "pipefail", "-c", lines[0]+"\n"+l)
		sh.Dir, sh.Env = t.TempDir(), clean
		got, err := sh.CombinedOutput()
		if err != nil {
			t.Fatalf("the printed command %q failed: %v\n%s", l, err, got)
		}
		switch {
		case strings.Contains(l, "webhooks list") && !strings.Contains(string(got), w.ID):
			t.Errorf("the printed %q does not list the webhook: %s", l, got)
		case strings.HasPrefix(l, "curl") && !strings.Contains(string(got), `"duplicate"`):
			t.Errorf("the printed %q was not accepted: %s", l, got)
		}
	}

	// Stopped: everything it started is gone, the nats-server last.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("run.sh did not stop within 30 s of SIGTERM")
	}
	if err := syscall.Kill(natsPid, 0); err != syscall.ESRCH {
		t.Fatalf("the nats-server run.sh started (pid %d) is still there: %v", natsPid, err)
	}
	for _, a := range []string{natsAddr, strings.TrimPrefix(ingestURL, "http://"), strings.TrimPrefix(adminURL, "http://")} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Fatalf("%s still accepts connections after run.sh stopped", a)
		}
	}
	if !strings.Contains(out.String(), "stopped the nats-server it started") {
		t.Fatal("run.sh did not say it stopped its nats-server")
	}
}
