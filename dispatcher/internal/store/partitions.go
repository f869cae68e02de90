package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lib/pq"
)

// The tables partitioned by day (UTC), each by its time column (migration 00015): a delivery's
// day is its event's day (both the message's stream timestamp); attempts go by when they were
// made, so they are dropped only once every delivery they can belong to is gone.
const (
	eventsTable     = "events"
	deliveriesTable = "deliveries"
	attemptsTable   = "attempts"
)

// partitionedTables lists the partitioned tables (the deliveries first: the others are dropped
// up to the oldest day of deliveries kept).
func partitionedTables() []string { return []string{deliveriesTable, eventsTable, attemptsTable} }

// PartitionsAhead is how many days after today have their partitions created.
const PartitionsAhead = 7

// PartitionLockTimeout bounds the wait for the lock that creating or dropping a partition takes
// on its table: past it the statement gives up (and is tried again at the next run) rather than
// queue every query of the table behind it.
const PartitionLockTimeout = 2 * time.Second

// Partition is one day's partition of a table.
type Partition struct {
	Table string
	Name  string
	Day   time.Time // 00:00 UTC of its day; it holds [Day, Day + 24h)
}

// PartitionName is the name of table's partition for day (UTC).
func PartitionName(table string, day time.Time) string {
	return table + "_p" + day.UTC().Format("20060102")
}

// parsePartition reads a partition's day from its name (false: not a day partition).
func parsePartition(table, name string) (Partition, bool) {
	suffix, ok := strings.CutPrefix(name, table+"_p")
	if !ok || len(suffix) != 8 {
		return Partition{}, false
	}
	day, err := time.Parse("20060102", suffix)
	if err != nil {
		return Partition{}, false
	}
	return Partition{Table: table, Name: name, Day: day}, true
}

// Day is the start (00:00 UTC) of t's day.
func Day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Partitions lists table's day partitions, oldest first.
func (db *DB) Partitions(ctx context.Context, table string) ([]Partition, error) {
	var names []string
	if err := db.SelectContext(ctx, &names, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::regclass`, table); err != nil {
		return nil, err
	}
	var out []Partition
	for _, n := range names {
		if p, ok := parsePartition(table, n); ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Day.Before(out[j].Day) })
	return out, nil
}

// EnsurePartitions creates the partitions of every partitioned table for the days from from's
// to to's (those missing); it returns the names created.
func (db *DB) EnsurePartitions(ctx context.Context, from, to time.Time) ([]string, error) {
	var created []string
	for _, table := range partitionedTables() {
		have, err := db.Partitions(ctx, table)
		if err != nil {
			return created, err
		}
		exists := map[string]bool{}
		for _, p := range have {
			exists[p.Name] = true
		}
		for day := Day(from); !day.After(Day(to)); day = day.AddDate(0, 0, 1) {
			name := PartitionName(table, day)
			if exists[name] {
				continue
			}
			if err := db.ddl(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM (%s) TO (%s)`,
				pq.QuoteIdentifier(name), pq.QuoteIdentifier(table),
				pq.QuoteLiteral(day.Format(time.RFC3339)), pq.QuoteLiteral(day.AddDate(0, 0, 1).Format(time.RFC3339)))); err != nil {
				return created, fmt.Errorf("create partition %s: %w", name, err)
			}
			created = append(created, name)
		}
	}
	return created, nil
}

// Dropped is what DropPartitions did.
type Dropped struct {
	Names []string      // partitions dropped
	Kept  []string      // partitions past the retention kept because deliveries in them are not final
	Lock  time.Duration // the longest DROP statement (lock wait and drop)
	// DefaultRows counts the rows in the DEFAULT partitions (outside every day partition: 0 in
	// normal operation).
	DefaultRows int64
}

// DropPartitions drops the day partitions that end at or before before: a day of deliveries
// only when none of its deliveries is still open (pending or retrying: kept, and tried again at
// the next run), then the events and attempts up to the oldest day of deliveries kept. Each
// DROP waits at most PartitionLockTimeout for its lock.
func (db *DB) DropPartitions(ctx context.Context, before time.Time) (Dropped, error) {
	var out Dropped
	deliveries, err := db.Partitions(ctx, deliveriesTable)
	if err != nil {
		return out, err
	}
	// Events and attempts go up to the oldest day of deliveries kept: an open delivery's event
	// and attempts stay with it.
	limit := before
	for _, p := range deliveries {
		if p.Day.AddDate(0, 0, 1).After(before) {
			break
		}
		var open bool
		if err := db.GetContext(ctx, &open, fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s WHERE due_at IS NOT NULL)`, pq.QuoteIdentifier(p.Name))); err != nil {
			return out, err
		}
		if open {
			out.Kept = append(out.Kept, p.Name)
			if p.Day.Before(limit) {
				limit = p.Day
			}
			continue
		}
		if err := db.drop(ctx, p, &out); err != nil {
			return out, err
		}
	}
	for _, table := range []string{eventsTable, attemptsTable} {
		ps, err := db.Partitions(ctx, table)
		if err != nil {
			return out, err
		}
		for _, p := range ps {
			if p.Day.AddDate(0, 0, 1).After(limit) {
				break
			}
			if err := db.drop(ctx, p, &out); err != nil {
				return out, err
			}
		}
	}
	for _, table := range partitionedTables() {
		var n int64
		if err := db.GetContext(ctx, &n, fmt.Sprintf(`SELECT count(*) FROM %s`, pq.QuoteIdentifier(table+"_default"))); err != nil {
			return out, err
		}
		out.DefaultRows += n
	}
	return out, nil
}

func (db *DB) drop(ctx context.Context, p Partition, out *Dropped) error {
	began := time.Now()
	if err := db.ddl(ctx, `DROP TABLE IF EXISTS `+pq.QuoteIdentifier(p.Name)); err != nil {
		return fmt.Errorf("drop partition %s: %w", p.Name, err)
	}
	out.Lock = max(out.Lock, time.Since(began))
	out.Names = append(out.Names, p.Name)
	return nil
}

// ErrLockTimeout: a partition's DDL did not get its lock within PartitionLockTimeout.
var ErrLockTimeout = errors.New("lock not granted within the partition lock timeout (tried again at the next run)")

// ddl runs one DDL statement in its own transaction, waiting at most PartitionLockTimeout for
// its locks.
func (db *DB) ddl(ctx context.Context, stmt string) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, PartitionLockTimeout.Milliseconds())); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, stmt); err != nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == "55P03" { // lock_not_available
			return ErrLockTimeout
		}
		return err
	}
	return tx.Commit()
}
