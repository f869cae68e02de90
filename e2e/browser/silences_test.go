package browser

import (
	"os"
	"testing"
)

// TestDashboardSilences runs silences.mjs in chromium against the real binaries: an admin
// silences device D-991 from a delivery ("Silence similar…"), previews it, creates it; its
// battery events are shown silenced in the log while other devices' still arrive; the audit
// says who and why; "End now" ends it; a viewer sees no write controls. axe scans every page.
func TestDashboardSilences(t *testing.T) {
	s := startStack(t, "TASKHOOK_ALLOW_HTTP=true", "TASKHOOK_ALLOWED_NETWORKS=127.0.0.0/8", "TASKHOOK_POLL_INTERVAL=100ms")
	var env []string
	if os.Getenv("UI_SCREENSHOTS") != "" { // pictures only for make screenshots
		env = append(env, "SHOTS_DIR="+s.shots())
	}
	s.run("silences.mjs", env...)
}
