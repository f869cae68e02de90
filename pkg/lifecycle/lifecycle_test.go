package lifecycle

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStagesStopInOrder: each stage is told to stop only once every component of the stage
// before it returned, and Run returns only after the last one did.
func TestStagesStopInOrder(t *testing.T) {
	var (
		mu    sync.Mutex
		order []string
	)
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	slow := func(name string, d time.Duration) Component {
		return Func(name, func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(d) // finishing what it must
			note(name)
			return ctx.Err()
		})
	}
	var g Group
	g.Stage(slow("http", 30*time.Millisecond), Loop("pprof", func(ctx context.Context) { <-ctx.Done(); note("pprof") }))
	g.Stage(slow("consumer", 20*time.Millisecond))
	g.Stage(slow("engine", 10*time.Millisecond), slow("jobs", 0))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if err := g.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 5 {
		t.Fatalf("returned before every component did: %v", order)
	}
	stageOf := map[string]int{"http": 0, "pprof": 0, "consumer": 1, "engine": 2, "jobs": 2}
	for i := 1; i < len(order); i++ {
		if stageOf[order[i]] < stageOf[order[i-1]] {
			t.Fatalf("stop order %v: a later stage ended before an earlier one", order)
		}
	}
}

// TestFailureStopsEveryone: a failing component stops the others, in order, and its error
// comes back with its name; a component that returns nil early stops no one.
func TestFailureStopsEveryone(t *testing.T) {
	boom := errors.New("address in use")
	var g Group
	var stopped [][]string
	g.Stopped = func(names []string) { stopped = append(stopped, names) }
	g.Stage(Func("http", func(ctx context.Context) error { time.Sleep(20 * time.Millisecond); return boom }),
		Func("pprof", func(context.Context) error { return nil })) // switched off
	g.Stage(Loop("jobs", func(ctx context.Context) { <-ctx.Done() }))
	done := make(chan error, 1)
	go func() { done <- g.Run(context.Background()) }()
	select {
	case err := <-done:
		if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "http: ") {
			t.Fatalf("Run = %v, want http's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a failed component did not stop the group")
	}
	if len(stopped) != 2 || !slices.Equal(stopped[1], []string{"jobs"}) {
		t.Fatalf("stages stopped: %v", stopped)
	}
}

// TestEarlyNilDoesNotStop: a component with nothing to do returns nil at once; the others run
// until the context ends.
func TestEarlyNilDoesNotStop(t *testing.T) {
	var g Group
	g.Stage(Func("off", func(context.Context) error { return nil }))
	g.Stage(Loop("job", func(ctx context.Context) { <-ctx.Done() }))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	if err := g.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 90*time.Millisecond {
		t.Fatalf("Run returned after %v, before its context ended", took)
	}
}
