package due

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/metrics"
	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/streampub"
	"github.com/taskhook/taskhook/pkg/event"
)

// Store is the part of the database the scheduler uses.
type Store interface {
	UpdateTasks(ctx context.Context, ids []string, fn func([]store.Task) ([]store.Task, error)) error
	ClaimDueTasks(ctx context.Context, now time.Time, limit int, fn func([]store.Task) ([]store.Task, error)) (int, error)
	ScheduledTasks(ctx context.Context) (int64, error)
	ReminderLag(ctx context.Context) (time.Duration, error)
}

// Scheduler keeps the task state from consumed task events (Observe) and publishes the
// reminders whose time has come (Run), across replicas: a reminder's row is claimed with
// SKIP LOCKED and marked fired in the transaction that ends the claim, after JetStream
// acknowledged it. A crash in between publishes it again under the same id, which the stream
// (within its duplicate window) and the delivery ids (after it) de-duplicate.
type Scheduler struct {
	Rules    Rules
	Store    Store
	Box      *secretbox.Box
	Pub      streampub.Publisher
	Catalog  *event.Catalog // every reminder is checked against its schema before it is published
	Metrics  *metrics.Metrics
	Log      *zap.Logger
	Interval time.Duration // how often due reminders are looked for
	Batch    int           // reminders claimed per transaction
	Gauges   time.Duration // how often the lag gauge is refreshed
	// CountEvery is how often the scheduled-tasks gauge is refreshed (default a minute): a count
	// scans the index of every waiting task, so it must not run at the lag gauge's pace.
	CountEvery time.Duration
	Now        func() time.Time
}

// PayloadAAD binds a task's sealed latest event to its row.
func PayloadAAD(taskID string) []byte { return []byte("task:" + taskID) }

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time
	return &v
}

func sqlTime(t *time.Time) sql.NullTime {
	if t == nil {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: *t, Valid: true}
}

// fromRow is the state of a row (nil for a row created for this transaction). The payload
// stays sealed; open opens it.
func fromRow(r store.Task) *Task {
	if r.LastSeq == 0 {
		return nil
	}
	return &Task{TaskID: r.TaskID, DueDate: nullTime(r.DueDate), Status: r.Status, LastOccurred: nullTime(r.LastOccurredAt),
		LastSeq: uint64(r.LastSeq), LastEventAt: r.LastEventAt, DueFiredFor: nullTime(r.DueFiredFor), DueFiredAt: nullTime(r.DueFiredAt),
		OverdueFiredFor: nullTime(r.OverdueFiredFor), OverdueFiredAt: nullTime(r.OverdueFiredAt), ClosedAt: nullTime(r.ClosedAt)}
}

// toRow is the row of t; payload is the sealed event to store (nil keeps the stored one).
func toRow(t *Task, payload []byte, r Rules) store.Task {
	return store.Task{TaskID: t.TaskID, DueDate: sqlTime(t.DueDate), Status: t.Status, LastOccurredAt: sqlTime(t.LastOccurred),
		LastSeq: int64(t.LastSeq), LastEventAt: t.LastEventAt, Payload: payload, DueFiredFor: sqlTime(t.DueFiredFor),
		DueFiredAt: sqlTime(t.DueFiredAt), OverdueFiredFor: sqlTime(t.OverdueFiredFor), OverdueFiredAt: sqlTime(t.OverdueFiredAt),
		NextFireAt: sqlTime(Next(t, r)), ClosedAt: sqlTime(t.ClosedAt)}
}

// Observe folds consumed task events into the task state, in one transaction per call (the
// consumer calls it once per batch, before acknowledging the batch).
func (s *Scheduler) Observe(ctx context.Context, obs []Observation) error {
	if len(obs) == 0 {
		return nil
	}
	byTask := map[string][]Observation{}
	ids := make([]string, 0, len(obs))
	for _, o := range obs {
		if _, seen := byTask[o.TaskID]; !seen {
			ids = append(ids, o.TaskID)
		}
		byTask[o.TaskID] = append(byTask[o.TaskID], o)
	}
	now := s.now()
	return s.Store.UpdateTasks(ctx, ids, func(rows []store.Task) ([]store.Task, error) {
		out := make([]store.Task, 0, len(rows))
		for _, r := range rows {
			os := byTask[r.TaskID]
			slices.SortFunc(os, func(a, b Observation) int { return cmp.Compare(a.Seq, b.Seq) })
			t := fromRow(r)
			seq := uint64(0)
			if t != nil {
				seq = t.LastSeq
			}
			for _, o := range os {
				next := Apply(t, o, now)
				t = &next
			}
			var payload []byte
			if t.LastSeq != seq {
				payload = s.Box.Seal(t.Payload, PayloadAAD(t.TaskID))
			}
			out = append(out, toRow(t, payload, s.Rules))
		}
		return out, nil
	})
}

// Run publishes due reminders every Interval until ctx ends, and refreshes the gauges.
func (s *Scheduler) Run(ctx context.Context) {
	poll := time.NewTicker(s.Interval)
	defer poll.Stop()
	gauges := time.NewTicker(s.Gauges)
	defer gauges.Stop()
	every := s.CountEvery
	if every <= 0 {
		every = time.Minute
	}
	count := time.NewTicker(every)
	defer count.Stop()
	s.refreshLag(ctx)
	s.refreshCount(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-gauges.C:
			s.refreshLag(ctx)
		case <-count.C:
			s.refreshCount(ctx)
		case <-poll.C:
			for ctx.Err() == nil {
				n, err := s.Poll(ctx)
				if err != nil {
					if ctx.Err() == nil {
						s.Metrics.WriteErrors.WithLabelValues("publish reminders").Inc()
						s.Log.Warn("reminders not published; retrying at the next poll", zap.Error(err))
					}
					break
				}
				if n < s.Batch {
					break
				}
			}
		}
	}
}

func (s *Scheduler) refreshLag(ctx context.Context) {
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if lag, err := s.Store.ReminderLag(gctx); err == nil {
		s.Metrics.DueLag.Set(lag.Seconds())
	}
}

func (s *Scheduler) refreshCount(ctx context.Context) {
	gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if n, err := s.Store.ScheduledTasks(gctx); err == nil {
		s.Metrics.DueScheduled.Set(float64(n))
	}
}

// Poll claims the reminders whose time has come, publishes them and marks them fired; it
// returns how many tasks it claimed.
func (s *Scheduler) Poll(ctx context.Context) (int, error) {
	start := time.Now()
	defer func() { s.Metrics.DuePollDuration.Observe(time.Since(start).Seconds()) }()
	now := s.now()
	fired := map[string]int{}
	n, err := s.Store.ClaimDueTasks(ctx, now, s.Batch, func(rows []store.Task) ([]store.Task, error) {
		var msgs []streampub.Message
		out := make([]store.Task, 0, len(rows))
		for _, r := range rows {
			t := fromRow(r)
			if t == nil {
				continue
			}
			kinds, skipDue := Fire(t, s.Rules, now)
			if len(kinds) > 0 {
				plain, err := s.Box.Open(r.Payload, PayloadAAD(t.TaskID))
				if err != nil {
					return nil, fmt.Errorf("task %s: open stored event: %w", t.TaskID, err)
				}
				t.Payload = plain
			}
			for _, k := range kinds {
				id, body, err := Reminder(t, k, s.Rules)
				if err == nil {
					_, err = s.Catalog.Validate(body, "", func() string { return id })
				}
				if err != nil {
					// The stored event cannot make a valid reminder (a schema changed since):
					// settle it rather than retry it forever, and say where (paths only: the
					// messages may quote values).
					s.Log.Error("reminder not valid; skipped", zap.String("task_id", t.TaskID), zap.String("kind", k), zap.Strings("paths", invalidPaths(err)))
					continue
				}
				msgs = append(msgs, streampub.Message{Subject: event.TaskFamily + "." + k, ID: id, Body: body})
				fired[k]++
			}
			if skipDue {
				fired["skipped_due"]++
			}
			settled := Settle(t, kinds, skipDue, now)
			out = append(out, toRow(&settled, nil, s.Rules))
		}
		if err := s.Pub.Publish(ctx, msgs); err != nil {
			return nil, err
		}
		return out, nil
	})
	if err != nil {
		return 0, err
	}
	for k, c := range fired {
		s.Metrics.DueFired.WithLabelValues(k).Add(float64(c))
	}
	return n, nil
}

func invalidPaths(err error) []string {
	var ie *event.InvalidError
	if !errors.As(err, &ie) {
		return []string{"(not JSON)"}
	}
	out := make([]string, len(ie.Details))
	for i, d := range ie.Details {
		out[i] = d.Path
	}
	return out
}

// ReminderView is one reminder in a task's view.
type ReminderView struct {
	State   string     `json:"state"` // scheduled, fired, skipped (the task was overdue when its due day began), cancelled (completed or closed first), none (no due date)
	FireAt  *time.Time `json:"fire_at"`
	FiredAt *time.Time `json:"fired_at"`
	EventID string     `json:"event_id,omitempty"` // the reminder's event id, to find its deliveries
}

// View is what GET /v1/tasks/{task_id} shows of a task: ids, dates and states only.
type View struct {
	TaskID      string       `json:"task_id"`
	Status      string       `json:"status"`
	DueDate     *time.Time   `json:"due_date"`
	LastEventAt time.Time    `json:"last_event_at"`
	ClosedAt    *time.Time   `json:"closed_at"`
	NextFireAt  *time.Time   `json:"next_fire_at"`
	Due         ReminderView `json:"due"`
	Overdue     ReminderView `json:"overdue"`
}

// Describe is the view of a stored task under r.
func Describe(row store.Task, r Rules) View {
	t := fromRow(row)
	if t == nil {
		return View{TaskID: row.TaskID}
	}
	status := t.Status
	if status == "" {
		status = "open"
	}
	v := View{TaskID: t.TaskID, Status: status, DueDate: t.DueDate, LastEventAt: t.LastEventAt, ClosedAt: t.ClosedAt, NextFireAt: Next(t, r)}
	p := Pending(t, r)
	one := func(kind string, firedFor, firedAt, pending *time.Time) ReminderView {
		var rv ReminderView
		switch {
		case t.DueDate == nil:
			return ReminderView{State: "none"}
		case same(firedFor, t.DueDate) && firedAt != nil:
			rv = ReminderView{State: "fired", FiredAt: firedAt}
		case same(firedFor, t.DueDate):
			rv = ReminderView{State: "skipped"}
		case !t.Open():
			rv = ReminderView{State: "cancelled"}
		default:
			rv = ReminderView{State: "scheduled", FireAt: pending}
		}
		rv.EventID = EventID(t.TaskID, kind, *t.DueDate)
		return rv
	}
	v.Due = one(Due, t.DueFiredFor, t.DueFiredAt, p.Due)
	v.Overdue = one(Overdue, t.OverdueFiredFor, t.OverdueFiredAt, p.Overdue)
	return v
}
