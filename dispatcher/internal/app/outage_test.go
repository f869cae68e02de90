package app

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/pkg/natstest"
	"github.com/taskhook/taskhook/pkg/pgtest"
	"github.com/taskhook/taskhook/pkg/tcpproxy"
)

// TestPostgresOutageLosesNothing: while PostgreSQL is unreachable nothing is acknowledged and
// nothing is sent; when it returns, every event is delivered.
func TestPostgresOutageLosesNothing(t *testing.T) {
	srv := natstest.Start(t)
	realDB := pgtest.NewDatabase(t)
	u, _ := url.Parse(realDB)
	proxy, err := tcpproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	viaProxy := *u
	viaProxy.Host = proxy.Addr()
	h := startWith(t, srv, viaProxy.String(), realDB)
	rcv := newReceiver(t)
	wh := h.createWebhook(map[string]any{"url": rcv.URL})
	for i := 0; i < 5; i++ {
		h.publish(taskEvent(fmt.Sprintf("before-%d", i), "created", ""))
	}
	rcv.waitFor(t, 5, 10*time.Second)
	eventually(t, 5*time.Second, "acks before the outage", func() bool { return h.consumerInfo().AckFloor.Stream == 5 })

	proxy.SetMode(tcpproxy.Refuse)
	for i := 0; i < 20; i++ {
		h.publish(taskEvent(fmt.Sprintf("during-%d", i), "due", ""))
	}
	time.Sleep(3 * time.Second)
	info := h.consumerInfo()
	if info.AckFloor.Stream != 5 {
		t.Fatalf("acknowledged during the outage: ack floor at stream sequence %d", info.AckFloor.Stream)
	}
	if n := len(rcv.requests()); n != 5 {
		t.Fatalf("%d requests sent while deliveries could not be recorded", n)
	}
	if h.metric("taskhook_dispatch_store_errors_total") == 0 {
		t.Fatal("store errors not counted")
	}
	if r := h.do("GET", "/readyz", "", nil); r.Status != 503 || !strings.Contains(string(r.Body), "postgres") {
		t.Fatalf("readyz during the outage: %d %s", r.Status, r.Body)
	}

	proxy.SetMode(tcpproxy.Forward)
	eventually(t, 30*time.Second, "every event delivered after the outage", func() bool {
		seen := map[string]bool{}
		for _, r := range rcv.requests() {
			var b struct {
				Data struct {
					EventID string `json:"event_id"`
				} `json:"data"`
			}
			_ = json.Unmarshal(r.Body, &b)
			seen[b.Data.EventID] = true
		}
		return len(seen) == 25
	})
	eventually(t, 10*time.Second, "all recorded as succeeded", func() bool {
		ds := h.deliveries(wh.ID)
		ok := len(ds) == 25
		for _, d := range ds {
			ok = ok && d.Status == "succeeded"
		}
		return ok
	})
	eventually(t, 10*time.Second, "everything acknowledged", func() bool { return h.consumerInfo().AckFloor.Stream == 25 })
}
