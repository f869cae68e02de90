package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhook/taskhook/pkg/natsx"
)

const ingestToken = "bench-ingest-token"

// benchIngest: raw JetStream synchronous publish of the seed event vs ingest's POST /v1/events
// and POST /v1/events/batch, at the same concurrency, against the same nats-server.
func benchIngest(ctx context.Context, e *env) ([]row, error) {
	seed, err := os.ReadFile(filepath.Join(e.root, "examples", "seed-task-created.json"))
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(e.natsURL)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	stream, err := natsx.EnsureStream(ctx, js, natsx.DefaultStream(1, 2*time.Minute, 168*time.Hour))
	if err != nil {
		return nil, err
	}
	o := e.opts

	// Raw: each worker publishes the seed event synchronously with a unique Nats-Msg-Id,
	// exactly what ingest does after validation.
	var seq atomic.Int64
	raw := closedLoop(ctx, o.concurrency, o.warmup, o.duration, func(ctx context.Context, _ int) (int, error) {
		m := &nats.Msg{Subject: "task.created", Data: seed, Header: nats.Header{jetstream.MsgIDHeader: []string{fmt.Sprint("raw-", seq.Add(1))}}}
		_, err := js.PublishMsg(ctx, m)
		return 1, err
	})
	if err := stream.Purge(ctx); err != nil {
		return nil, err
	}

	p, addr, err := e.startIngest(o.pprof)
	if err != nil {
		return nil, err
	}
	defer func() { _ = p.Stop(10 * time.Second) }() // the measurements are taken; how it stopped does not change them
	client := newRawHTTP(addr, o.concurrency)
	defer client.close()
	post := func(ctx context.Context, w int, req []byte, want int) error {
		status, err := client.do(ctx, w, req)
		if err == nil && status != want {
			err = fmt.Errorf("status %d", status)
		}
		return err
	}
	singleReq := request(addr, "/v1/events", ingestToken, seed)
	cpu := func() time.Duration { t, _ := p.CPUTime(); return t }
	single := meteredLoop(ctx, o.concurrency, o.warmup, o.duration, cpu, func(ctx context.Context, w int) (int, error) {
		return 1, post(ctx, w, singleReq, http.StatusAccepted)
	})
	if err := stream.Purge(ctx); err != nil {
		return nil, err
	}
	batchBody := make([]byte, 0, (len(seed)+1)*o.batchSize+2)
	batchBody = append(batchBody, '[')
	for i := 0; i < o.batchSize; i++ {
		if i > 0 {
			batchBody = append(batchBody, ',')
		}
		batchBody = append(batchBody, seed...)
	}
	batchBody = append(batchBody, ']')
	batchReq := request(addr, "/v1/events/batch", ingestToken, batchBody)
	batch := meteredLoop(ctx, o.concurrency, o.warmup, o.duration, cpu, func(ctx context.Context, w int) (int, error) {
		return o.batchSize, post(ctx, w, batchReq, http.StatusOK)
	})
	_ = stream.Purge(ctx)

	rawName := fmt.Sprintf("JetStream sync publish, %d clients", o.concurrency)
	rows := []row{
		{measure: "raw JetStream publish (baseline)", unit: "events/s", value: raw.perSecond(), p50: raw.pct(.5), p99: raw.pct(.99), p999: raw.pct(.999),
			note: errNote(raw)},
		{measure: "ingest POST /v1/events", unit: "events/s", value: single.perSecond(), baseline: rawName, base: raw.perSecond(),
			p50: single.pct(.5), p99: single.pct(.99), p999: single.pct(.999), target: ">= 0.40x", minRatio: 0.4, note: strings.TrimSpace(errNote(single) + " " + single.cpuPerItem("ingest"))},
		{measure: fmt.Sprintf("ingest POST /v1/events/batch (%d per request)", o.batchSize), unit: "events/s", value: batch.perSecond(),
			baseline: rawName, base: raw.perSecond(), p50: batch.pct(.5), p99: batch.pct(.99), p999: batch.pct(.999),
			target: ">= 1.00x", minRatio: 1.0, note: strings.TrimSpace(errNote(batch) + " Latency is per batch request. " + batch.cpuPerItem("ingest"))},
	}
	return rows, nil
}

func errNote(r result) string {
	if r.errs == 0 {
		return ""
	}
	return fmt.Sprintf("%d failed operations (excluded from the rate).", r.errs)
}
