package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// benchLatency: publish-to-receiver latency at fixed rates (open loop), one webhook, each rate on
// a dispatcher and database of its own. Before each rate the machine is settled (see settle),
// so that what an earlier suite left behind (dirty buffers of a 50k-event burst, a checkpoint
// forced by dropping its database) is not measured as this suite's tail.
func benchLatency(ctx context.Context, e *env) ([]row, error) {
	var rows []row
	for _, rate := range e.opts.latencyRates {
		r, err := latencyAt(ctx, e, rate, e.opts.latencyDuration)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// latencyTarget is the latency target at 500 events/s (p99 ≤ 20 ms, p99.9 ≤ 50 ms).
const (
	latencyTargetRate = 500
	latencyTargetP99  = 20 * time.Millisecond
	latencyTargetP999 = 50 * time.Millisecond
)

func latencyAt(ctx context.Context, e *env, rate int, dur time.Duration) (row, error) {
	seed, rcv, err := e.deliverySetup(ctx)
	if err != nil {
		return row{}, err
	}
	defer rcv.srv.Close()
	p, err := newPipeline(ctx, e)
	if err != nil {
		return row{}, err
	}
	defer p.close(ctx)
	if _, err := p.createWebhook("http://"+rcv.addr+"/hook", nil); err != nil {
		return row{}, err
	}
	settled := ""
	if !e.opts.noSettle {
		if settled, err = settle(ctx, p.db); err != nil {
			return row{}, err
		}
	}
	pg := newPGSampler(p.db)
	pg.sample(ctx)
	rcv.track.Store(true)
	defer rcv.track.Store(false)
	cpu := p.cpuMeter()
	sent := make(map[string]time.Time, int(dur.Seconds()*float64(rate))+1)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	next := start
	total := int(dur.Seconds() * float64(rate))
	lastSample := start
	for i := 0; i < total; i++ {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(interval)
		id := "l" + strconv.Itoa(rate) + "-" + strconv.Itoa(i)
		m := &nats.Msg{Subject: "task.created", Data: eventBody(seed, id), Header: nats.Header{jetstream.MsgIDHeader: []string{id}}}
		sent[id] = time.Now()
		if _, err := p.js.PublishMsgAsync(m); err != nil {
			return row{}, err
		}
		if time.Since(lastSample) >= time.Second {
			lastSample = time.Now()
			go pg.sample(ctx)
		}
	}
	if err := waitCount(ctx, rcv, int64(total), 2*time.Minute); err != nil {
		return row{}, err
	}
	pg.sample(ctx)
	bsum, bn := scrape(p.addr, "taskhook_dispatch_batch_duration_seconds_sum"), scrape(p.addr, "taskhook_dispatch_batch_duration_seconds_count")
	rcv.mu.Lock()
	lat := make([]time.Duration, 0, total)
	tl := newTimeline(start)
	for id, t0 := range sent {
		if t1, ok := rcv.arrived[id]; ok {
			lat = append(lat, t1.Sub(t0))
			tl.add(t0, t1.Sub(t0))
		}
	}
	rcv.mu.Unlock()
	slices.Sort(lat)
	r := result{items: int64(len(lat)), elapsed: dur, lat: lat}
	worst := tl.worst(3)
	if dir := e.tmp; dir != "" {
		_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("latency-%d.tsv", rate)), []byte(tl.tsv()+"\n"+pg.tsv()), 0o644)
	}
	out := row{measure: fmt.Sprintf("publish → receiver latency at %d events/s (%s)", rate, dur), unit: "events/s",
		value: float64(rate), p50: r.pct(.5), p99: r.pct(.99), p999: r.pct(.999), max: r.pct(1),
		note: fmt.Sprintf("Open loop: events published at a fixed rate while the dispatcher runs; latency from publish to the receiver's first byte of the request. %s Worst seconds (p99, max): %s. Consumer batches: %.0f, %.1f ms on average (consume to ack). PostgreSQL during the run: %s. %s",
			settled, worst, bn, 1000*bsum/max(bn, 1), pg.summary(), cpu.per(len(lat), "delivery"))}
	if rate == latencyTargetRate {
		out.target, out.maxP99, out.maxP999 = "p99 <= 20 ms, p99.9 <= 50 ms", latencyTargetP99, latencyTargetP999
	}
	return out, nil
}

// settle waits until the machine no longer works off what an earlier suite left: a checkpoint
// (CHECKPOINT writes every dirty buffer now, instead of the checkpointer spreading it over the
// run), then until PostgreSQL's processes use under 5% of a core for a second, at most 30 s.
// It says what it did.
func settle(ctx context.Context, db *sql.DB) (string, error) {
	began := time.Now()
	if _, err := db.ExecContext(ctx, "CHECKPOINT"); err != nil {
		return "", fmt.Errorf("settle: %w", err)
	}
	ckpt := time.Since(began)
	quiet := time.Duration(0)
	for time.Since(began) < 10*time.Second {
		before := sumCPU(postgresCPU(nil))
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
		if sumCPU(postgresCPU(nil))-before < 50*time.Millisecond {
			quiet = time.Since(began)
			break
		}
	}
	if quiet == 0 {
		return fmt.Sprintf("Settled before the run: CHECKPOINT took %s; PostgreSQL (all databases) did not go quiet within 10 s.", ckpt.Round(time.Millisecond)), nil
	}
	return fmt.Sprintf("Settled before the run: CHECKPOINT took %s, PostgreSQL quiet after %s.", ckpt.Round(time.Millisecond), quiet.Round(100*time.Millisecond)), nil
}

func sumCPU(m map[int]time.Duration) time.Duration {
	var t time.Duration
	for _, d := range m {
		t += d
	}
	return t
}

// timeline buckets latencies by the second the event was published in.
type timeline struct {
	start time.Time
	secs  [][]time.Duration
}

func newTimeline(start time.Time) *timeline { return &timeline{start: start} }

func (t *timeline) add(at time.Time, d time.Duration) {
	s := int(at.Sub(t.start) / time.Second)
	for len(t.secs) <= s {
		t.secs = append(t.secs, nil)
	}
	t.secs[s] = append(t.secs[s], d)
}

func (t *timeline) stats(s int) (n int, p50, p99, mx time.Duration) {
	l := t.secs[s]
	if len(l) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(l)
	at := func(p float64) time.Duration { return l[int(float64(len(l)-1)*p)] }
	return len(l), at(.5), at(.99), l[len(l)-1]
}

// worst names the n seconds with the highest maximum.
func (t *timeline) worst(n int) string {
	idx := make([]int, len(t.secs))
	for i := range idx {
		idx[i] = i
	}
	maxOf := func(s int) time.Duration { _, _, _, m := t.stats(s); return m }
	slices.SortFunc(idx, func(a, b int) int { return int(maxOf(b) - maxOf(a)) })
	var parts []string
	for _, s := range idx[:min(n, len(idx))] {
		_, _, p99, mx := t.stats(s)
		parts = append(parts, fmt.Sprintf("s%d %s/%s", s, ms(p99), ms(mx)))
	}
	return strings.Join(parts, ", ")
}

func (t *timeline) tsv() string {
	var b strings.Builder
	b.WriteString("second\tevents\tp50_ms\tp99_ms\tmax_ms\n")
	for s := range t.secs {
		n, p50, p99, mx := t.stats(s)
		fmt.Fprintf(&b, "%d\t%d\t%.2f\t%.2f\t%.2f\n", s, n, msf(p50), msf(p99), msf(mx))
	}
	return b.String()
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pgSampler records PostgreSQL's checkpoint and WAL counters once a second during a run.
type pgSampler struct {
	db      *sql.DB
	mu      sync.Mutex
	start   time.Time
	samples []pgSample
}

type pgSample struct {
	at                       time.Duration
	timed, requested         int64
	buffersCkpt, buffersBack int64
	walBytes, walSync        int64
}

func newPGSampler(db *sql.DB) *pgSampler { return &pgSampler{db: db, start: time.Now()} }

func (s *pgSampler) sample(ctx context.Context) {
	var x pgSample
	x.at = time.Since(s.start)
	if err := s.db.QueryRowContext(ctx, `SELECT checkpoints_timed, checkpoints_req, buffers_checkpoint, buffers_backend FROM pg_stat_bgwriter`).
		Scan(&x.timed, &x.requested, &x.buffersCkpt, &x.buffersBack); err != nil {
		return
	}
	_ = s.db.QueryRowContext(ctx, `SELECT wal_bytes::bigint, wal_sync FROM pg_stat_wal`).Scan(&x.walBytes, &x.walSync)
	s.mu.Lock()
	s.samples = append(s.samples, x)
	s.mu.Unlock()
}

func (s *pgSampler) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) < 2 {
		return "not sampled"
	}
	a, b := s.samples[0], s.samples[len(s.samples)-1]
	return fmt.Sprintf("%d checkpoints (%d requested) writing %d buffers, %.1f MiB of WAL in %d syncs (whole cluster)",
		b.timed+b.requested-a.timed-a.requested, b.requested-a.requested, b.buffersCkpt-a.buffersCkpt,
		float64(b.walBytes-a.walBytes)/(1<<20), b.walSync-a.walSync)
}

func (s *pgSampler) tsv() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	b.WriteString("at_s\tcheckpoints_timed\tcheckpoints_req\tbuffers_checkpoint\tbuffers_backend\twal_bytes\twal_sync\n")
	for _, x := range s.samples {
		fmt.Fprintf(&b, "%.1f\t%d\t%d\t%d\t%d\t%d\t%d\n", x.at.Seconds(), x.timed, x.requested, x.buffersCkpt, x.buffersBack, x.walBytes, x.walSync)
	}
	return b.String()
}
