package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// benchDue: a million open tasks waiting for their task.due and task.overdue. A scheduler poll
// must cost the reminders due, never the tasks waiting, and the dispatcher's memory must stay
// flat; reminders that come due among them must still go out at once.
func benchDue(ctx context.Context, e *env) ([]row, error) {
	if err := e.ensureStream(ctx); err != nil {
		return nil, err
	}
	p, err := newPipeline(ctx, e, "TASKHOOK_DUE_EVENTS=derive", "TASKHOOK_GAUGE_INTERVAL=5s")
	if err != nil {
		return nil, err
	}
	defer p.close(ctx)
	type window struct {
		rssMax        int64
		pollMS, polls float64
	}
	observe := func(d time.Duration) window {
		sum0, n0 := scrape(p.addr, "taskhook_due_poll_duration_seconds_sum"), scrape(p.addr, "taskhook_due_poll_duration_seconds_count")
		var w window
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
			if r, err := p.proc.RSS(); err == nil && r > w.rssMax {
				w.rssMax = r
			}
		}
		sum, n := scrape(p.addr, "taskhook_due_poll_duration_seconds_sum")-sum0, scrape(p.addr, "taskhook_due_poll_duration_seconds_count")-n0
		w.polls, w.pollMS = n, 1000*sum/max(n, 1)
		return w
	}
	empty := observe(10 * time.Second)

	n := e.opts.dueTasks
	began := time.Now()
	if _, err := p.db.ExecContext(ctx, `INSERT INTO tasks (task_id, due_date, status, last_seq, last_event_at, next_fire_at)
		SELECT 'waiting-' || g, now() + interval '30 days' + g * interval '1 second', 'open', 1, now(),
			now() + interval '29 days' + g * interval '1 second'
		FROM generate_series(1, $1) g`, n); err != nil {
		return nil, err
	}
	if _, err := p.db.ExecContext(ctx, `ANALYZE tasks`); err != nil {
		return nil, err
	}
	loaded := time.Since(began)
	full := observe(20 * time.Second)

	claim, plan, err := explainAnalyze(ctx, p.db, `SELECT task_id FROM tasks WHERE next_fire_at <= now() ORDER BY next_fire_at LIMIT 200 FOR UPDATE SKIP LOCKED`, 30)
	if err != nil {
		return nil, err
	}
	lag, lagPlan, err := explainAnalyze(ctx, p.db, `SELECT extract(epoch FROM now() - min(next_fire_at)) FROM tasks WHERE next_fire_at <= now()`, 30)
	if err != nil {
		return nil, err
	}
	count, countPlan, err := explainAnalyze(ctx, p.db, `SELECT count(*) FROM tasks WHERE next_fire_at IS NOT NULL`, 30)
	if err != nil {
		return nil, err
	}

	// 200 tasks overdue already, published among the million: how long until each fired.
	const due = 200
	fired0 := scrape(p.addr, `taskhook_due_fired_total{kind="overdue"}`)
	t0 := time.Now()
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	for i := 0; i < due; i++ {
		body := fmt.Sprintf(`{"event_id":"due-%d","task_id":"due-%d","event":"created","title":"Call back","due_date":%q}`, i, i, past)
		if _, err := p.js.PublishMsgAsync(&nats.Msg{Subject: "task.created", Data: []byte(body),
			Header: nats.Header{jetstream.MsgIDHeader: []string{fmt.Sprint("due-", i)}}}); err != nil {
			return nil, err
		}
	}
	var took time.Duration
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if scrape(p.addr, `taskhook_due_fired_total{kind="overdue"}`)-fired0 >= due {
			took = time.Since(t0)
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the %d overdue reminders did not fire within a minute", due)
		}
	}

	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	return []row{
		{measure: fmt.Sprintf("%d waiting tasks: scheduler poll (mean of the dispatcher's own polls over 20 s)", n), unit: "ms", value: full.pollMS,
			baseline: "the same with no task", base: empty.pollMS,
			note: fmt.Sprintf("%.0f polls with %d tasks waiting, %.0f with none; %d rows inserted in %s.", full.polls, n, empty.polls, n, loaded.Round(time.Second))},
		{measure: fmt.Sprintf("%d waiting tasks: dispatcher RSS (max over 20 s)", n), unit: "MiB", value: mib(full.rssMax),
			baseline: "the same with no task", base: mib(empty.rssMax), target: "< 200 MiB", maxValue: 200},
		{measure: fmt.Sprintf("claim of due reminders with %d waiting (EXPLAIN ANALYZE, 30 runs)", n), unit: "ms", value: float64(claim.pct(.5).Microseconds()) / 1000,
			p50: claim.pct(.5), p99: claim.pct(.99), note: "Plan: " + firstLines(plan, 3)},
		{measure: fmt.Sprintf("reminder lag gauge with %d waiting (every TASKHOOK_GAUGE_INTERVAL; EXPLAIN ANALYZE, 30 runs)", n), unit: "ms",
			value: float64(lag.pct(.5).Microseconds()) / 1000, p50: lag.pct(.5), p99: lag.pct(.99), note: "Plan: " + firstLines(lagPlan, 3)},
		{measure: fmt.Sprintf("scheduled-tasks gauge with %d waiting (a count, once a minute; EXPLAIN ANALYZE, 30 runs)", n), unit: "ms",
			value: float64(count.pct(.5).Microseconds()) / 1000, p50: count.pct(.5), p99: count.pct(.99), note: "Plan: " + firstLines(countPlan, 3)},
		{measure: fmt.Sprintf("%d overdue tasks published among %d waiting: stream to all reminders fired", due, n), unit: "ms",
			value: float64(took.Microseconds()) / 1000},
	}, nil
}
