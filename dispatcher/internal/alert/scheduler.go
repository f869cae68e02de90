package alert

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/metrics"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
)

// SchedulerStore is what the scheduler needs of PostgreSQL (*store.DB).
type SchedulerStore interface {
	ClaimDueAlerts(ctx context.Context, limit int, decide func([]store.Alert) []store.AlertChange) ([]store.AlertChange, int, error)
	OpenAlerts(ctx context.Context) (map[string]int64, error)
}

// Scheduler takes the escalation steps whose time has come, on every replica: each claim
// (SKIP LOCKED) decides with Decide and writes the step's deliveries (derived ids) before it
// ends, so a step reaches each target once whatever replica claims it and whenever one dies.
type Scheduler struct {
	Store    SchedulerStore
	Metrics  *metrics.Metrics
	Log      *zap.Logger
	Interval time.Duration // how often due alerts are looked for
	Gauges   time.Duration // how often the open-alerts gauge is refreshed
	Batch    int           // alerts claimed per transaction
	Poke     func()        // has the delivery engine claim new deliveries now
	Now      func() time.Time
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Run polls every Interval until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	poll := time.NewTicker(s.Interval)
	defer poll.Stop()
	gauges := time.NewTicker(s.Gauges)
	defer gauges.Stop()
	s.refresh(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-gauges.C:
			s.refresh(ctx)
		case <-poll.C:
			for ctx.Err() == nil {
				n, err := s.Poll(ctx)
				if err != nil {
					if ctx.Err() == nil {
						s.Metrics.WriteErrors.WithLabelValues("escalate alerts").Inc()
						s.Log.Warn("escalation steps not taken; retrying at the next poll", zap.Error(err))
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

func (s *Scheduler) refresh(ctx context.Context) {
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	counts, err := s.Store.OpenAlerts(gctx)
	if err != nil {
		return
	}
	for _, st := range []string{StateOpen, StateEscalated, StateUnacknowledged} {
		s.Metrics.AlertsOpen.WithLabelValues(st).Set(float64(counts[st]))
	}
}

// Poll claims the alerts due now and takes their steps; it returns how many it claimed.
func (s *Scheduler) Poll(ctx context.Context) (int, error) {
	now := s.now()
	changes, inserted, err := s.Store.ClaimDueAlerts(ctx, s.Batch, func(rows []store.Alert) []store.AlertChange {
		out := make([]store.AlertChange, 0, len(rows))
		for i := range rows {
			if c, ok := Change(&rows[i], now); ok {
				out = append(out, c)
			}
		}
		return out
	})
	if err != nil {
		return 0, err
	}
	for _, c := range changes {
		if e := c.Escalation; e != nil {
			s.Metrics.AlertEscalations.WithLabelValues(e.Reason).Inc()
			s.Log.Info("alert escalated", zap.String("alert_id", c.ID.String()), zap.Int("step", e.Step), zap.String("reason", e.Reason),
				zap.Int("targets", len(e.Targets)))
		}
	}
	if inserted > 0 && s.Poke != nil {
		s.Poke()
	}
	return len(changes), nil
}

// Change is what happens to a claimed alert at now (false: its stored policy is unreadable;
// it is then left without further steps, which Change reports as a state change too).
func Change(a *store.Alert, now time.Time) (store.AlertChange, bool) {
	var p Policy
	if err := json.Unmarshal(a.Policy, &p); err != nil || p.AcknowledgeWithin <= 0 {
		return store.AlertChange{ID: a.ID, State: StateUnacknowledged, Step: a.Step}, true
	}
	d := Decide(Status{Policy: p, OpenedAt: a.OpenedAt, AcknowledgeBy: a.AcknowledgeBy, Step: a.Step, LastStepAt: a.LastStepAt.Time,
		PrimaryFailed: a.PrimaryFailed, Acknowledged: a.AcknowledgedAt.Valid}, now)
	c := store.AlertChange{ID: a.ID, State: d.State, Step: a.Step}
	if d.Next != nil {
		c.NextStepAt = sql.NullTime{Time: *d.Next, Valid: true}
	}
	if d.Escalate {
		c.Step = d.Step
		e := &store.Escalation{AlertID: a.ID, From: a.WebhookID, Step: d.Step, Reason: d.Reason, At: now, EventID: a.EventID, EventType: a.EventType}
		for _, t := range p.EscalateTo {
			e.Targets = append(e.Targets, t)
			e.Deliveries = append(e.Deliveries, EscalationDeliveryID(a.ID, d.Step, t))
		}
		c.Escalation = e
	}
	return c, true
}

// Acknowledger closes alerts and measures how long they waited.
type Acknowledger struct {
	Store interface {
		AcknowledgeAlert(ctx context.Context, id uuid.UUID, who, via, actor string) (*store.Alert, error)
	}
	Metrics *metrics.Metrics
	Log     *zap.Logger
}

// Acknowledge closes alert id for who (a name, may be empty), via link, dashboard or api, on
// behalf of actor (the audit's principal). An alert acknowledged before comes back with
// store.ErrAlreadyAcknowledged and is not changed.
func (k *Acknowledger) Acknowledge(ctx context.Context, id uuid.UUID, who, via, actor string) (*store.Alert, error) {
	a, err := k.Store.AcknowledgeAlert(ctx, id, who, via, actor)
	if err != nil {
		return a, err
	}
	if a.AcknowledgedAt.Valid {
		k.Metrics.AlertAckSeconds.WithLabelValues(via).Observe(a.AcknowledgedAt.Time.Sub(a.OpenedAt).Seconds())
	}
	k.Log.Info("alert acknowledged", zap.String("alert_id", id.String()), zap.String("via", via), zap.Int("step", a.Step))
	return a, nil
}
