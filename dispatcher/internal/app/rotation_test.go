package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// verifies reports whether a received request carries a Standard Webhooks signature by secret.
func verifies(r received, secret string) bool {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "." + string(r.Body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(r.Header.Get("webhook-signature")) {
		if s == want {
			return true
		}
	}
	return false
}

// TestKeyRotation: everything sealed under key 1 (webhook URLs and secrets, stored events,
// response excerpts, task state) keeps working under key 2 with key 1 as a previous key, is
// re-sealed under key 2 in the background (sealed_with_previous_keys falls to 0), and then
// works under key 2 alone; the dump holds nothing sealed with key 1.
func TestKeyRotation(t *testing.T) {
	srv, dbURL := natstestStart(t), newDB(t)
	k1, k2 := testKey(), testKey()
	first := startWith(t, srv, dbURL, dbURL, "TASKHOOK_ENCRYPTION_KEY="+k1, "TASKHOOK_DUE_EVENTS=derive")
	hook := newReceiver(t, answer{status: 200, body: "received, thanks"})
	wh := first.createWebhook(map[string]any{"url": hook.URL + "/hook?token=query-secret", "auth": map[string]any{"type": "hmac"}, "events": []string{"task.created"}})
	secret := wh.Auth.Secret
	first.publish(canvasTask("K-1", "created", time.Now().Add(72*time.Hour), ""))
	hook.waitFor(t, 1, 10*time.Second)
	eventually(t, 10*time.Second, "the delivery recorded", func() bool { return len(first.deliveries(wh.ID)) == 1 })
	old := first.deliveries(wh.ID)[0]
	first.stop()

	second := startWith(t, srv, dbURL, dbURL, "TASKHOOK_ENCRYPTION_KEY="+k2, "TASKHOOK_PREVIOUS_ENCRYPTION_KEYS="+k1, "TASKHOOK_DUE_EVENTS=derive")
	second.publish(canvasTask("K-2", "created", time.Now().Add(72*time.Hour), ""))
	got := hook.waitFor(t, 2, 10*time.Second)
	if !verifies(got[1], secret) {
		t.Fatal("under key 2 + previous key 1 the webhook's secret (sealed under key 1) does not sign")
	}
	var stats struct {
		Sealed *int64 `json:"sealed_with_previous_keys"`
	}
	eventually(t, 20*time.Second, "everything re-sealed", func() bool {
		second.do("GET", "/v1/stats", viewerToken, nil).decode(t, &stats)
		return stats.Sealed != nil && *stats.Sealed == 0
	})
	if v := second.metric("taskhook_sealed_with_previous_keys"); v != 0 {
		t.Fatalf("gauge %v", v)
	}
	dump, err := exec.Command("pg_dump", "--no-owner", "--data-only", dbURL).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	id1 := func(k string) string {
		raw, _ := base64.StdEncoding.DecodeString(k)
		sum := sha256.Sum256(raw)
		return `\x02` + hex.EncodeToString(sum[:4])
	}
	if strings.Contains(string(dump), id1(k1)) || !strings.Contains(string(dump), id1(k2)) || strings.Contains(string(dump), "query-secret") {
		t.Fatalf("the dump still holds values sealed with key 1 (or none with key 2)")
	}
	second.stop()

	third := startWith(t, srv, dbURL, dbURL, "TASKHOOK_ENCRYPTION_KEY="+k2, "TASKHOOK_DUE_EVENTS=derive")
	var v webhookView
	third.do("GET", "/v1/webhooks/"+wh.ID, viewerToken, nil).decode(t, &v)
	if !strings.Contains(v.URL, "query-secret") { // the URL, sealed under key 1 at first, opens under key 2 alone
		t.Fatalf("webhook under key 2 alone: %+v", v)
	}
	r := third.do("GET", "/v1/deliveries/"+old.ID, viewerToken, nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), "received, thanks") {
		t.Fatalf("the first delivery's excerpt under key 2 alone: %d %s", r.Status, r.Body)
	}
	if r := third.do("POST", "/v1/deliveries/"+old.ID+"/retry", adminToken, nil); r.Status != 200 { // the stored event opens too
		t.Fatalf("retry of the first delivery under key 2 alone: %d %s", r.Status, r.Body)
	}
	if got := hook.waitFor(t, 3, 10*time.Second); !verifies(got[2], secret) || !strings.Contains(string(got[2].Body), "K-1") {
		t.Fatal("the retried delivery is not the first event, signed with the webhook's secret")
	}
	if r := third.do("GET", "/v1/tasks/K-1", viewerToken, nil); r.Status != 200 {
		t.Fatalf("task state: %d", r.Status)
	}
}
