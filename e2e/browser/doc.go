// Package browser runs the dashboard's browser tests: browser_test.go starts the real
// bin/ingest and bin/dispatcher (with an embedded NATS server and a PostgreSQL database of
// their own), then runs dashboard.mjs, which drives Debian's chromium through playwright-core
// and scans every page with axe-core (npm packages pinned in package-lock.json; `make test`
// installs them with npm ci). The screenshots the README shows are written to docs/ by it.
package browser
