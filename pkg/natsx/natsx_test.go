package natsx

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
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
	// The stream as the release before event families declared it: the task subjects only,
	// holding one task event.
	previous := cfg
	previous.Subjects = cfg.Subjects[:4]
	if _, err := EnsureStream(ctx, js, previous); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), cfg.Name) })
	if _, err := js.Publish(ctx, cfg.Subjects[0], []byte(`{"event_id":"old-1"}`)); err != nil {
		t.Fatal(err)
	}
	// Declaring it now updates it in place: every family's subjects, the old event kept.
	s, err := EnsureStreamLoop(ctx, js, cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config; got.Storage != jetstream.FileStorage || got.Duplicates != cfg.Duplicates || strings.Join(got.Subjects, ",") != strings.Join(cfg.Subjects, ",") {
		t.Fatalf("stream config %+v", got)
	}
	if st := s.CachedInfo().State; st.Msgs != 1 {
		t.Fatalf("the upgrade lost the stored event: %d messages", st.Msgs)
	}
	// Declaring fewer subjects (a service with an older list of families) keeps every subject.
	if s, err = EnsureStreamLoop(ctx, js, previous, zap.NewNop()); err != nil || len(s.CachedInfo().Config.Subjects) != len(cfg.Subjects) {
		t.Fatalf("declaring the previous subjects again: %v %v", err, s.CachedInfo().Config.Subjects)
	}
	battery := cfg.Subjects[len(cfg.Subjects)-1] // battery.*
	if _, err := js.Publish(ctx, strings.Replace(battery, "*", "critical", 1), []byte(`{"event_id":"new-1"}`)); err != nil {
		t.Fatalf("battery event after the upgrade: %v", err)
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
	// The one durable consumer reads every family: the old task event, the battery event and
	// the de-duplicated one.
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for m := range batch.Messages() {
		subjects = append(subjects, m.Subject())
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{cfg.Subjects[0], strings.Replace(battery, "*", "critical", 1), cfg.Subjects[0]}; strings.Join(subjects, ",") != strings.Join(want, ",") {
		t.Fatalf("consumed %v, want %v", subjects, want)
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
