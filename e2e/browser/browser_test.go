package browser

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDashboard fails (never skips) when chromium, node or the npm packages are missing:
// .ci/run installs chromium and `make test` runs npm ci first.
func TestDashboard(t *testing.T) {
	s := startStack(t,
		// The receivers are the test's own, on loopback over http.
		"TASKHOOK_ALLOW_HTTP=true", "TASKHOOK_ALLOWED_NETWORKS=127.0.0.0/8",
		// Three quick attempts, red after two failures: the failing receiver turns the webhook red
		// and its delivery fails within about a second.
		"TASKHOOK_RETRY_SCHEDULE=200ms,300ms", "TASKHOOK_RED_AFTER=2", "TASKHOOK_ATTEMPT_TIMEOUT=2s", "TASKHOOK_LEASE=6s",
		"TASKHOOK_POLL_INTERVAL=100ms")
	s.run("dashboard.mjs", "SEED_FILE="+filepath.Join(s.root, "examples", "seed-task-created.json"), "SHOTS_DIR="+s.shots())
	// Nothing the dashboard did may put a token in the dispatcher's log.
	b, err := os.ReadFile(filepath.Join(s.logs, "dispatcher.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{adminToken, viewerToken} {
		if strings.Contains(string(b), tok) {
			t.Errorf("the dispatcher's log contains the token %q", tok)
		}
	}
}
