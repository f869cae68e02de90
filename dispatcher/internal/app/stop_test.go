package app

import (
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/pkg/pgtest"
)

// ownFrame is a stack line of the dispatcher's own code (not of a test file): a goroutine with
// one is a goroutine of the dispatcher.
var ownFrame = regexp.MustCompile(`/(dispatcher/internal|pkg/lifecycle|pkg/httpx|pkg/retry)/\S*\.go:\d+`)

// dispatcherGoroutines lists the goroutines, other than the caller, that run the dispatcher's
// own code, each as its stack.
func dispatcherGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	blocks := strings.Split(string(buf), "\n\n")
	var out []string
	for _, g := range blocks[1:] { // the first is the caller's
		for _, line := range strings.Split(g, "\n") {
			if strings.HasPrefix(line, "\t") && ownFrame.MatchString(line) && !strings.Contains(line, "_test.go:") {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// TestStopWaitsForEveryGoroutine: when the dispatcher stops, every goroutine it started (the
// HTTP and pprof servers, the consumer, the delivery engine and its lanes, every background job)
// has returned before NATS drains and PostgreSQL closes. It runs with everything switched on:
// derived reminders, pprof, deliveries in flight at the stop.
func TestStopWaitsForEveryGoroutine(t *testing.T) {
	srv := natstestStart(t)
	dbURL := pgtest.NewDatabase(t)
	var left []string
	stopped := make(chan struct{})
	h := startDeps(t, srv, dbURL, dbURL, Deps{Stopped: func() { left = dispatcherGoroutines(); close(stopped) }},
		"TASKHOOK_DUE_EVENTS=derive", "TASKHOOK_PPROF_ADDR=127.0.0.1:0", "TASKHOOK_WEBHOOK_CONCURRENCY=4")
	if n := len(dispatcherGoroutines()); n < 10 {
		t.Fatalf("only %d goroutines of the dispatcher while it runs: the check would see nothing", n)
	}
	rcv := newReceiver(t, answer{status: 200, delay: 300 * time.Millisecond})
	h.createWebhook(map[string]any{"url": rcv.URL})
	for i := 0; i < 12; i++ {
		h.publish(taskEvent(fmt.Sprintf("s%02d", i), "created", ""))
	}
	rcv.waitFor(t, 2, 10*time.Second) // attempts are in flight
	h.stop()
	select {
	case <-stopped:
	default:
		t.Fatal("the dispatcher returned without reaching the point before NATS drains and PostgreSQL closes")
	}
	for _, g := range left {
		t.Errorf("still running when PostgreSQL was about to close:\n%s", g)
	}
}
