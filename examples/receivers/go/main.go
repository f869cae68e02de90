// Command receiver is a Taskhook webhook receiver in Go: it verifies each delivery's Standard
// Webhooks signature with client.Verify and drops a webhook-id it has already handled.
//
//	WEBHOOK_SECRET=whsec_... PORT=9099 go run .
//
// Each request is logged as one JSON line on stdout: {"outcome": "accepted" | "duplicate" |
// "rejected", "webhook_id", "type", "signatures", "error"}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/taskhook/taskhook/client"
)

// seen holds the webhook-ids handled so far: retries and replays send the same id again. Keep
// them in your database (a unique key) in production; this forgets them on restart.
type seen struct {
	mu  sync.Mutex
	ids map[string]bool
}

// add reports whether id is new.
func (s *seen) add(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[id] {
		return false
	}
	s.ids[id] = true
	return true
}

type entry struct {
	Outcome    string `json:"outcome"`
	WebhookID  string `json:"webhook_id"`
	Type       string `json:"type,omitempty"`
	Signatures int    `json:"signatures"`
	Error      string `json:"error,omitempty"`
}

func handler(secret string, s *seen, out io.Writer) http.Handler {
	var mu sync.Mutex
	log := func(e entry) {
		b, _ := json.Marshal(e)
		mu.Lock()
		fmt.Fprintln(out, string(b))
		mu.Unlock()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20)) // the raw bytes: verify before parsing
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		e := entry{WebhookID: r.Header.Get("webhook-id"), Signatures: len(strings.Fields(r.Header.Get("webhook-signature")))}
		if err := client.Verify(secret, r.Header, body); err != nil { // 5 minutes of clock skew allowed
			e.Outcome, e.Error = "rejected", err.Error()
			log(e)
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		var msg struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		_ = json.Unmarshal(body, &msg)
		e.Type = msg.Type
		if !s.add(e.WebhookID) {
			e.Outcome = "duplicate"
			log(e)
			w.WriteHeader(http.StatusOK) // a 2xx: Taskhook stops sending it
			return
		}
		// Handle the event here: msg.Type ("task.created", "report.completed", ...), msg.Data.
		e.Outcome = "accepted"
		log(e)
		w.WriteHeader(http.StatusNoContent)
	})
}

func run(ctx context.Context) error {
	secret := os.Getenv("WEBHOOK_SECRET")
	if secret == "" {
		return errors.New("set WEBHOOK_SECRET to the webhook's whsec_ secret")
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "9099"
	}
	srv := &http.Server{Addr: "127.0.0.1:" + port, Handler: handler(secret, &seen{ids: map[string]bool{}}, os.Stdout),
		ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Fprintf(os.Stderr, "receiver on http://%s\n", srv.Addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}
