package alert

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	min := time.Minute
	pol := Policy{AcknowledgeWithin: 15 * min, EscalateTo: []uuid.UUID{uuid.New()}, Repeat: 2}
	open := Status{Policy: pol, OpenedAt: t0, AcknowledgeBy: t0.Add(15 * min)}
	at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	step := func(s Status, n int, last time.Duration) Status { s.Step, s.LastStepAt = n, t0.Add(last); return s }
	acked := open
	acked.Acknowledged = true
	failed := open
	failed.PrimaryFailed = true
	failedLater := step(open, 1, 15*min)
	failedLater.PrimaryFailed = true
	ackedAfterStep := step(open, 1, 15*min)
	ackedAfterStep.Acknowledged = true
	tests := []struct {
		name string
		s    Status
		now  time.Duration
		want Decision
	}{
		{"waiting for the acknowledgement", open, 5 * min, Decision{State: StateOpen, Next: at(15 * min)}},
		{"one nanosecond before the deadline", open, 15*min - 1, Decision{State: StateOpen, Next: at(15 * min)}},
		{"at the deadline exactly: first step", open, 15 * min, Decision{Escalate: true, Step: 1, Reason: NotAcknowledged, After: 15 * min, State: StateEscalated, Next: at(30 * min)}},
		{"claimed late: first step, next one a full window after it", open, 20 * min, Decision{Escalate: true, Step: 1, Reason: NotAcknowledged, After: 15 * min, State: StateEscalated, Next: at(35 * min)}},
		{"acknowledged before the deadline: nothing, ever", acked, 15 * min, Decision{State: StateAcknowledged}},
		{"acknowledged after a step: nothing more", ackedAfterStep, 30 * min, Decision{State: StateAcknowledged}},
		{"primary gave up before the deadline: first step at once", failed, 2 * min, Decision{Escalate: true, Step: 1, Reason: DeliveryFailed, State: StateEscalated, Next: at(17 * min)}},
		{"primary gave up after the first step: repeats as usual", failedLater, 30 * min, Decision{Escalate: true, Step: 2, Reason: NotAcknowledged, After: 30 * min, State: StateEscalated, Next: at(45 * min)}},
		{"between rounds", step(open, 1, 15*min), 29 * min, Decision{State: StateEscalated, Next: at(30 * min)}},
		{"second round", step(open, 1, 15*min), 30 * min, Decision{Escalate: true, Step: 2, Reason: NotAcknowledged, After: 30 * min, State: StateEscalated, Next: at(45 * min)}},
		{"third round (repeat 2)", step(open, 2, 30*min), 45 * min, Decision{Escalate: true, Step: 3, Reason: NotAcknowledged, After: 45 * min, State: StateEscalated, Next: at(60 * min)}},
		{"last round done, its window still running", step(open, 3, 45*min), 50 * min, Decision{State: StateEscalated, Next: at(60 * min)}},
		{"last round's window passed: unacknowledged, nothing more", step(open, 3, 45*min), 60 * min, Decision{State: StateUnacknowledged}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.s, t0.Add(tt.now))
			if got.Escalate != tt.want.Escalate || got.Step != tt.want.Step || got.Reason != tt.want.Reason || got.After != tt.want.After ||
				got.State != tt.want.State || (got.Next == nil) != (tt.want.Next == nil) || got.Next != nil && !got.Next.Equal(*tt.want.Next) {
				t.Errorf("Decide = %+v (next %v), want %+v (next %v)", got, got.Next, tt.want, tt.want.Next)
			}
		})
	}
}

// Repeat 0: one step, then unacknowledged one window later.
func TestDecideNoRepeat(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	s := Status{Policy: Policy{AcknowledgeWithin: time.Minute}, OpenedAt: t0, AcknowledgeBy: t0.Add(time.Minute)}
	now := t0
	var steps []int
	for i := 0; i < 10; i++ {
		d := Decide(s, now)
		if d.Escalate {
			steps = append(steps, d.Step)
			s.Step, s.LastStepAt = d.Step, now
		}
		if d.Next == nil {
			if d.State != StateUnacknowledged {
				t.Fatalf("ended in %s", d.State)
			}
			break
		}
		now = *d.Next
	}
	if len(steps) != 1 || steps[0] != 1 {
		t.Fatalf("steps %v, want [1]", steps)
	}
	if want := t0.Add(2 * time.Minute); !now.Equal(want) {
		t.Fatalf("unacknowledged at %v, want %v", now, want)
	}
}

func TestFallbackReason(t *testing.T) {
	tests := []struct {
		status   string
		last     notify.Result
		active   bool
		disabled string
		want     string
	}{
		{"succeeded", notify.Success, true, "", ""},
		{"retrying", notify.Retry, true, "", ""},
		{"pending", notify.Retry, true, "", ""},
		{"failed", notify.Retry, true, "", GaveUp},
		{"failed", notify.Fail, true, "", Failed},
		{"failed", notify.Fail, false, "deactivated by admin:ab12", Paused},
		{"failed", notify.Fail, false, "", Paused},
		{"failed", notify.Fail, false, "HTTP 410 Gone: the receiver says this endpoint is gone; webhook deactivated", Disabled},
		{"failed", notify.Fail, false, "failing continuously for 120h0m0s", Disabled},
	}
	for _, tt := range tests {
		if got := FallbackReason(tt.status, tt.last, tt.active, tt.disabled); got != tt.want {
			t.Errorf("FallbackReason(%s, %v, %v, %q) = %q, want %q", tt.status, tt.last, tt.active, tt.disabled, got, tt.want)
		}
	}
}

func TestDerivedIDs(t *testing.T) {
	w1, w2 := uuid.New(), uuid.New()
	a := ID(w1, "evt-1")
	if a != ID(w1, "evt-1") || a == ID(w2, "evt-1") || a == ID(w1, "evt-2") {
		t.Fatal("alert ids must be stable per (webhook, event) and differ otherwise")
	}
	if EscalationDeliveryID(a, 1, w2) != EscalationDeliveryID(a, 1, w2) || EscalationDeliveryID(a, 1, w2) == EscalationDeliveryID(a, 2, w2) ||
		EscalationDeliveryID(a, 1, w2) == EscalationDeliveryID(a, 1, w1) {
		t.Fatal("escalation delivery ids must be stable per (alert, step, target) and differ otherwise")
	}
	d := uuid.New()
	if FallbackDeliveryID(d) != FallbackDeliveryID(d) || FallbackDeliveryID(d) == d {
		t.Fatal("fallback delivery ids must be stable and differ from the failed delivery's")
	}
}

func TestTokens(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		tok, hash := NewToken()
		if seen[tok] {
			t.Fatal("token repeated")
		}
		seen[tok] = true
		if !WellFormed(tok) || len(tok) != 43 {
			t.Fatalf("token %q not well formed", tok)
		}
		if string(HashToken(tok)) != string(hash) {
			t.Fatal("hash not reproducible")
		}
	}
	for _, bad := range []string{"", "abc", "../../etc/passwd", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%"} {
		if WellFormed(bad) {
			t.Errorf("WellFormed(%q) = true", bad)
		}
	}
	if got := Link("https://th.example.org/", "tok"); got != "https://th.example.org/ack/tok" {
		t.Errorf("Link = %q", got)
	}
}

func TestHeaderPrefix(t *testing.T) {
	tests := []struct {
		a    *notify.Alert
		want string
	}{
		{nil, ""},
		{&notify.Alert{ID: "x", AcknowledgeURL: "u"}, ""},
		{&notify.Alert{Escalation: &notify.Escalation{Reason: NotAcknowledged, After: time.Minute}}, "Not acknowledged after 1 min: "},
		{&notify.Alert{Escalation: &notify.Escalation{Reason: NotAcknowledged, After: 90 * time.Minute}}, "Not acknowledged after 1 h 30 min: "},
		{&notify.Alert{Escalation: &notify.Escalation{Reason: NotAcknowledged, After: 45 * time.Second}}, "Not acknowledged after 45 s: "},
		{&notify.Alert{Escalation: &notify.Escalation{Reason: DeliveryFailed, FromName: "Ward 3\nTeams"}}, "Not delivered to Ward 3 Teams: "},
		{&notify.Alert{Fallback: &notify.Fallback{FromName: "Ward 3", Reason: GaveUp}}, "Backup for Ward 3: "},
	}
	for _, tt := range tests {
		if got := tt.a.HeaderPrefix(); got != tt.want {
			t.Errorf("HeaderPrefix = %q, want %q", got, tt.want)
		}
	}
}
