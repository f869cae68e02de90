// Package due derives task.due and task.overdue from the task events the dispatcher consumes:
// it keeps, per task, the latest due date and status (Apply), says when each reminder falls
// (Next) and which fall now (Fire), and names each reminder with an id derived from the task, the
// kind and the due date (EventID), so that it is published once however often it is tried.
// This file is the pure logic, with an injected clock; scheduler.go runs it against PostgreSQL
// and JetStream.
package due

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Kinds of reminder, as task event names.
const (
	Due     = "due"
	Overdue = "overdue"
)

// DerivedPrefix starts the event id of every reminder Taskhook derives.
const DerivedPrefix = "taskhook-"

// Rules are the deployment's reminder settings.
type Rules struct {
	Location *time.Location // defines "the day a task falls due" (TASKHOOK_TIMEZONE)
	Grace    time.Duration  // wait after the due date before task.overdue (TASKHOOK_OVERDUE_GRACE)
}

// Task is what Taskhook keeps of a task.
type Task struct {
	TaskID       string
	DueDate      *time.Time
	Status       string     // open, completed, closed; "" until an event says (open)
	LastOccurred *time.Time // occurred_at of the event the state comes from
	LastSeq      uint64     // its stream sequence
	LastEventAt  time.Time  // when that event happened (occurred_at, else when it was received)
	Payload      []byte     // that event's JSON: the fields a reminder carries

	DueFiredFor     *time.Time // the due date whose task.due is settled (fired, or skipped as overdue already)
	DueFiredAt      *time.Time // when it fired (nil when skipped)
	OverdueFiredFor *time.Time
	OverdueFiredAt  *time.Time
	ClosedAt        *time.Time // since when the task is completed or closed
}

// Open reports whether the task still wants reminders.
func (t *Task) Open() bool { return t.Status != "completed" && t.Status != "closed" }

// Observation is one consumed task event, as far as reminders care.
type Observation struct {
	TaskID     string
	Event      string // created, updated, due, overdue
	EventID    string
	DueDate    *time.Time
	HasDueDate bool   // the event carried due_date (null removes it; absent keeps it)
	Status     string // "" when absent (keeps the last one)
	Occurred   *time.Time
	Seq        uint64    // stream sequence
	Received   time.Time // when the stream stored it
	Raw        []byte
}

// Derived reports whether the observation is a reminder Taskhook published itself.
func (o Observation) Derived() bool { return strings.HasPrefix(o.EventID, DerivedPrefix) }

// Parse reads the parts of a validated task event that reminders need.
func Parse(raw []byte, seq uint64, received time.Time) (Observation, error) {
	var ev struct {
		EventID    string          `json:"event_id"`
		TaskID     string          `json:"task_id"`
		Event      string          `json:"event"`
		DueDate    json.RawMessage `json:"due_date"`
		Status     string          `json:"status"`
		OccurredAt *time.Time      `json:"occurred_at"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Observation{}, fmt.Errorf("decode task event: %w", err)
	}
	o := Observation{TaskID: ev.TaskID, Event: ev.Event, EventID: ev.EventID, Status: ev.Status, Occurred: micro(ev.OccurredAt),
		Seq: seq, Received: received, Raw: raw, HasDueDate: len(ev.DueDate) > 0}
	if o.HasDueDate && string(ev.DueDate) != "null" {
		var d time.Time
		if err := json.Unmarshal(ev.DueDate, &d); err != nil {
			return Observation{}, fmt.Errorf("decode task event due_date: %w", err)
		}
		o.DueDate = micro(&d)
	}
	if o.TaskID == "" || o.Event == "" {
		return Observation{}, fmt.Errorf("decode task event: task_id and event are required")
	}
	return o, nil
}

// micro rounds a time to the microsecond, PostgreSQL's precision: a due date must compare equal,
// and derive the same reminder id, before and after it is stored.
func micro(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	r := t.Round(time.Microsecond)
	return &r
}

// Newer reports whether an event (occurred, seq) comes after the one a task's state is from:
// by occurred_at when both have one (the stream order breaks ties), else by stream order.
func Newer(t *Task, occurred *time.Time, seq uint64) bool {
	if t.LastSeq == 0 {
		return true
	}
	if occurred != nil && t.LastOccurred != nil && !occurred.Equal(*t.LastOccurred) {
		return occurred.After(*t.LastOccurred)
	}
	return seq > t.LastSeq
}

// Apply folds an observation into a task's state (t nil: a task seen for the first time) and
// returns the new state. An older event than the state (out of order) changes nothing but
// what it says was sent: a task.due or task.overdue, whoever published it, settles that
// reminder for its due date. A reminder Taskhook derived changes only that.
func Apply(t *Task, o Observation, now time.Time) Task {
	var out Task
	if t != nil {
		out = *t
	}
	out.TaskID = o.TaskID
	if !o.Derived() && Newer(&out, o.Occurred, o.Seq) {
		if o.HasDueDate {
			out.DueDate = o.DueDate
		}
		if o.Status != "" {
			out.Status = o.Status
		}
		out.LastOccurred, out.LastSeq, out.Payload = o.Occurred, o.Seq, o.Raw
		out.LastEventAt = o.Received
		if o.Occurred != nil {
			out.LastEventAt = *o.Occurred
		}
		switch {
		case !out.Open() && out.ClosedAt == nil:
			at := now
			out.ClosedAt = &at
		case out.Open():
			out.ClosedAt = nil
		}
	}
	// A sent reminder settles its kind when it is for the task's current due date (the one it
	// names, or the task's when it names none); one for another date changes nothing.
	sentFor := out.DueDate
	if o.HasDueDate {
		sentFor = o.DueDate
	}
	if same(sentFor, out.DueDate) {
		at := now
		switch o.Event {
		case Due:
			if !same(out.DueFiredFor, sentFor) {
				out.DueFiredFor, out.DueFiredAt = sentFor, &at
			}
		case Overdue:
			if !same(out.OverdueFiredFor, sentFor) {
				out.OverdueFiredFor, out.OverdueFiredAt = sentFor, &at
			}
		}
	}
	return out
}

// same compares due dates at PostgreSQL's precision (a microsecond).
func same(a, b *time.Time) bool { return a != nil && b != nil && a.Sub(*b).Abs() < time.Microsecond }

// StartOfDay is midnight, in loc, of the day t falls on in loc (on a day whose midnight a DST
// change skips, the first instant of that day).
func StartOfDay(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, loc)
	if sy, sm, sd := start.In(loc).Date(); sy == y && sm == m && sd == d {
		return start
	}
	// Midnight does not exist that day (time.Date normalized it into the day before): the day
	// starts at the DST transition, found by bisection within the next few hours.
	lo, hi := start, start.Add(4*time.Hour)
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2)
		if my, mm, md := mid.In(loc).Date(); my == y && mm == m && md == d {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi.Truncate(time.Second)
}

// Times are when a task's reminders fall; nil when that reminder is not pending.
type Times struct {
	Due, Overdue *time.Time
}

// Pending says when each reminder of t falls, whether or not that time has come: task.due at
// the start of the due day, task.overdue at the due date plus the grace. Nothing for a task
// without a due date or no longer open, and nothing for a reminder settled for this due date.
func Pending(t *Task, r Rules) Times {
	if t.DueDate == nil || !t.Open() {
		return Times{}
	}
	var out Times
	if !same(t.OverdueFiredFor, t.DueDate) {
		at := t.DueDate.Add(r.Grace)
		out.Overdue = &at
		if !same(t.DueFiredFor, t.DueDate) {
			day := StartOfDay(*t.DueDate, r.Location)
			out.Due = &day
		}
	}
	return out
}

// Next is the next time the scheduler must look at t (nil: never, until an event changes it).
func Next(t *Task, r Rules) *time.Time {
	p := Pending(t, r)
	if p.Due != nil {
		return p.Due
	}
	return p.Overdue
}

// Fire says which reminders of t are to be published at now: task.overdue once the due date
// (plus the grace) has passed; task.due from the start of the due day, unless the task is
// overdue already (then task.due is skipped: "due today" would come after "overdue").
// skipDue reports that task.due is to be settled without being sent.
func Fire(t *Task, r Rules, now time.Time) (kinds []string, skipDue bool) {
	p := Pending(t, r)
	switch {
	case p.Overdue != nil && !now.Before(*p.Overdue):
		return []string{Overdue}, p.Due != nil
	case p.Due != nil && !now.Before(*p.Due):
		return []string{Due}, false
	}
	return nil, false
}

// Settle records that kinds fired (and that task.due was skipped) for t's due date at now.
func Settle(t *Task, kinds []string, skipDue bool, now time.Time) Task {
	out := *t
	at := now
	if skipDue {
		out.DueFiredFor, out.DueFiredAt = out.DueDate, nil
	}
	for _, k := range kinds {
		switch k {
		case Due:
			out.DueFiredFor, out.DueFiredAt = out.DueDate, &at
		case Overdue:
			out.OverdueFiredFor, out.OverdueFiredAt = out.DueDate, &at
		}
	}
	return out
}

// EventID is the id of the reminder of kind for a task and due date: the same whoever derives
// it and however often, so that JetStream (Nats-Msg-Id) and the delivery ids de-duplicate a
// reminder published twice.
func EventID(taskID, kind string, dueDate time.Time) string {
	sum := sha256.Sum256([]byte(taskID + "\x00" + kind + "\x00" + dueDate.Round(time.Microsecond).UTC().Format(time.RFC3339Nano)))
	return DerivedPrefix + kind + "-" + hex.EncodeToString(sum[:16])
}

// Scheduled is when the reminder of kind for t was due to fire (its occurred_at).
func Scheduled(t *Task, kind string, r Rules) time.Time {
	if kind == Due {
		return StartOfDay(*t.DueDate, r.Location)
	}
	return t.DueDate.Add(r.Grace)
}

// Reminder builds the reminder event of kind for t from its latest event: the same fields,
// "event" the kind (and "type" task.<kind> when the event had a type), the derived event_id,
// and occurred_at when it was due to fire. The body depends only on the state and the kind,
// so a reminder published again is the same message.
func Reminder(t *Task, kind string, r Rules) (id string, body []byte, err error) {
	var doc map[string]any
	if err := json.Unmarshal(t.Payload, &doc); err != nil {
		return "", nil, fmt.Errorf("task %s: stored event: %w", t.TaskID, err)
	}
	id = EventID(t.TaskID, kind, *t.DueDate)
	doc["event"] = kind
	if _, ok := doc["type"]; ok {
		doc["type"] = "task." + kind
	}
	doc["event_id"] = id
	doc["due_date"] = t.DueDate.UTC().Format(time.RFC3339Nano)
	if t.Status != "" {
		doc["status"] = t.Status
	}
	doc["occurred_at"] = Scheduled(t, kind, r).UTC().Format(time.RFC3339Nano)
	body, err = json.Marshal(doc)
	return id, body, err
}
