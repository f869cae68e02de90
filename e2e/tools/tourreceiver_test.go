package tools

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskhook/taskhook/client"
	"github.com/taskhook/taskhook/e2e/proc"
)

// tourReceiver is examples/receiver.py, the receiver of the README's tour, running on a free
// port; lines collects what it prints.
type tourReceiver struct {
	url   string
	mu    sync.Mutex
	lines []string
}

func (r *tourReceiver) printed(substr string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		if strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

func startTourReceiver(t *testing.T, secret string) *tourReceiver {
	t.Helper()
	root, err := proc.Root()
	if err != nil {
		t.Fatal(err)
	}
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	r := &tourReceiver{url: fmt.Sprintf("http://127.0.0.1:%d/hook", port)}
	cmd := exec.Command("python3", filepath.Join(root, "examples", "receiver.py"), strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, sc.Text())
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-read
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("receiver.py printed %q; stderr %s", r.lines, stderr.String())
		}
	})
	if err := proc.WaitTCP(fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second); err != nil {
		t.Fatalf("receiver.py: %v (stderr: %s)", err, stderr.String())
	}
	return r
}

// post sends body to the receiver with the Standard Webhooks headers (signed with secret when
// it is not empty) and returns the status code.
func (r *tourReceiver) post(t *testing.T, id, secret string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	now := time.Now()
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	if secret != "" {
		sig, err := client.Sign(secret, id, now, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("webhook-signature", sig)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", id, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTourReceiver checks examples/receiver.py as the README's tour uses it: without a secret it
// accepts and says signature=unverified (never ok); with one it says ok for a good signature
// and answers 401 with BAD for a forged one; and it serves a request while another is still
// being received (a server handling one request at a time would wait for the stalled one).
func TestTourReceiver(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is needed for examples/receiver.py (.ci/run installs it)")
	}
	body := []byte(`{"type":"task.created","timestamp":"2024-01-10T09:00:00Z","data":{"task_id":"12345"}}`)

	t.Run("without a secret", func(t *testing.T) {
		r := startTourReceiver(t, "")
		// A connection that sends its headers and half its body, then stalls.
		stalled, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(r.url, "http://"), "/hook"))
		if err != nil {
			t.Fatal(err)
		}
		defer stalled.Close()
		fmt.Fprintf(stalled, "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nwebhook-id: stalled\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])
		time.Sleep(200 * time.Millisecond) // let the server start reading it

		if code := r.post(t, "msg_unsigned", "", body); code != http.StatusNoContent {
			t.Fatalf("unsigned delivery: %d, want 204", code)
		}
		waitFor(t, 5*time.Second, "signature=unverified printed", func() bool {
			return r.printed("webhook-id=msg_unsigned signature=unverified")
		})
		if r.printed("signature=ok") {
			t.Fatal("receiver.py said signature=ok without a secret to check")
		}
		// The stalled request completes once its body arrives.
		if _, err := stalled.Write(body[10:]); err != nil {
			t.Fatal(err)
		}
		_ = stalled.SetReadDeadline(time.Now().Add(5 * time.Second))
		status, err := bufio.NewReader(stalled).ReadString('\n')
		if err != nil || !strings.Contains(status, " 204 ") {
			t.Fatalf("stalled request answered %q, %v; want 204", status, err)
		}
	})

	t.Run("with a secret", func(t *testing.T) {
		secret := newSecret()
		r := startTourReceiver(t, secret)
		if code := r.post(t, "msg_signed", secret, body); code != http.StatusNoContent {
			t.Fatalf("signed delivery: %d, want 204", code)
		}
		if code := r.post(t, "msg_forged", newSecret(), body); code != http.StatusUnauthorized {
			t.Fatalf("forged delivery: %d, want 401", code)
		}
		if code := r.post(t, "msg_unsigned", "", body); code != http.StatusUnauthorized {
			t.Fatalf("unsigned delivery to a receiver with a secret: %d, want 401", code)
		}
		waitFor(t, 5*time.Second, "ok and BAD printed", func() bool {
			return r.printed("webhook-id=msg_signed signature=ok") && r.printed("webhook-id=msg_forged signature=BAD") &&
				r.printed("webhook-id=msg_unsigned signature=BAD")
		})
	})
}
