package due

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/metrics"
	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/streampub"
	"github.com/taskhook/taskhook/pkg/families"
	"github.com/taskhook/taskhook/pkg/natstest"
	"github.com/taskhook/taskhook/pkg/natsx"
	"github.com/taskhook/taskhook/pkg/pgtest"
)

type rig struct {
	db  *store.DB
	box *secretbox.Box
	js  jetstream.JetStream
	nc  *nats.Conn
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, pgtest.NewDatabase(t), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, _ := secretbox.New(key)
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if _, err := natsx.EnsureStream(ctx, js, natsx.DefaultStream(1, 2*time.Minute, time.Hour)); err != nil {
		t.Fatal(err)
	}
	return &rig{db: db, box: box, js: js, nc: nc}
}

func (r *rig) scheduler(t *testing.T, pub streampub.Publisher) *Scheduler {
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	if pub == nil {
		pub = &streampub.JetStream{JS: r.js, Stream: natsx.StreamName, Timeout: 5 * time.Second}
	}
	return &Scheduler{Rules: Rules{Location: time.UTC}, Store: r.db, Box: r.box, Pub: pub, Catalog: cat, Metrics: metrics.New(),
		Log: zap.NewNop(), Interval: 20 * time.Millisecond, Batch: 50, Gauges: time.Second}
}

// reminders reads every reminder in the stream: subject and event id.
func (r *rig) reminders(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := r.js.Stream(ctx, natsx.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	var out []string
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Subject+" "+m.Header.Get(jetstream.MsgIDHeader))
	}
	return out
}

func observation(task string, due time.Time, seq uint64) Observation {
	raw := fmt.Sprintf(`{"event_id":"e-%s-%d","task_id":%q,"event":"updated","title":"Call back","due_date":%q}`, task, seq, task, due.UTC().Format(time.RFC3339Nano))
	o, err := Parse([]byte(raw), seq, time.Now())
	if err != nil {
		panic(err)
	}
	return o
}

// TestObserveFromTwoReplicas: two replicas fold overlapping batches of the same tasks at once,
// in any order; every task ends with the due date of its newest event, and nothing deadlocks.
func TestObserveFromTwoReplicas(t *testing.T) {
	r := newRig(t)
	a, b := r.scheduler(t, nil), r.scheduler(t, nil)
	base := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	const tasks, rounds = 40, 30
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	for i, s := range []*Scheduler{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range rounds {
				var obs []Observation
				for k := range tasks {
					id := fmt.Sprintf("T-%02d", (k*7+round+i)%tasks) // a different order each time
					seq := uint64(round*2 + i + 1)
					obs = append(obs, observation(id, base.Add(time.Duration(seq)*time.Minute), seq))
				}
				errs <- s.Observe(context.Background(), obs)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	newest := uint64(rounds*2 - 1 + 1)
	for k := range tasks {
		row, err := r.db.GetTask(context.Background(), fmt.Sprintf("T-%02d", k))
		if err != nil {
			t.Fatal(err)
		}
		want := base.Add(time.Duration(newest) * time.Minute)
		if row.LastSeq != int64(newest) || !row.DueDate.Time.Equal(want) || !row.NextFireAt.Valid {
			t.Fatalf("task %d: seq %d due %v next %v, want seq %d due %v", k, row.LastSeq, row.DueDate.Time, row.NextFireAt, newest, want)
		}
		plain, err := r.box.Open(row.Payload, PayloadAAD(row.TaskID))
		if err != nil || !strings.Contains(string(plain), fmt.Sprintf(`"e-%s-%d"`, row.TaskID, newest)) {
			t.Fatalf("task %d payload %s %v", k, plain, err)
		}
	}
}

// TestEachReminderOnceAcrossReplicas: two replicas poll the same overdue tasks at once; each
// reminder is published exactly once and every task ends settled.
func TestEachReminderOnceAcrossReplicas(t *testing.T) {
	r := newRig(t)
	a, b := r.scheduler(t, nil), r.scheduler(t, nil)
	past := time.Now().Add(-time.Hour)
	var obs []Observation
	const n = 300
	for i := range n {
		obs = append(obs, observation(fmt.Sprintf("T-%03d", i), past, uint64(i+1)))
	}
	if err := a.Observe(context.Background(), obs); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, s := range []*Scheduler{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := s.Poll(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if got == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	msgs := r.reminders(t)
	seen := map[string]bool{}
	for _, m := range msgs {
		if !strings.HasPrefix(m, "task.overdue taskhook-overdue-") || seen[m] {
			t.Fatalf("unexpected or repeated reminder %q", m)
		}
		seen[m] = true
	}
	if len(msgs) != n {
		t.Fatalf("%d reminders published, want %d", len(msgs), n)
	}
	scheduled, err := r.db.ScheduledTasks(context.Background())
	lag, err2 := r.db.ReminderLag(context.Background())
	if err != nil || err2 != nil || scheduled != 0 || lag != 0 {
		t.Fatalf("after firing: %d scheduled, lag %s (%v %v)", scheduled, lag, err, err2)
	}
}

// crashAfterPublish publishes, then fails as a replica that dies before it commits would.
type crashAfterPublish struct {
	inner streampub.Publisher
	fail  bool
}

func (c *crashAfterPublish) Publish(ctx context.Context, msgs []streampub.Message) error {
	if err := c.inner.Publish(ctx, msgs); err != nil {
		return err
	}
	if c.fail {
		c.fail = false
		return errors.New("crashed before marking them fired")
	}
	return nil
}

// TestCrashBetweenPublishAndMark: the reminder published before the crash is published again
// under the same id, and the stream keeps one.
func TestCrashBetweenPublishAndMark(t *testing.T) {
	r := newRig(t)
	pub := &crashAfterPublish{inner: &streampub.JetStream{JS: r.js, Stream: natsx.StreamName, Timeout: 5 * time.Second}, fail: true}
	s := r.scheduler(t, pub)
	if err := s.Observe(context.Background(), []Observation{observation("T-1", time.Now().Add(-time.Minute), 1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Poll(context.Background()); err == nil {
		t.Fatal("the crash was not reported")
	}
	row, _ := r.db.GetTask(context.Background(), "T-1")
	if row.OverdueFiredFor.Valid || !row.NextFireAt.Valid {
		t.Fatal("marked fired although the transaction failed")
	}
	if n, err := s.Poll(context.Background()); err != nil || n != 1 {
		t.Fatalf("second poll: %d %v", n, err)
	}
	if msgs := r.reminders(t); len(msgs) != 1 {
		t.Fatalf("stream holds %v", msgs)
	}
	if n, _ := s.Poll(context.Background()); n != 0 {
		t.Fatal("a settled reminder was claimed again")
	}
}

// TestPollReadsOnlyWhatIsDue: with 100,000 tasks waiting, the claim is an index range scan on
// next_fire_at (its cost is the tasks due, not the tasks waiting). Timings are in BENCHMARKS.md.
func TestPollReadsOnlyWhatIsDue(t *testing.T) {
	r := newRig(t)
	if _, err := r.db.Exec(`INSERT INTO tasks (task_id, due_date, last_seq, next_fire_at)
		SELECT 'W-' || g, now() + interval '30 days', 1, now() + interval '30 days' FROM generate_series(1, 100000) g`); err != nil {
		t.Fatal(err)
	}
	if _, err := r.db.Exec(`ANALYZE tasks`); err != nil {
		t.Fatal(err)
	}
	var plan []string
	if err := r.db.Select(&plan, `EXPLAIN SELECT task_id FROM tasks WHERE next_fire_at <= now() ORDER BY next_fire_at LIMIT 200 FOR UPDATE SKIP LOCKED`); err != nil {
		t.Fatal(err)
	}
	if text := strings.Join(plan, "\n"); !strings.Contains(text, "Index Scan using tasks_next_fire_at") {
		t.Fatalf("the claim does not use the next_fire_at index:\n%s", text)
	}
	if n, err := r.scheduler(t, nil).Poll(context.Background()); err != nil || n != 0 {
		t.Fatalf("poll with nothing due: %d %v", n, err)
	}
}
