// Package pgtest gives each test its own PostgreSQL database on a real server, dropped at
// cleanup. The server is TASKHOOK_TEST_POSTGRES_URL (default: the local trust-auth server).
package pgtest

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	_ "github.com/lib/pq" // PostgreSQL driver
)

// DefaultAdminURL is the server tests use unless TASKHOOK_TEST_POSTGRES_URL says otherwise.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func adminURL() string {
	if u := os.Getenv("TASKHOOK_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultAdminURL
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDatabase creates an empty database named after the test and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("postgres", adminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Ping(); err != nil {
		t.Fatalf("pgtest: PostgreSQL at %s is not reachable (%v); start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start", adminURL(), err)
	}
	name := nonIdent.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("th_%s_%08x", name, rand.Uint32())
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() { Drop(t, name) })
	u, _ := url.Parse(adminURL())
	u.Path = "/" + name
	return u.String()
}

// Drop removes a database, closing its connections first.
func Drop(t testing.TB, name string) {
	admin, err := sql.Open("postgres", adminURL())
	if err != nil {
		t.Errorf("pgtest: %v", err)
		return
	}
	defer admin.Close()
	if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
		t.Errorf("pgtest: drop database %s: %v", name, err)
	}
}
