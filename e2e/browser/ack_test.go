package browser

import (
	"path/filepath"
	"testing"
)

// TestAckPage runs ack.mjs: the acknowledge page of an alert in chromium, with axe.
func TestAckPage(t *testing.T) {
	const public = "https://taskhook.example.org"
	s := startStack(t, "TASKHOOK_ALLOW_HTTP=true", "TASKHOOK_ALLOWED_NETWORKS=127.0.0.0/8",
		"TASKHOOK_POLL_INTERVAL=100ms", "TASKHOOK_PUBLIC_URL="+public)
	s.run("ack.mjs", "EVENT_FILE="+filepath.Join(s.root, "examples", "goreporter-battery-critical.json"), "PUBLIC_URL="+public)
}
