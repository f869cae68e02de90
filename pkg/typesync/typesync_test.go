package typesync_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/families"
	"github.com/taskhook/taskhook/pkg/natstest"
	"github.com/taskhook/taskhook/pkg/typesync"
)

func def(version int, required string) event.Custom {
	return event.Custom{Type: "appointment.missed", Version: version, UpdatedAt: time.Unix(int64(version), 0).UTC(),
		Schema:  []byte(`{"type":"object","required":["` + required + `"]}`),
		Example: []byte(`{"type":"appointment.missed","` + required + `":"x"}`),
		Summary: event.CustomSummary{Title: "Missed appointment", Severity: "warning"}}
}

// watch starts a watcher on a fresh catalog and waits until it is ready.
func watch(t *testing.T, js jetstream.JetStream, bucket string) *event.Catalog {
	t.Helper()
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	w := &typesync.Watcher{JS: js, Bucket: bucket, Catalog: cat, Log: zap.NewNop()}
	if w.Ready() == nil {
		t.Fatal("ready before loading")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	eventually(t, "watcher ready", func() bool { return w.Ready() == nil })
	return cat
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func valid(cat *event.Catalog, body string) bool {
	_, err := cat.Validate([]byte(body), "", func() string { return "id" })
	return err == nil
}

func exercise(t *testing.T, url, bucket string) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	t.Cleanup(func() { _ = js.DeleteKeyValue(context.Background(), bucket) })

	// A watcher started before any type exists (no bucket yet: it creates it) knows the
	// built-in types only.
	first := watch(t, js, bucket)
	if valid(first, `{"type":"appointment.missed","patient":"x"}`) || !valid(first, `{"task_id":"1","event":"created","title":"t"}`) {
		t.Fatal("catalog before any custom type")
	}
	kv, err := typesync.EnsureBucket(ctx, js, bucket, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := typesync.Sync(ctx, kv, []event.Custom{def(1, "patient")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new type applied", func() bool { return valid(first, `{"type":"appointment.missed","patient":"x"}`) })
	if valid(first, `{"type":"appointment.missed"}`) {
		t.Fatal("schema not enforced")
	}
	// Replaced: the new rule applies.
	if err := typesync.Sync(ctx, kv, []event.Custom{def(2, "appointment_id")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "replacement applied", func() bool { return valid(first, `{"type":"appointment.missed","appointment_id":"x"}`) })
	// A watcher started now (say, an ingest started while the dispatcher is down) has the type
	// from the bucket alone.
	second := watch(t, js, bucket)
	if !valid(second, `{"type":"appointment.missed","appointment_id":"x"}`) || valid(second, `{"type":"appointment.missed","patient":"x"}`) {
		t.Fatal("a new watcher does not have the last catalog")
	}
	// Deleted everywhere.
	if err := typesync.Sync(ctx, kv, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deletion applied", func() bool { return !first.IsType("appointment.missed") && !second.IsType("appointment.missed") })
}

func TestWatchEmbeddedServer(t *testing.T) {
	exercise(t, natstest.Start(t).URL, typesync.Bucket)
}

// TestWatchMachineNATS29 runs the same against the machine's own nats-server (2.9), on a
// bucket of its own that it deletes afterwards.
func TestWatchMachineNATS29(t *testing.T) {
	url := os.Getenv("TASKHOOK_TEST_SYSTEM_NATS_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatalf("the machine's NATS at %s is not reachable (%v); start it: start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server", url, err)
	}
	t.Logf("machine NATS server version %s", nc.ConnectedServerVersion())
	nc.Close()
	exercise(t, url, fmt.Sprintf("TASKHOOK_TEST_TYPES_%08x", rand.Uint32()))
}

// TestReadyWithoutJetStream: on a server without JetStream (no bucket possible), the watcher
// reports ready after its first attempt, so that the built-in families are served.
func TestReadyWithoutJetStream(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}) // no JetStream
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	cat, _ := families.Catalog()
	w := &typesync.Watcher{JS: js, Catalog: cat, Log: zap.NewNop()}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	eventually(t, "ready without a bucket", func() bool { return w.Ready() == nil })
	if !valid(cat, `{"task_id":"1","event":"created","title":"t"}`) {
		t.Fatal("built-in type refused")
	}
}
