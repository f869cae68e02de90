package main

import (
	"context"
	"database/sql"
	"encoding/base64"
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

// benchScale: the delivery log over months. The delivery rate on an empty database, then
// -scale-deliveries deliveries (with their events, and two attempts for one in ten) generated
// over -scale-days days' partitions, across 100 webhooks; then the delivery rate again (target
// ≥ 0.9× the empty one), p99 of a webhook's log (first page, a deep cursor), of a delivery's
// detail and of the stats (targets ≤ 50 ms), the time to drop the oldest day (≤ 1 s), and the
// disk per million deliveries.
func benchScale(ctx context.Context, e *env) ([]row, error) {
	o := e.opts
	seed, rcv, err := e.deliverySetup(ctx)
	if err != nil {
		return nil, err
	}
	defer rcv.srv.Close()
	p, err := newPipeline(ctx, e, "TASKHOOK_WEBHOOK_CONCURRENCY="+strconv.Itoa(o.concurrency), "TASKHOOK_MAX_INFLIGHT=1024",
		"TASKHOOK_RETENTION_INTERVAL=24h")
	if err != nil {
		return nil, err
	}
	defer p.close(ctx)
	wid, err := p.createWebhook("http://"+rcv.addr+"/hook", nil)
	if err != nil {
		return nil, err
	}
	rate := func(prefix string) (float64, error) {
		n := o.scaleRateEvents
		rcv.reset()
		start := time.Now()
		if err := p.publishAll(ctx, seed, prefix, n); err != nil {
			return 0, err
		}
		if err := waitCount(ctx, rcv, int64(n), 5*time.Minute); err != nil {
			return 0, err
		}
		return float64(n) / time.Duration(rcv.last.Load()-start.UnixNano()).Seconds(), nil
	}
	empty, err := rate("empty-")
	if err != nil {
		return nil, err
	}

	// 99 more webhooks (their rows fill the tables; they are never delivered to).
	hooks := []string{wid}
	for i := 0; i < 99; i++ {
		id, err := p.createWebhook("http://"+rcv.addr+"/other/"+strconv.Itoa(i), map[string]any{"events": []string{"battery.low"}})
		if err != nil {
			return nil, err
		}
		hooks = append(hooks, id)
	}
	began := time.Now()
	if err := generateLog(ctx, p.db, hooks, o.scaleDeliveries, o.scaleDays); err != nil {
		return nil, fmt.Errorf("generate the log: %w", err)
	}
	generated := time.Since(began)
	var total int64
	if err := p.db.QueryRowContext(ctx, `SELECT count(*) FROM deliveries`).Scan(&total); err != nil {
		return nil, err
	}
	var inDefault int64
	if err := p.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM deliveries_default) + (SELECT count(*) FROM events_default) + (SELECT count(*) FROM attempts_default)`).Scan(&inDefault); err != nil {
		return nil, err
	}
	var disk int64
	if err := p.db.QueryRowContext(ctx, `SELECT sum(pg_total_relation_size(t.relid)) FROM (
			SELECT relid FROM pg_partition_tree('deliveries') UNION ALL SELECT relid FROM pg_partition_tree('events')
			UNION ALL SELECT relid FROM pg_partition_tree('attempts')) t`).Scan(&disk); err != nil {
		return nil, err
	}

	full, err := rate("full-")
	if err != nil {
		return nil, err
	}

	// The API over the full log: the measured webhook holds a hundredth of it.
	client := &http.Client{}
	get := func(path string) (time.Duration, []byte, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+p.addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		took := time.Since(t0)
		if resp.StatusCode != 200 {
			return 0, nil, fmt.Errorf("%s: %d %s", path, resp.StatusCode, b)
		}
		return took, b, nil
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
	// A deep cursor: the position o.scaleDays/2 days back (a cursor is (created_at, id)).
	var deepAt time.Time
	var deepID, anyID string
	if err := p.db.QueryRowContext(ctx, `SELECT created_at, id::text FROM deliveries WHERE webhook_id = $1 AND created_at < now() - make_interval(days => $2::int)
		ORDER BY created_at DESC, id DESC LIMIT 1`, wid, o.scaleDays/2).Scan(&deepAt, &deepID); err != nil {
		return nil, fmt.Errorf("find a deep position: %w", err)
	}
	_, page, err := get(base + "?limit=50")
	if err != nil {
		return nil, err
	}
	var listed struct {
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.Unmarshal(page, &listed); err != nil || listed.NextCursor == nil {
		return nil, fmt.Errorf("first page: no cursor (%v)", err)
	}
	// Walk 20 pages by cursor, then jump to the deep position with a cursor of the same form.
	cursor := *listed.NextCursor
	for i := 0; i < 20 && cursor != ""; i++ {
		_, b, err := get(base + "?limit=50&cursor=" + url.QueryEscape(cursor))
		if err != nil {
			return nil, err
		}
		listed.NextCursor = nil
		_ = json.Unmarshal(b, &listed)
		cursor = ""
		if listed.NextCursor != nil {
			cursor = *listed.NextCursor
		}
	}
	deepCursor, err := cursorAt(cursor, deepAt, deepID)
	if err != nil {
		return nil, err
	}
	deep, err := measure(base+"?limit=50&cursor="+url.QueryEscape(deepCursor), 200)
	if err != nil {
		return nil, err
	}
	if err := p.db.QueryRowContext(ctx, `SELECT id::text FROM deliveries WHERE webhook_id = $1 AND attempts = 2 AND created_at < now() - interval '1 day' LIMIT 1`, wid).Scan(&anyID); err != nil {
		return nil, fmt.Errorf("find a delivery with attempts: %w", err)
	}
	detail, err := measure("/v1/deliveries/"+anyID, 200)
	if err != nil {
		return nil, err
	}
	stats, err := measure("/v1/stats", 200)
	if err != nil {
		return nil, err
	}

	// Drop the oldest day, as retention does (one DROP per table, lock_timeout 2 s), while the
	// dispatcher delivers.
	rcv.reset()
	go func() { _ = p.publishAll(ctx, seed, "drop-", o.scaleRateEvents) }()
	var oldest string
	if err := p.db.QueryRowContext(ctx, `SELECT min(c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'deliveries'::regclass AND c.relname LIKE 'deliveries\_p%'`).Scan(&oldest); err != nil {
		return nil, err
	}
	day := oldest[len("deliveries_p"):]
	var dayRows int64
	_ = p.db.QueryRowContext(ctx, `SELECT count(*) FROM `+oldest).Scan(&dayRows)
	dropStart := time.Now()
	var longest time.Duration
	for _, t := range []string{"deliveries", "events", "attempts"} {
		t0 := time.Now()
		if err := ddl(ctx, p.db, `DROP TABLE IF EXISTS `+t+"_p"+day); err != nil {
			return nil, fmt.Errorf("drop %s_p%s: %w", t, day, err)
		}
		longest = max(longest, time.Since(t0))
	}
	dropAll := time.Since(dropStart)
	_ = waitCount(ctx, rcv, int64(o.scaleRateEvents), 5*time.Minute)

	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	note := fmt.Sprintf("%d deliveries over %d days and 100 webhooks (one in ten failed, with two attempts; each with its event) generated in %s; %d rows in DEFAULT partitions.",
		total, o.scaleDays, generated.Round(time.Second), inDefault)
	return []row{
		{measure: fmt.Sprintf("delivery rate with %d deliveries stored (%d events)", total, o.scaleRateEvents), unit: "deliveries/s", value: full,
			baseline: "the same on an empty database", base: empty, target: ">= 0.90x", minRatio: 0.9, note: note},
		{measure: fmt.Sprintf("a webhook's log, first page (%d of its deliveries)", total/100), unit: "ms", value: ms(first.pct(.5)), p50: first.pct(.5), p99: first.pct(.99),
			target: "p99 <= 50 ms", maxP99: 50 * time.Millisecond},
		{measure: fmt.Sprintf("a webhook's log, deep cursor (%d days back)", o.scaleDays/2), unit: "ms", value: ms(deep.pct(.5)), p50: deep.pct(.5), p99: deep.pct(.99),
			target: "p99 <= 50 ms", maxP99: 50 * time.Millisecond},
		{measure: "a delivery's detail (with attempts)", unit: "ms", value: ms(detail.pct(.5)), p50: detail.pct(.5), p99: detail.pct(.99),
			target: "p99 <= 50 ms", maxP99: 50 * time.Millisecond},
		{measure: "stats (GET /v1/stats)", unit: "ms", value: ms(stats.pct(.5)), p50: stats.pct(.5), p99: stats.pct(.99),
			target: "p99 <= 50 ms", maxP99: 50 * time.Millisecond},
		{measure: fmt.Sprintf("drop one day (%d deliveries, with events and attempts) while delivering", dayRows), unit: "ms", value: ms(dropAll),
			target: "<= 1000 ms", maxValue: 1000, note: fmt.Sprintf("three DROP TABLE statements (lock wait included); the longest %s.", longest.Round(time.Millisecond))},
		{measure: "disk per million deliveries (deliveries, events, attempts, indexes)", unit: "MiB", value: float64(disk) / (1 << 20) / (float64(total) / 1e6)},
	}, nil
}

// cursorAt returns a delivery-log cursor for (at, id), in the form of sample (a cursor the API
// returned: base64url of a JSON object holding the position's time "t" and id "id"), so that the
// bench can jump deep without walking thousands of pages.
func cursorAt(sample string, at time.Time, id string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(sample)
	if err != nil {
		return "", fmt.Errorf("read a cursor: %w", err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		return "", fmt.Errorf("read a cursor: %w", err)
	}
	if _, ok := c["t"]; !ok {
		return "", fmt.Errorf("a cursor without \"t\": %s", b)
	}
	c["t"], c["id"] = at.UTC().Format(time.RFC3339Nano), id
	out, err := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(out), err
}

// generateLog fills the log: n deliveries spread evenly over days days (ending yesterday)
// across hooks, each with its event (a 600-byte payload), one in ten failed with two attempts,
// in the days' partitions (created first, as the dispatcher creates them), one INSERT per
// table and day; then VACUUM ANALYZE (so that the visibility map allows index-only scans).
func generateLog(ctx context.Context, db *sql.DB, hooks []string, n, days int) error {
	if _, err := db.ExecContext(ctx, `DO $$
		DECLARE d date; t text;
		BEGIN
			FOR d IN SELECT generate_series((now() AT TIME ZONE 'UTC')::date - `+strconv.Itoa(days)+`, (now() AT TIME ZONE 'UTC')::date, interval '1 day')::date LOOP
				FOREACH t IN ARRAY ARRAY['deliveries', 'events', 'attempts'] LOOP
					EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', t || '_p' || to_char(d, 'YYYYMMDD'), t,
						d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
				END LOOP;
			END LOOP;
		END $$`); err != nil {
		return err
	}
	perDay := n / days
	for d := days; d >= 1; d-- {
		// Row g of day d: created at the day's start + g × (86400 s / perDay), webhook (g / 3) % 100.
		args := []any{"{" + strings.Join(hooks, ",") + "}", perDay, d}
		if _, err := db.ExecContext(ctx, `INSERT INTO events (id, subject, payload, received_at)
			SELECT 'gen-' || $2::int || '-' || g, 'task.created', convert_to(repeat(md5(g::text), 19), 'UTF8'),
				date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - make_interval(days => $2::int) + g * make_interval(secs => 86400.0 / $1::int)
			FROM generate_series(0, $1::int - 1) g`, args[1:]...); err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, attempts, last_status_code, last_error,
				last_attempt_at, last_duration_ms, created_at, updated_at)
			SELECT gen_random_uuid(), ($1::uuid[])[1 + (g / 3) % 100], 'gen-' || $3::int || '-' || g, 'task.created',
				CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'succeeded' END, CASE WHEN g % 10 = 0 THEN 2 ELSE 1 END,
				CASE WHEN g % 10 = 0 THEN 500 ELSE 200 END, CASE WHEN g % 10 = 0 THEN 'HTTP 500' ELSE '' END,
				t + interval '2 seconds', 40, t, t + interval '2 seconds'
			FROM (SELECT g, date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - make_interval(days => $3::int) + g * make_interval(secs => 86400.0 / $2::int) AS t
				FROM generate_series(0, $2::int - 1) g) s`, args...); err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO attempts (delivery_id, n, started_at, duration_ms, status_code, error)
			SELECT d.id, k, d.created_at + k * interval '1 second', 40, 500, 'HTTP 500'
			FROM deliveries d CROSS JOIN generate_series(1, 2) k
			WHERE d.status = 'failed' AND d.created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - make_interval(days => $1::int)
				AND d.created_at < date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - make_interval(days => $1::int - 1)`, d); err != nil {
			return err
		}
	}
	_, err := db.ExecContext(ctx, `VACUUM (ANALYZE) deliveries, events, attempts`)
	return err
}

// ddl runs one statement in a transaction that waits at most 2 s for its locks (as the
// dispatcher's retention does).
func ddl(ctx context.Context, db *sql.DB, stmt string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = 2000`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, stmt); err != nil {
		return err
	}
	return tx.Commit()
}
