package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhook/taskhook/e2e/proc"
	"github.com/taskhook/taskhook/pkg/natsx"
)

// benchPipeline: the whole pipeline busy at once. Events are posted to bin/ingest over HTTP
// (closed loop, -pipeline-connections keep-alive connections) while bin/dispatcher consumes
// them and delivers each to one signed (hmac) generic webhook on the bench's receiver. Beside
// it, raw JetStream synchronous publishes at the same concurrency, measured in the same run.
// Reported: events/s accepted by ingest, deliveries/s arriving at the receiver over the same
// window, their ratio to the raw publish rate, and the CPU of every process per event.
func benchPipeline(ctx context.Context, e *env) ([]row, error) {
	seed, rcv, err := e.deliverySetup(ctx)
	if err != nil {
		return nil, err
	}
	defer rcv.srv.Close()
	o := e.opts
	conns := o.pipelineConns

	// Raw baseline: synchronous JetStream publishes of the seed event with unique ids.
	nc, err := nats.Connect(e.natsURL)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(ctx, natsx.StreamName)
	if err != nil {
		return nil, err
	}
	var seq atomic.Int64
	raw := closedLoop(ctx, conns, o.warmup, o.duration, func(ctx context.Context, _ int) (int, error) {
		m := &nats.Msg{Subject: "task.created", Data: seed, Header: nats.Header{jetstream.MsgIDHeader: []string{"pr-" + strconv.FormatInt(seq.Add(1), 10)}}}
		_, err := js.PublishMsg(ctx, m)
		return 1, err
	})
	if err := stream.Purge(ctx); err != nil {
		return nil, err
	}
	rawRate := raw.perSecond()

	// The dispatcher (newPipeline purges the stream again) and ingest, on the same nats-server.
	if o.pgo {
		for _, a := range []*string{&e.opts.pprof, &o.pprofIngest} {
			if *a == "" {
				port, err := proc.FreePort()
				if err != nil {
					return nil, err
				}
				*a = fmt.Sprintf("127.0.0.1:%d", port)
			}
		}
	}
	p, err := newPipeline(ctx, e)
	if err != nil {
		return nil, err
	}
	defer p.close(ctx)
	if _, err := p.createWebhook("http://"+rcv.addr+"/hook", map[string]any{"auth": map[string]any{"type": "hmac"}}); err != nil {
		return nil, err
	}
	ing, addr, err := e.startIngest(o.pprofIngest)
	if err != nil {
		return nil, err
	}
	defer func() { _ = ing.Stop(10 * time.Second) }() // the measurements are taken; how it stopped does not change them

	client := newRawHTTP(addr, conns)
	defer client.close()
	req := request(addr, "/v1/events", ingestToken, seed)
	post := func(ctx context.Context, w int) (int, error) {
		status, err := client.do(ctx, w, req)
		if err == nil && status != http.StatusAccepted {
			err = fmt.Errorf("status %d", status)
		}
		return 1, err
	}
	// Warm-up: both services busy, not measured.
	warm := loop(ctx, conns, o.warmup, post)
	cpu := p.cpuMeter().with("ingest", ing)
	outBefore, signedBefore := rcv.count.Load(), rcv.signed.Load()
	var profiles <-chan error
	if o.pgo {
		profiles = profileForPGO(ctx, e, o.duration, map[string]string{
			e.opts.pprof:  filepath.Join(e.root, "dispatcher", "cmd", "dispatcher", "default.pgo"),
			o.pprofIngest: filepath.Join(e.root, "ingest", "cmd", "ingest", "default.pgo"),
		})
	}
	measured := loop(ctx, conns, o.duration, post)
	out, signed := rcv.count.Load()-outBefore, rcv.signed.Load()-signedBefore
	usage := cpu.snapshot()

	if profiles != nil {
		if err := <-profiles; err != nil {
			return nil, err
		}
	}
	// Then every accepted event must arrive (nothing lost), however long the backlog takes.
	accepted := warm.items + measured.items
	drainStart := time.Now()
	backlog := accepted - rcv.count.Load()
	if err := waitCount(ctx, rcv, accepted, 5*time.Minute); err != nil {
		return nil, err
	}
	drain := time.Since(drainStart)

	in := measured.perSecond()
	outRate := float64(out) / measured.elapsed.Seconds()
	perEvent := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(out, 1)) }
	cpuNote := fmt.Sprintf("CPU per delivered event over the window: ingest %.0f µs (%.0f µs per accepted event), dispatcher %.0f µs, nats-server %.0f µs, PostgreSQL %.0f µs, bench (HTTP client, receiver) %.0f µs.",
		perEvent(usage["ingest"]), float64(usage["ingest"].Microseconds())/float64(max(measured.items, 1)),
		perEvent(usage["dispatcher"]), perEvent(usage["nats-server"]), perEvent(usage["PostgreSQL"]), perEvent(usage["bench"]))
	rawName := fmt.Sprintf("JetStream sync publish, %d clients", conns)
	return []row{
		{measure: fmt.Sprintf("raw JetStream publish, %d clients (pipeline baseline)", conns), unit: "events/s", value: rawRate,
			p50: raw.pct(.5), p99: raw.pct(.99), p999: raw.pct(.999), note: errNote(raw)},
		{measure: fmt.Sprintf("pipeline: events in (POST /v1/events, %d connections, dispatcher delivering)", conns), unit: "events/s", value: in,
			baseline: rawName, base: rawRate, p50: measured.pct(.5), p99: measured.pct(.99), p999: measured.pct(.999),
			note: errNote(measured)},
		{measure: "pipeline: deliveries out (signed generic webhook, same window)", unit: "deliveries/s", value: outRate,
			baseline: rawName, base: rawRate, target: ">= 0.20x", minRatio: 0.2,
			note: fmt.Sprintf("%d of %d deliveries in the window signed. %s Backlog at the end of the window: %d events, delivered in %s after the load stopped.",
				signed, out, cpuNote, backlog, drain.Round(10*time.Millisecond))},
	}, nil
}

// with adds a process to the meter.
func (m *cpuMeter) with(name string, p *proc.Process) *cpuMeter {
	mp := meteredProc{name: name, p: p}
	mp.start, _ = p.CPUTime()
	m.procs = append(m.procs, mp)
	return m
}

// snapshot is the CPU time each metered process used since the meter started, by name (plus
// "bench" and "PostgreSQL").
func (m *cpuMeter) snapshot() map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, mp := range m.procs {
		if t, err := mp.p.CPUTime(); err == nil {
			out[mp.name] = t - mp.start
		}
	}
	out["bench"] = selfCPU() - m.self
	var pg time.Duration
	for pid, t := range postgresCPU(pgPids(m.db)) {
		pg += t - m.pg[pid]
	}
	out["PostgreSQL"] = pg
	return out
}

// profileForPGO takes a CPU profile of each pprof address over most of dur, concurrently, and
// writes each to its file (a default.pgo beside a main package: go build uses it). The channel
// yields the first error, or nil once every profile is written.
func profileForPGO(ctx context.Context, e *env, dur time.Duration, to map[string]string) <-chan error {
	secs := max(1, int((dur - time.Second).Seconds()))
	done := make(chan error, len(to))
	for addr, path := range to {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- fmt.Errorf("profile %s: %w", addr, err)
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			if err == nil {
				err = os.WriteFile(path, b, 0o644)
			}
			if err != nil {
				err = fmt.Errorf("profile %s → %s: %w", addr, path, err)
			} else {
				fmt.Fprintf(os.Stderr, "bench: wrote %s (%d bytes, %d s of CPU profile)\n", path, len(b), secs)
			}
			done <- err
		}()
	}
	out := make(chan error, 1)
	go func() {
		var first error
		for range to {
			if err := <-done; err != nil && first == nil {
				first = err
			}
		}
		out <- first
	}()
	return out
}
