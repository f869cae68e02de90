package slack

import (
	"strings"
	"testing"

	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
)

func TestDigestMessage(t *testing.T) {
	if preview, refuse := notify.DigestOf(New(notifytest.Catalog(t))); preview != digest.ChatItems || refuse != "" {
		t.Fatalf("digest policy %d %q", preview, refuse)
	}
	m := renderMessage(t, notifytest.Digest(t, "task.created", seedRaw(t), 37, digest.ChatItems), notify.Target{})
	if m.Blocks[0].Text.Text != "Digest: 37 events" {
		t.Fatalf("header %q", m.Blocks[0].Text.Text)
	}
	section := m.Blocks[1].Text.Text
	for _, want := range []string{"task.created: 37", "and 27 more", "New Task Created"} {
		if !strings.Contains(section, want) {
			t.Errorf("section lacks %q:\n%s", want, section)
		}
	}
	if len(section) > MaxSection {
		t.Fatalf("section of %d characters", len(section))
	}
	red := renderMessage(t, notifytest.Digest(t, "task.created", seedRaw(t), 3, digest.ChatItems), notify.Target{Redact: true})
	for _, name := range []string{"John", "Doe", "1980-05-15"} { // the seed patient
		if strings.Contains(red.Text, name) || strings.Contains(red.Blocks[1].Text.Text, name) {
			t.Fatalf("redacted digest shows %q", name)
		}
	}
}
