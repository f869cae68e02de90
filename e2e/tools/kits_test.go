package tools

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

// kit is one running receiver of examples/receivers.
type kit struct {
	name string
	url  string
	mu   sync.Mutex
	log  []kitEntry
	cmd  *exec.Cmd
}

type kitEntry struct {
	Outcome    string `json:"outcome"`
	WebhookID  string `json:"webhook_id"`
	Type       string `json:"type"`
	Signatures int    `json:"signatures"`
	Error      string `json:"error"`
}

func (k *kit) entries() []kitEntry {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]kitEntry(nil), k.log...)
}

// startKit runs a receiver (argv in dir) with WEBHOOK_SECRET=secret on a free port and reads
// the JSON lines it logs.
func startKit(t *testing.T, name, dir, secret string, argv ...string) *kit {
	t.Helper()
	port, _ := proc.FreePort()
	k := &kit{name: name, url: fmt.Sprintf("http://127.0.0.1:%d/hook", port)}
	k.cmd = exec.Command(argv[0], argv[1:]...)
	k.cmd.Dir = dir
	k.cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret, "PORT="+strconv.Itoa(port))
	stdout, err := k.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	k.cmd.Stderr = &stderr
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = k.cmd.Process.Kill()
		_ = k.cmd.Wait()
		if t.Failed() {
			t.Logf("%s receiver: stderr %s, log %+v", name, stderr.String(), k.entries())
		}
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e kitEntry
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				k.mu.Lock()
				k.log = append(k.log, e)
				k.mu.Unlock()
			}
		}
	}()
	if err := proc.WaitTCP(fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second); err != nil {
		t.Fatalf("%s receiver: %v (stderr: %s)", name, err, stderr.String())
	}
	return k
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return client.SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// TestReceiverKits checks the receivers of examples/receivers (Go with client.Verify, Python
// with the standard library, Node.js with the standardwebhooks package) against deliveries of
// the real binaries: a delivery verifies; after a secret rotation the deliveries carry two
// signatures and still verify with the old secret; forged and stale requests are refused; a
// replay sends the same webhook-ids again and each receiver drops them as duplicates.
func TestReceiverKits(t *testing.T) {
	root, err := proc.Root()
	if err != nil {
		t.Fatal(err)
	}
	kitsDir := filepath.Join(root, "examples", "receivers")
	if _, err := os.Stat(filepath.Join(kitsDir, "node", "node_modules", "standardwebhooks")); err != nil {
		t.Fatal("the Node.js kit has no node_modules: run  npm ci --prefix examples/receivers/node  (.ci/run does)")
	}
	goKit := filepath.Join(t.TempDir(), "receiver")
	build := exec.Command("go", "build", "-o", goKit, ".")
	build.Dir = filepath.Join(kitsDir, "go")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the Go kit: %v\n%s", err, out)
	}

	s := newStack(t)
	ctx := context.Background()
	adm := s.admin(t)
	pub := s.publisher(t)
	start := time.Now()
	oldSecret := newSecret()
	kits := []*kit{
		startKit(t, "go", filepath.Join(kitsDir, "go"), oldSecret, goKit),
		startKit(t, "python", filepath.Join(kitsDir, "python"), oldSecret, "python3", "receiver.py"),
		startKit(t, "node", filepath.Join(kitsDir, "node"), oldSecret, "node", "receiver.js"),
	}
	hooks := make([]*client.Webhook, len(kits))
	for i, k := range kits {
		if hooks[i], err = adm.CreateWebhook(ctx, client.WebhookInput{Name: client.Ptr(k.name + " kit"), URL: client.Ptr(k.url),
			Events: []string{"task.*", "battery.*"}, Auth: &client.Auth{Type: "hmac", Secret: oldSecret}}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(k *kit, outcome string, sigs int) int {
		n := 0
		for _, e := range k.entries() {
			if e.Outcome == outcome && (sigs == 0 || e.Signatures == sigs) {
				n++
			}
		}
		return n
	}

	// 1. A delivery verifies.
	if _, err := pub.Publish(ctx, json.RawMessage(taskEvent("kit-1", "Before the rotation"))); err != nil {
		t.Fatal(err)
	}
	for _, k := range kits {
		waitFor(t, 20*time.Second, k.name+" accepting the first delivery", func() bool { return count(k, "accepted", 1) == 1 })
	}

	// 2. Rotation: the new secret signs beside the old one; receivers still on the old secret
	//    verify the two-signature deliveries.
	newS := newSecret()
	for _, h := range hooks {
		if _, err := adm.UpdateWebhook(ctx, h.ID, client.WebhookInput{Auth: &client.Auth{Type: "hmac", Secret: newS}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pub.Publish(ctx, json.RawMessage(`{"type":"battery.critical","event_id":"kit-2","device":{"id":"D-991"},"battery":{"percent":4,"status":"ERI"}}`)); err != nil {
		t.Fatal(err)
	}
	for _, k := range kits {
		waitFor(t, 20*time.Second, k.name+" accepting a delivery with two signatures", func() bool { return count(k, "accepted", 2) == 1 })
	}

	// 3. Forged (signed with a secret the receiver does not hold) and stale requests: 401.
	body := []byte(`{"type":"task.created","timestamp":"2024-01-10T09:00:00Z","data":{"task_id":"X"}}`)
	for _, k := range kits {
		for _, c := range []struct {
			secret string
			at     time.Time
		}{{newS, time.Now()}, {oldSecret, time.Now().Add(-10 * time.Minute)}} {
			sig, _ := client.Sign(c.secret, "forged-"+k.name, c.at, body)
			req, _ := http.NewRequest(http.MethodPost, k.url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("webhook-id", "forged-"+k.name)
			req.Header.Set("webhook-timestamp", strconv.FormatInt(c.at.Unix(), 10))
			req.Header.Set("webhook-signature", sig)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s receiver answered %d to a forged or stale request, want 401", k.name, resp.StatusCode)
			}
		}
	}

	// 4. A replay of the window sends both deliveries again with their webhook-ids: dropped.
	for i, h := range hooks {
		sum, err := adm.Replay(ctx, h.ID, client.ReplayRequest{Since: start.Add(-time.Minute), Status: "succeeded"}, nil)
		if err != nil || sum.Requeued != 2 {
			t.Fatalf("replay to the %s kit: %+v, %v", kits[i].name, sum, err)
		}
	}
	for _, k := range kits {
		waitFor(t, 20*time.Second, k.name+" dropping the two replayed deliveries", func() bool { return count(k, "duplicate", 0) == 2 })
		if a, r := count(k, "accepted", 0), count(k, "rejected", 0); a != 2 || r != 2 {
			t.Fatalf("%s receiver: %d accepted, %d rejected; want 2 and 2: %+v", k.name, a, r, k.entries())
		}
		ids := map[string]int{}
		for _, e := range k.entries() {
			if e.Outcome != "rejected" {
				ids[e.WebhookID]++
			}
		}
		if len(ids) != 2 {
			t.Fatalf("%s receiver saw webhook-ids %v, want two, each twice", k.name, ids)
		}
		for id, n := range ids {
			if n != 2 || strings.HasPrefix(id, "forged") {
				t.Fatalf("%s receiver saw webhook-ids %v, want two, each twice", k.name, ids)
			}
		}
	}
	// Taskhook counts the duplicates' 2xx as successes: nothing is retried.
	for _, h := range hooks {
		p, err := adm.ListDeliveries(ctx, h.ID, client.DeliveryQuery{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Deliveries {
			if d.Status != "succeeded" {
				waitFor(t, 10*time.Second, "replayed deliveries settled", func() bool {
					dd, err := adm.GetDelivery(ctx, d.ID)
					return err == nil && dd.Status == "succeeded"
				})
			}
		}
	}
}
