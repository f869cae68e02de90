package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/client"
)

// TestReplayFollowsTheServersCap replays a window the server reads in several requests (it
// stops after 20 × TASKHOOK_REPLAY_LIMIT stream messages and answers capped with next_since):
// Admin.Replay and taskhookctl replay go on from next_since until the window is done.
func TestReplayFollowsTheServersCap(t *testing.T) {
	s := newStack(t, "TASKHOOK_REPLAY_LIMIT=5") // at most 100 stream messages read per request
	ctx := context.Background()
	adm := s.admin(t)
	pub := s.publisher(t)
	rcv := newReceiver(t)
	w, err := adm.CreateWebhook(ctx, client.WebhookInput{Name: client.Ptr("tasks"), URL: client.Ptr(rcv.srv.URL + "/hook"),
		Events: []string{"task.*"}, Auth: &client.Auth{Type: "hmac"}})
	if err != nil {
		t.Fatal(err)
	}
	rcv.setSecret(w.Auth.Secret)
	start := time.Now()
	if _, err := adm.PauseWebhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	// While it is paused: 250 events it does not take, then 3 it does.
	var batch []json.RawMessage
	for i := range 250 {
		batch = append(batch, json.RawMessage(fmt.Sprintf(`{"type":"battery.low","device":{"id":"D-%d"},"battery":{"percent":15}}`, i)))
	}
	for i := range 3 {
		batch = append(batch, json.RawMessage(taskEvent(fmt.Sprintf("late-%d", i), "Missed while paused")))
	}
	for i := 0; i < len(batch); i += 100 {
		rs, err := pub.PublishBatch(ctx, batch[i:min(i+100, len(batch))])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if !r.OK() {
				t.Fatalf("item %d: %+v", i+r.Index, r)
			}
		}
	}
	// Resume only once the dispatcher consumed all 253 while paused: an event still in flight
	// at the resume would be delivered as usual, and the replay would have nothing to create.
	waitFor(t, 20*time.Second, "the 253 events consumed while paused", func() bool {
		return metric(t, s.adminURL, "taskhook_dispatch_events_total", `outcome="unmatched"`) >= 253
	})
	if _, err := adm.ResumeWebhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	var reached []time.Time
	sum, err := adm.Replay(ctx, w.ID, client.ReplayRequest{Since: start.Add(-time.Second)}, func(_ client.ReplayResult, at time.Time) {
		reached = append(reached, at)
	})
	if err != nil || sum.Created != 3 || sum.Capped || sum.Scanned < 253 {
		t.Fatalf("replay: %+v, %v", sum, err)
	}
	if len(reached) < 2 {
		t.Fatalf("the replay took %d request, want the server capped at least once", len(reached))
	}
	for i := 1; i < len(reached); i++ {
		if !reached[i].After(reached[i-1]) {
			t.Fatalf("progress went back: %v", reached)
		}
	}
	waitFor(t, 20*time.Second, "the 3 missed events delivered", func() bool { return len(rcv.deliveries()) == 3 })

	// taskhookctl: the same loop, a progress bar on stderr, the summary, exit 0; nothing is
	// created twice.
	out, errOut, code := s.ctl(t, "", "replay", w.ID, "--since", start.Add(-time.Second).Format(time.RFC3339Nano), "--progress")
	if code != 0 || !strings.Contains(out, "created:") || !strings.Contains(out, "0 (events missed") || !strings.Contains(errOut, "replay") {
		t.Fatalf("taskhookctl replay: exit %d\n%s\n%s", code, out, errOut)
	}
}
