package consume

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhook/taskhook/pkg/families"
)

// TestUnknownDelay: an unknown type of a built-in family waits for upgraded replicas (a
// minute); one of another family, maybe a custom type this replica has not seen yet, comes back
// after as many seconds as it was delivered, at most a minute.
func TestUnknownDelay(t *testing.T) {
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		subject   string
		delivered uint64
		meta      bool
		want      time.Duration
	}{
		{"battery.dead", 1, true, time.Minute},
		{"task.archived", 3, true, time.Minute},
		{"appointment.missed", 1, true, time.Second},
		{"appointment.missed", 5, true, 5 * time.Second},
		{"appointment.missed", 500, true, time.Minute},
		{"appointment.missed", 0, false, time.Minute},
	}
	for _, k := range cases {
		var meta *jetstream.MsgMetadata
		if k.meta {
			meta = &jetstream.MsgMetadata{NumDelivered: k.delivered}
		}
		if got := unknownDelay(cat, k.subject, meta); got != k.want {
			t.Errorf("%s delivered %d: %s, want %s", k.subject, k.delivered, got, k.want)
		}
	}
}
