package due

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func zone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func TestStartOfDay(t *testing.T) {
	cases := []struct {
		due, zone, want string
	}{
		{"2024-01-15T10:00:00Z", "UTC", "2024-01-15T00:00:00Z"},
		{"2024-01-15T03:00:00Z", "America/New_York", "2024-01-14T00:00:00-05:00"}, // 22:00 the day before in New York
		{"2024-01-15T23:30:00Z", "Europe/Berlin", "2024-01-16T00:00:00+01:00"},
		{"2024-03-10T12:00:00Z", "America/New_York", "2024-03-10T00:00:00-05:00"}, // DST starts at 02:00 that day
		{"2024-11-03T12:00:00Z", "America/New_York", "2024-11-03T00:00:00-04:00"}, // DST ends at 02:00 that day
		{"2024-09-08T12:00:00Z", "America/Santiago", "2024-09-08T01:00:00-03:00"}, // midnight skipped by DST: the day starts at 01:00
		{"2024-01-15T10:00:00Z", "Pacific/Kiritimati", "2024-01-16T00:00:00+14:00"},
	}
	for _, c := range cases {
		got := StartOfDay(*at(c.due), zone(c.zone))
		if !got.Equal(*at(c.want)) {
			t.Errorf("%s in %s: %s, want %s", c.due, c.zone, got.Format(time.RFC3339), c.want)
		}
	}
}

func obs(event, due string, status string, occurred string, seq uint64) Observation {
	o := Observation{TaskID: "t1", Event: event, EventID: "e" + event, Status: status, Seq: seq, Received: time.Unix(int64(seq), 0),
		Raw: []byte(`{"task_id":"t1","event":"` + event + `","title":"x"}`)}
	switch due {
	case "absent":
	case "null":
		o.HasDueDate = true
	default:
		o.HasDueDate, o.DueDate = true, at(due)
	}
	if occurred != "" {
		o.Occurred = at(occurred)
	}
	return o
}

func fmtTimes(p Times) string {
	f := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format("01-02T15:04")
	}
	return f(p.Due) + " " + f(p.Overdue)
}

// TestLifecycle: a sequence of events and clock readings, with what is pending and what fires.
func TestLifecycle(t *testing.T) {
	utc := Rules{Location: time.UTC}
	type step struct {
		ev      *Observation // applied first, when set
		now     string
		pending string // due and overdue times pending after the event ("-" none)
		fires   string // what fires at now ("" nothing), then settled
	}
	ev := func(o Observation) *Observation { return &o }
	cases := []struct {
		name  string
		rules Rules
		steps []step
	}{
		{"created days ahead: due at the start of the day, then overdue", utc, []step{
			{ev: ev(obs("created", "2024-01-15T10:00:00Z", "", "2024-01-10T09:00:00Z", 1)), now: "2024-01-10T09:00:00Z", pending: "01-15T00:00 01-15T10:00"},
			{now: "2024-01-14T23:59:59Z", pending: "01-15T00:00 01-15T10:00"},
			{now: "2024-01-15T00:00:00Z", fires: "due", pending: "- 01-15T10:00"},
			{now: "2024-01-15T09:00:00Z", pending: "- 01-15T10:00"},
			{now: "2024-01-15T10:00:00Z", fires: "overdue", pending: "- -"},
			{now: "2024-01-16T10:00:00Z", pending: "- -"},
		}},
		{"created later on the due day: due at once", utc, []step{
			{ev: ev(obs("created", "2024-01-15T10:00:00Z", "open", "", 1)), now: "2024-01-15T08:00:00Z", fires: "due", pending: "- 01-15T10:00"},
		}},
		{"created after the due date: overdue at once, no due", utc, []step{
			{ev: ev(obs("created", "2024-01-15T10:00:00Z", "", "", 1)), now: "2024-01-15T11:00:00Z", fires: "overdue", pending: "- -"},
		}},
		{"grace delays overdue", Rules{Location: time.UTC, Grace: 2 * time.Hour}, []step{
			{ev: ev(obs("created", "2024-01-15T10:00:00Z", "", "", 1)), now: "2024-01-15T11:00:00Z", fires: "due", pending: "- 01-15T12:00"},
			{now: "2024-01-15T12:00:00Z", fires: "overdue", pending: "- -"},
		}},
		{"completed before due: nothing", utc, []step{
			{ev: ev(obs("created", "2024-01-15T10:00:00Z", "open", "", 1)), now: "2024-01-10T00:00:00Z", pending: "01-15T00:00 01-15T10:00"},
			{ev: ev(obs("updated", "absent", "completed", "", 2)), now: "2024-01-11T00:00:00Z", pending: "- -"},
			{now: "2024-01-16T00:00:00Z", pending: "- -"},
		}},
		{"completed after due: no overdue", utc, []step{
			{ev: ev(obs("created", "2024-01-15T10:00:00Z", "", "", 1)), now: "2024-01-15T01:00:00Z", fires: "due", pending: "- 01-15T10:00"},
			{ev: ev(obs("updated", "2024-01-15T10:00:00Z", "closed", "", 2)), now: "2024-01-15T09:00:00Z", pending: "- -"},
			{now: "2024-01-15T11:00:00Z", pending: "- -"},
		}},
		{"due date moved later re-arms both", utc, []step{
			{ev: ev(obs("created", "2024-01-15T10:00:00Z", "", "", 1)), now: "2024-01-15T01:00:00Z", fires: "due", pending: "- 01-15T10:00"},
			{ev: ev(obs("updated", "2024-01-20T10:00:00Z", "", "", 2)), now: "2024-01-15T02:00:00Z", pending: "01-20T00:00 01-20T10:00"},
			{now: "2024-01-20T00:00:00Z", fires: "due", pending: "- 01-20T10:00"},
		}},
		{"due date moved earlier, still ahead", utc, []step{
			{ev: ev(obs("created", "2024-01-20T10:00:00Z", "", "", 1)), now: "2024-01-10T00:00:00Z", pending: "01-20T00:00 01-20T10:00"},
			{ev: ev(obs("updated", "2024-01-12T10:00:00Z", "", "", 2)), now: "2024-01-10T01:00:00Z", pending: "01-12T00:00 01-12T10:00"},
		}},
		{"due date moved into the past: overdue at once", utc, []step{
			{ev: ev(obs("created", "2024-01-20T10:00:00Z", "", "", 1)), now: "2024-01-15T00:00:00Z", pending: "01-20T00:00 01-20T10:00"},
			{ev: ev(obs("updated", "2024-01-14T10:00:00Z", "", "", 2)), now: "2024-01-15T00:00:01Z", fires: "overdue", pending: "- -"},
		}},
		{"due date removed: nothing, and null differs from absent", utc, []step{
			{ev: ev(obs("created", "2024-01-20T10:00:00Z", "", "", 1)), now: "2024-01-15T00:00:00Z", pending: "01-20T00:00 01-20T10:00"},
			{ev: ev(obs("updated", "absent", "open", "", 2)), now: "2024-01-15T00:00:00Z", pending: "01-20T00:00 01-20T10:00"},
			{ev: ev(obs("updated", "null", "", "", 3)), now: "2024-01-15T00:00:00Z", pending: "- -"},
		}},
		{"re-opened task re-arms what did not fire", utc, []step{
			{ev: ev(obs("created", "2024-01-20T10:00:00Z", "", "", 1)), now: "2024-01-15T00:00:00Z", pending: "01-20T00:00 01-20T10:00"},
			{ev: ev(obs("updated", "absent", "closed", "", 2)), now: "2024-01-16T00:00:00Z", pending: "- -"},
			{ev: ev(obs("updated", "absent", "open", "", 3)), now: "2024-01-17T00:00:00Z", pending: "01-20T00:00 01-20T10:00"},
		}},
		{"out of order by occurred_at: the older update changes nothing", utc, []step{
			{ev: ev(obs("created", "2024-01-20T10:00:00Z", "", "2024-01-10T09:00:00Z", 1)), now: "2024-01-15T00:00:00Z", pending: "01-20T00:00 01-20T10:00"},
			{ev: ev(obs("updated", "2024-01-25T10:00:00Z", "", "2024-01-12T09:00:00Z", 3)), now: "2024-01-15T00:00:00Z", pending: "01-25T00:00 01-25T10:00"},
			{ev: ev(obs("updated", "2024-01-22T10:00:00Z", "completed", "2024-01-11T09:00:00Z", 2)), now: "2024-01-15T00:00:00Z", pending: "01-25T00:00 01-25T10:00"},
		}},
		{"a publisher's task.due suppresses the derived one", utc, []step{
			{ev: ev(obs("created", "2024-01-15T10:00:00Z", "", "", 1)), now: "2024-01-14T00:00:00Z", pending: "01-15T00:00 01-15T10:00"},
			{ev: ev(obs("due", "2024-01-15T10:00:00Z", "", "", 2)), now: "2024-01-15T00:00:00Z", pending: "- 01-15T10:00"},
		}},
		{"a publisher's task.due for another date changes nothing", utc, []step{
			{ev: ev(obs("created", "2024-01-15T10:00:00Z", "", "2024-01-10T00:00:00Z", 2)), now: "2024-01-14T00:00:00Z", pending: "01-15T00:00 01-15T10:00"},
			{ev: ev(obs("due", "2024-01-12T10:00:00Z", "", "2024-01-09T00:00:00Z", 1)), now: "2024-01-14T00:00:00Z", pending: "01-15T00:00 01-15T10:00"},
		}},
		{"start of the due day in New York", Rules{Location: zone("America/New_York")}, []step{
			{ev: ev(obs("created", "2024-01-15T03:00:00Z", "", "", 1)), now: "2024-01-13T00:00:00Z", pending: "01-14T05:00 01-15T03:00"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var task *Task
			for i, s := range c.steps {
				now := *at(s.now)
				if s.ev != nil {
					next := Apply(task, *s.ev, now)
					task = &next
				}
				kinds, skip := Fire(task, c.rules, now)
				if got := strings.Join(kinds, ","); got != s.fires {
					t.Fatalf("step %d: fires %q, want %q", i, got, s.fires)
				}
				if len(kinds) > 0 {
					settled := Settle(task, kinds, skip, now)
					task = &settled
				}
				if got := fmtTimes(Pending(task, c.rules)); got != s.pending {
					t.Fatalf("step %d: pending %s, want %s", i, got, s.pending)
				}
				if n := Next(task, c.rules); (n == nil) != (s.pending == "- -") {
					t.Fatalf("step %d: next %v with pending %s", i, n, s.pending)
				}
			}
		})
	}
}

func TestDerivedReminderChangesOnlyItsMarker(t *testing.T) {
	task := Apply(nil, obs("created", "2024-01-15T10:00:00Z", "open", "", 5), *at("2024-01-10T00:00:00Z"))
	updated := Apply(&task, obs("updated", "2024-01-20T10:00:00Z", "", "", 7), *at("2024-01-11T00:00:00Z"))
	// Our task.due for the old date, consumed after the update moved the date: no effect at all.
	derived := obs("due", "2024-01-15T10:00:00Z", "open", "2024-01-15T00:00:00Z", 8)
	derived.EventID = EventID("t1", Due, *at("2024-01-15T10:00:00Z"))
	got := Apply(&updated, derived, *at("2024-01-15T00:00:01Z"))
	if !got.DueDate.Equal(*at("2024-01-20T10:00:00Z")) || got.LastSeq != 7 || got.DueFiredFor != nil {
		t.Fatalf("derived reminder moved the state: %+v", got)
	}
}

func TestEventIDAndReminder(t *testing.T) {
	d := *at("2024-01-15T10:00:00Z")
	id := EventID("12345", Overdue, d)
	if id != EventID("12345", Overdue, d.In(zone("Asia/Tokyo"))) || id != EventID("12345", Overdue, d.Add(300*time.Nanosecond)) || id == EventID("12345", Due, d) || id == EventID("12346", Overdue, d) ||
		id == EventID("12345", Overdue, d.Add(time.Minute)) || !strings.HasPrefix(id, "taskhook-overdue-") || len(id) > 128 {
		t.Fatalf("event id %q", id)
	}
	task := Task{TaskID: "12345", DueDate: &d, Status: "open",
		Payload: []byte(`{"event_id":"canvas-1","type":"task.updated","task_id":"12345","event":"updated","title":"Call back","patient":{"id":"p"}}`)}
	id2, body, err := Reminder(&task, Due, Rules{Location: zone("America/New_York")})
	if err != nil || id2 != EventID("12345", Due, d) {
		t.Fatal(err)
	}
	var doc map[string]any
	_ = json.Unmarshal(body, &doc)
	if doc["event"] != "due" || doc["type"] != "task.due" || doc["event_id"] != id2 || doc["occurred_at"] != "2024-01-15T05:00:00Z" ||
		doc["due_date"] != "2024-01-15T10:00:00Z" || doc["title"] != "Call back" || doc["status"] != "open" {
		t.Fatalf("reminder %s", body)
	}
	_, again, _ := Reminder(&task, Due, Rules{Location: zone("America/New_York")})
	if string(again) != string(body) {
		t.Fatal("a reminder built twice differs")
	}
}

func TestParse(t *testing.T) {
	for raw, want := range map[string]string{
		`{"task_id":"1","event":"updated","title":"t"}`:                                        "absent",
		`{"task_id":"1","event":"updated","title":"t","due_date":null}`:                        "null",
		`{"task_id":"1","event":"updated","title":"t","due_date":"2024-01-15T10:00:00+02:00"}`: "2024-01-15T08:00:00Z",
	} {
		o, err := Parse([]byte(raw), 3, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		got := "absent"
		switch {
		case o.DueDate != nil:
			got = o.DueDate.UTC().Format(time.RFC3339)
		case o.HasDueDate:
			got = "null"
		}
		if got != want || o.Seq != 3 || o.TaskID != "1" {
			t.Errorf("%s: %s %+v", raw, got, o)
		}
	}
	if _, err := Parse([]byte(`{"event":"created"}`), 1, time.Now()); err == nil {
		t.Error("an event without task_id parsed")
	}
}

// TestPrecision: a due date with nanoseconds, stored (microseconds) and read back, is the same
// due date: it settles the same reminder and derives the same id.
func TestPrecision(t *testing.T) {
	o, err := Parse([]byte(`{"task_id":"1","event":"due","title":"t","due_date":"2024-01-15T10:00:00.123456789Z"}`), 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	task := Apply(nil, o, time.Now())
	stored := task.DueDate.Truncate(time.Microsecond) // as PostgreSQL returns it
	reloaded := task
	reloaded.DueDate, reloaded.DueFiredFor = &stored, &stored
	again, _ := Parse([]byte(`{"task_id":"1","event":"updated","title":"t","due_date":"2024-01-15T10:00:00.123456789Z"}`), 2, time.Now())
	next := Apply(&reloaded, again, time.Now())
	if p := Pending(&next, Rules{Location: time.UTC}); p.Due != nil {
		t.Fatal("the same due date re-armed task.due after a round trip through the database")
	}
	if EventID("1", Due, *next.DueDate) != EventID("1", Due, stored) {
		t.Fatal("the reminder id changed with the precision")
	}
}
