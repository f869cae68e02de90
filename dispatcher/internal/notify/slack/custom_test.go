package slack

import (
	"context"
	"strings"
	"testing"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
)

// TestCustomGolden: a custom type is rendered from its registered summary: the header from its
// title, its facts, its link; custom families are rendered like the built-in ones.
func TestCustomGolden(t *testing.T) {
	p := New(notifytest.CustomCatalog(t))
	if fams := p.Families(); fams[len(fams)-1] != "appointment" {
		t.Fatalf("families %v", fams)
	}
	for _, c := range notifytest.CustomCases() {
		req, err := p.Render(context.Background(), &notify.Target{URL: "https://hooks.slack.com/services/T/B/x"}, notifytest.Message(c))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if !strings.Contains(string(req.Body), `"type":"header","text":{"type":"plain_text","text":"Missed appointment"`) {
			t.Errorf("%s: no header from the title: %s", c.Name, req.Body)
		}
		notifytest.Golden(t, c.Name, req.Body)
	}
}
