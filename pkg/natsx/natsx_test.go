package natsx

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/pkg/natstest"
)

func ensureTwiceAndPublish(t *testing.T, url string, cfg StreamConfig) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := Connect(url, "natsx-test", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := EnsureStreamLoop(ctx, js, cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), cfg.Name) })
	if got := s.CachedInfo().Config; got.Storage != jetstream.FileStorage || got.Duplicates != cfg.Duplicates || len(got.Subjects) != 4 {
		t.Fatalf("stream config %+v", got)
	}
	// Idempotent, and an update takes effect.
	cfg.Duplicates = 3 * time.Minute
	s, err = EnsureStream(ctx, js, cfg)
	if err != nil {
		t.Fatalf("second ensure: %v", err)
	}
	if s.CachedInfo().Config.Duplicates != 3*time.Minute {
		t.Fatalf("duplicates window not updated: %v", s.CachedInfo().Config.Duplicates)
	}
	// The durable consumer is created and updated idempotently, and consumes.
	cc := ConsumerConfig{Durable: "taskhook-test", AckWait: 30 * time.Second, MaxAckPending: 1000}
	if _, err := EnsureConsumer(ctx, js, cfg.Name, cc); err != nil {
		t.Fatal(err)
	}
	cc.AckWait = time.Minute
	cons, err := EnsureConsumer(ctx, js, cfg.Name, cc)
	if err != nil || cons.CachedInfo().Config.AckWait != time.Minute {
		t.Fatalf("consumer update: %v", err)
	}
	// Nats-Msg-Id de-duplicates within the window.
	for i, wantDup := range []bool{false, true} {
		m := nats.NewMsg(cfg.Subjects[0])
		m.Header.Set(jetstream.MsgIDHeader, "evt-1")
		m.Data = []byte(`{}`)
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		if ack.Duplicate != wantDup {
			t.Fatalf("publish %d: duplicate=%v", i, ack.Duplicate)
		}
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	if n != 1 {
		t.Fatalf("consumed %d messages, want 1", n)
	}
}

func TestEnsureStreamEmbeddedServer(t *testing.T) {
	srv := natstest.Start(t)
	ensureTwiceAndPublish(t, srv.URL, DefaultStream(1, 2*time.Minute, time.Hour))
}

// TestEnsureStreamMachineNATS29 runs against the machine's own nats-server (2.9 on this kind of
// machine), on a stream and subjects of its own that it deletes afterwards.
func TestEnsureStreamMachineNATS29(t *testing.T) {
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
	suffix := fmt.Sprintf("%08x", rand.Uint32())
	cfg := DefaultStream(1, 2*time.Minute, time.Hour)
	cfg.Name = "TASKHOOK_TEST_" + suffix
	for i, s := range cfg.Subjects {
		cfg.Subjects[i] = "test" + suffix + "." + s
	}
	ensureTwiceAndPublish(t, url, cfg)
}
