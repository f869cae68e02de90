// Package store is the dispatcher's PostgreSQL persistence (sqlx + lib/pq): webhooks, events,
// deliveries, attempts and the counters behind webhook health. The schema is a set of goose
// migrations embedded in the binary and applied at start under a session lock, so that
// replicas starting together migrate once. Values that must not be readable in a dump arrive
// here already sealed; this package never sees plaintext secrets.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // PostgreSQL driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// DB is the dispatcher's database.
type DB struct {
	*sqlx.DB
}

// Open connects to url, checks the connection and sizes the pool.
func Open(ctx context.Context, url string, maxConns int) (*DB, error) {
	db, err := sqlx.Open("postgres", withBinaryParameters(url))
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("PostgreSQL (DATABASE_URL) not reachable: %w", err)
	}
	return &DB{DB: db}, nil
}

// withBinaryParameters turns on lib/pq's binary_parameters unless the URL sets it: each
// parameterized statement then takes one round trip (no separate prepare), and bytea values
// travel as bytes rather than hex text. Measured in BENCHMARKS.md.
func withBinaryParameters(dsn string) string {
	if strings.Contains(dsn, "binary_parameters") {
		return dsn
	}
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("binary_parameters", "yes")
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " binary_parameters=yes"
}

// provider is goose over the embedded migrations, under a PostgreSQL session lock so that
// replicas starting together migrate once.
func (db *DB) provider() (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	files, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db.DB.DB, files, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Migrate applies the embedded migrations (committed migrations are never edited: every
// change is a new one).
func (db *DB) Migrate(ctx context.Context) ([]*goose.MigrationResult, error) {
	p, err := db.provider()
	if err != nil {
		return nil, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return res, nil
}

// Generation is the current webhook generation (bumped by every change to webhooks).
func (db *DB) Generation(ctx context.Context) (int64, error) {
	var g int64
	err := db.GetContext(ctx, &g, `SELECT generation FROM webhook_generation`)
	return g, err
}

// Ping checks the connection (readiness).
func (db *DB) Ping(ctx context.Context) error { return db.PingContext(ctx) }
