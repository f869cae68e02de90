package browser

import "testing"

// TestDashboardEventTypes runs eventtypes.mjs (real chromium, axe-core) against bin/ingest and
// bin/dispatcher: the Event types page, creating and editing a custom type, a viewer's view.
func TestDashboardEventTypes(t *testing.T) {
	startStack(t).run("eventtypes.mjs")
}
