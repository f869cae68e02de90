package app

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPgDumpShowsNoSecretOrPatientData: after webhooks with every kind of credential (and a
// token in a URL's query, a Slack URL) have delivered the seed event to a receiver that echoes
// the patient back, a pg_dump of the database shows none of it in plaintext.
func TestPgDumpShowsNoSecretOrPatientData(t *testing.T) {
	if _, err := exec.LookPath("pg_dump"); err != nil {
		t.Fatalf("pg_dump not found (apt-get install postgresql-client): %v", err)
	}
	h := start(t)
	fail := answer{status: 500, body: `{"received":"John Doe 1980-05-15 Follow up with patient"}`}
	echo := newReceiver(t, fail, fail, fail, answer{status: 200, body: "John Doe ok"})
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	secrets := []string{"bearer-in-dump-4242", "url-query-secret-777", "SLACKPATHSECRET99", keyPEM[40:80]}
	h.createWebhook(map[string]any{"url": echo.URL + "/hook?token=url-query-secret-777", "auth": map[string]any{"type": "bearer", "token": "bearer-in-dump-4242"}})
	hm := h.createWebhook(map[string]any{"url": echo.URL + "/hmac", "auth": map[string]any{"type": "hmac"}})
	secrets = append(secrets, hm.Auth.Secret[6:30])
	h.createWebhook(map[string]any{"url": echo.URL + "/services/T0/B0/SLACKPATHSECRET99", "provider": "slack"})
	h.createWebhook(map[string]any{"url": echo.URL + "/fhir", "provider": "fhir", "active": false, "auth": map[string]any{"type": "smart_backend",
		"client_id": "c", "token_url": echo.URL + "/token", "private_key_pem": keyPEM, "key_id": "k"}})
	h.publish(seed(t))
	echo.waitFor(t, 6, 15*time.Second) // the three first attempts failed (500) and were retried
	eventually(t, 15*time.Second, "deliveries recorded", func() bool {
		var n int
		_ = h.db.Get(&n, `SELECT count(*) FROM deliveries WHERE status = 'succeeded'`)
		return n == 3
	})
	dump, err := exec.Command("pg_dump", "--no-owner", h.dbURL).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, dump)
	}
	if !strings.Contains(string(dump), "COPY public.deliveries") || !strings.Contains(string(dump), "COPY public.attempts") {
		t.Fatalf("dump lacks the tables:\n%.2000s", dump)
	}
	for _, s := range append(secrets, "John", "Doe", "1980-05-15", "Follow up", "Johnson", "Dr. Jane") {
		if strings.Contains(string(dump), s) {
			i := strings.Index(string(dump), s)
			t.Errorf("pg_dump shows %q: …%s…", s, string(dump)[max(0, i-200):min(len(dump), i+100)])
		}
	}
}
