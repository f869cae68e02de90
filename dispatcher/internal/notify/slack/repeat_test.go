package slack

import (
	"strings"
	"testing"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
	"github.com/taskhook/taskhook/pkg/families/battery"
)

// TestRepeatsHeldBack: a message sent under a repeat limit says how many like it were held
// back since the last; one without says nothing of it.
func TestRepeatsHeldBack(t *testing.T) {
	low := strings.Replace(battery.Example, `"battery.critical"`, `"battery.low"`, 1)
	msg := notifytest.Published(t, []byte(low))
	if m := renderMessage(t, msg, notify.Target{}); strings.Contains(m.Text, "Repeats held back") {
		t.Fatalf("a first message mentions repeats: %s", m.Text)
	}
	msg.SuppressedSinceLast = 6
	m := renderMessage(t, msg, notify.Target{})
	if !strings.Contains(m.Text, "Repeats held back: 6 more like this since the last message (repeat limit)") {
		t.Fatalf("text %q", m.Text)
	}
}
