package teams

import (
	"strings"
	"testing"

	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
)

// TestDigestCard: a digest is a valid Adaptive Card 1.4 with the counts, the first events and
// "and N more"; redacted, it names no patient.
func TestDigestCard(t *testing.T) {
	s := cardSchema(t)
	body, card := renderMessage(t, s, notifytest.Digest(t, "task.created", seedRaw(t), 37, digest.ChatItems), notify.Target{})
	fs := facts(card)
	if fs["By type"] != "task.created: 37" || fs["More"] != "and 27 more" || !strings.Contains(string(body), "Digest: 37 events") {
		t.Fatalf("card facts %v\n%s", fs, body)
	}
	red, _ := renderMessage(t, s, notifytest.Digest(t, "task.created", seedRaw(t), 3, digest.ChatItems), notify.Target{Redact: true})
	for _, name := range []string{"John", "Doe", "1980-05-15"} { // the seed patient
		if strings.Contains(string(red), name) {
			t.Fatalf("redacted digest card shows %q", name)
		}
	}
}
