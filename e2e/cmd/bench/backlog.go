package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// benchBacklog: a retry backlog of a million deliveries. The dispatcher's memory must stay
// flat (it holds claims, never the backlog), the claim query must stay fast, and the admin
// API's delivery list must stay fast over a million rows.
func benchBacklog(ctx context.Context, e *env) ([]row, error) {
	seed, rcv, err := e.deliverySetup(ctx)
	if err != nil {
		return nil, err
	}
	defer rcv.srv.Close()
	rcv.status.Store(http.StatusServiceUnavailable) // every delivery fails and waits for a retry
	p, err := newPipeline(ctx, e, "TASKHOOK_RETRY_SCHEDULE=1h", "TASKHOOK_GAUGE_INTERVAL=5s")
	if err != nil {
		return nil, err
	}
	defer p.close(ctx)
	wid, err := p.createWebhook("http://"+rcv.addr+"/hook", nil)
	if err != nil {
		return nil, err
	}
	rssBefore, _ := p.proc.RSS()

	// Real retrying deliveries first (each failed once), then a synthetic backlog around them.
	real := e.opts.backlog / 500
	if err := p.publishAll(ctx, seed, "b-", real); err != nil {
		return nil, err
	}
	if err := waitRows(ctx, p, `SELECT count(*) FROM deliveries WHERE status = 'retrying'`, real, 2*time.Minute); err != nil {
		return nil, err
	}
	began := time.Now()
	if _, err := p.db.ExecContext(ctx, `INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, attempts,
			next_attempt_at, due_at, last_status_code, last_error, created_at)
		SELECT gen_random_uuid(), $1, 'synthetic-' || g, 'task.created', CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'retrying' END, 1,
			now() + interval '1 hour' + (g % 86400) * interval '1 second',
			CASE WHEN g % 10 = 0 THEN NULL ELSE now() + interval '1 hour' + (g % 86400) * interval '1 second' END,
			503, 'HTTP 503', now() - (g % 86400) * interval '1 second'
		FROM generate_series(1, $2) g`, wid, e.opts.backlog-real); err != nil {
		return nil, err
	}
	if _, err := p.db.ExecContext(ctx, `ANALYZE deliveries`); err != nil {
		return nil, err
	}
	loaded := time.Since(began)
	// Make the real ones due now, so that the poller claims and retries while the backlog sits.
	if _, err := p.db.ExecContext(ctx, `UPDATE deliveries SET due_at = now() WHERE event_id LIKE 'b-%'`); err != nil {
		return nil, err
	}
	var rssMax int64
	for i := 0; i < 40; i++ {
		if r, err := p.proc.RSS(); err == nil && r > rssMax {
			rssMax = r
		}
		time.Sleep(500 * time.Millisecond)
	}
	gauge := scrape(p.addr, "taskhook_dispatch_retry_backlog")
	claimSum, claimN := scrape(p.addr, "taskhook_dispatch_claim_duration_seconds_sum"), scrape(p.addr, "taskhook_dispatch_claim_duration_seconds_count")

	// The claim statement's selection, as the poller runs it, with EXPLAIN ANALYZE (rolled back).
	claim, plan, err := explainAnalyze(ctx, p.db, `SELECT id, event_id FROM deliveries
			WHERE due_at <= now() ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED`, 30)
	if err != nil {
		return nil, err
	}

	// The admin API over a million rows: first page, page 200 (keyset), status filter.
	client := &http.Client{}
	get := func(path string) (time.Duration, string, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+p.addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var page struct {
			NextCursor *string `json:"next_cursor"`
		}
		b, _ := io.ReadAll(resp.Body)
		took := time.Since(t0)
		if resp.StatusCode != 200 {
			return 0, "", fmt.Errorf("%s: %d", path, resp.StatusCode)
		}
		_ = json.Unmarshal(b, &page)
		next := ""
		if page.NextCursor != nil {
			next = *page.NextCursor
		}
		return took, next, nil
	}
	measure := func(path string, n int) (result, error) {
		var lat []time.Duration
		for i := 0; i < n; i++ {
			d, _, err := get(path)
			if err != nil {
				return result{}, err
			}
			lat = append(lat, d)
		}
		slices.Sort(lat)
		return result{lat: lat}, nil
	}
	base := "/v1/webhooks/" + wid + "/deliveries"
	first, err := measure(base+"?limit=50", 200)
	if err != nil {
		return nil, err
	}
	cursor := ""
	for i := 0; i < 200; i++ {
		q := base + "?limit=50"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		if _, cursor, err = get(q); err != nil {
			return nil, err
		}
	}
	deep, err := measure(base+"?limit=50&cursor="+url.QueryEscape(cursor), 200)
	if err != nil {
		return nil, err
	}
	failed, err := measure(base+"?limit=50&status=failed", 200)
	if err != nil {
		return nil, err
	}
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	n := e.opts.backlog
	rows := []row{
		{measure: fmt.Sprintf("retry backlog of %d: dispatcher RSS (max over 20 s)", n), unit: "MiB", value: mib(rssMax),
			target: "< 200 MiB", maxValue: 200, note: fmt.Sprintf("RSS %.0f MiB before the backlog; backlog gauge read %.0f; %d rows inserted in %s.",
				mib(rssBefore), gauge, n-real, loaded.Round(time.Second))},
		{measure: fmt.Sprintf("claim query with %d pending (EXPLAIN ANALYZE, 30 runs)", n), unit: "ms", value: float64(claim.pct(.5).Microseconds()) / 1000,
			p50: claim.pct(.5), p99: claim.pct(.99), note: fmt.Sprintf("the poller's own claims while the backlog sat: %.2f ms on average over %.0f claims. Plan: %s",
				1000*claimSum/max(claimN, 1), claimN, firstLines(plan, 3))},
		{measure: fmt.Sprintf("admin: first page of %d deliveries", n), unit: "ms", value: float64(first.pct(.5).Microseconds()) / 1000, p50: first.pct(.5), p99: first.pct(.99)},
		{measure: "admin: page 201 (keyset cursor)", unit: "ms", value: float64(deep.pct(.5).Microseconds()) / 1000, p50: deep.pct(.5), p99: deep.pct(.99)},
		{measure: "admin: status=failed filter", unit: "ms", value: float64(failed.pct(.5).Microseconds()) / 1000, p50: failed.pct(.5), p99: failed.pct(.99)},
	}
	return rows, nil
}

// explainAnalyze runs q under EXPLAIN ANALYZE runs times, each in a transaction rolled back,
// and returns the execution times and the last plan.
func explainAnalyze(ctx context.Context, db *sql.DB, q string, runs int) (result, string, error) {
	var lat []time.Duration
	var plan string
	for i := 0; i < runs; i++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return result{}, "", err
		}
		lines, err := explainOnce(ctx, tx, q)
		_ = tx.Rollback() // EXPLAIN ANALYZE ran the statement: undo it
		if err != nil {
			return result{}, "", err
		}
		for _, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), "Execution Time:") {
				ms, _ := strconv.ParseFloat(strings.Fields(l)[2], 64)
				lat = append(lat, time.Duration(ms*float64(time.Millisecond)))
			}
		}
		plan = strings.Join(lines, "\n")
	}
	slices.Sort(lat)
	return result{lat: lat}, plan, nil
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines[:min(n, len(lines))], " / ")
}

func waitRows(ctx context.Context, p *pipeline, q string, want int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var n int
		if err := p.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return err
		}
		if n >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d rows within %s", n, want, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scrape reads one unlabelled sample from a /metrics page (0 when absent).
func scrape(addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}

// explainOnce runs EXPLAIN ANALYZE of q in tx and returns the plan's lines.
func explainOnce(ctx context.Context, tx *sql.Tx, q string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "EXPLAIN (ANALYZE, FORMAT TEXT) "+q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	return lines, rows.Err()
}
