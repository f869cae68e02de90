package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// result is one measured phase.
type result struct {
	ops     int64 // operations (requests, publishes)
	items   int64 // items moved (events; = ops unless batched)
	errs    int64
	elapsed time.Duration
	lat     []time.Duration // per operation, sorted
	cpu     time.Duration   // CPU time of the measured process over the phase (metered loops)
}

func (r result) perSecond() float64 { return float64(r.items) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat)-1) * p)
	return r.lat[i]
}

// op performs one operation and returns how many items it moved.
type op func(ctx context.Context, worker int) (items int, err error)

// closedLoop runs conc workers calling fn back to back: warm-up first (not measured), then
// measure for dur.
func closedLoop(ctx context.Context, conc int, warmup, dur time.Duration, fn op) result {
	return meteredLoop(ctx, conc, warmup, dur, nil, fn)
}

// meteredLoop is closedLoop that also records cpu() over the measured phase (cpu may be nil).
func meteredLoop(ctx context.Context, conc int, warmup, dur time.Duration, cpu func() time.Duration, fn op) result {
	if warmup > 0 {
		loop(ctx, conc, warmup, fn)
	}
	if cpu == nil {
		return loop(ctx, conc, dur, fn)
	}
	before := cpu()
	r := loop(ctx, conc, dur, fn)
	r.cpu = cpu() - before
	return r
}

// cpuPerItem describes r.cpu per item moved.
func (r result) cpuPerItem(who string) string {
	if r.items == 0 || r.cpu == 0 {
		return ""
	}
	return fmt.Sprintf("%s CPU %.1f µs per event.", who, float64(r.cpu.Nanoseconds())/1e3/float64(r.items))
}

func loop(ctx context.Context, conc int, dur time.Duration, fn op) result {
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var ops, items, errs atomic.Int64
	lats := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1<<14)
			for ctx.Err() == nil {
				t0 := time.Now()
				n, err := fn(ctx, w)
				if ctx.Err() != nil && err != nil {
					break // cut off by the end of the phase
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
				ops.Add(1)
				items.Add(int64(n))
			}
			lats[w] = mine
		}(w)
	}
	wg.Wait()
	r := result{ops: ops.Load(), items: items.Load(), errs: errs.Load(), elapsed: time.Since(start)}
	for _, l := range lats {
		r.lat = append(r.lat, l...)
	}
	slices.Sort(r.lat)
	return r
}
