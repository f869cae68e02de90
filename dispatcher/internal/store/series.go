package store

import (
	"context"
	"time"
)

// HourStats are the counters of one hour, all webhooks together (the dashboard's chart).
type HourStats struct {
	Hour                time.Time `db:"hour"`
	DeliveriesSucceeded int64     `db:"deliveries_succeeded"`
	DeliveriesFailed    int64     `db:"deliveries_failed"`
	AttemptsSucceeded   int64     `db:"attempts_succeeded"`
	AttemptsFailed      int64     `db:"attempts_failed"`
}

// Hourly returns one row per hour of the last hours hours (the current one last), hours
// without traffic included as zeros, from the maintained hourly counters (no scan of attempts).
func (db *DB) Hourly(ctx context.Context, hours int) ([]HourStats, error) {
	out := []HourStats{}
	err := db.SelectContext(ctx, &out, `SELECT g.hour,
			COALESCE(sum(s.deliveries_succeeded), 0) AS deliveries_succeeded, COALESCE(sum(s.deliveries_failed), 0) AS deliveries_failed,
			COALESCE(sum(s.attempts_succeeded), 0) AS attempts_succeeded, COALESCE(sum(s.attempts_failed), 0) AS attempts_failed
		FROM generate_series(date_trunc('hour', now()) - make_interval(hours => $1 - 1), date_trunc('hour', now()), interval '1 hour') AS g(hour)
		LEFT JOIN webhook_stats s ON s.hour = g.hour
		GROUP BY g.hour ORDER BY g.hour`, hours)
	return out, err
}
