package app

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/taskhook/taskhook/dispatcher/internal/netguard/proxytest"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/email/smtptest"
	"github.com/taskhook/taskhook/dispatcher/internal/tlstest"
	"github.com/taskhook/taskhook/pkg/families/battery"
)

const pdKey = "0123456789abcdef0123456789ABCDEF"

// pagerDuty is a receiver that checks each event against PagerDuty's published description
// (the vendored request schema) and answers as PagerDuty does: 202 with a JSON status, or
// 400 for an event the description refuses.
type pagerDuty struct {
	*httptest.Server
	mu     sync.Mutex
	events []map[string]any
	status []int // scripted statuses for the first requests (then 202)
}

func newPagerDuty(t *testing.T, status ...int) *pagerDuty {
	f, err := os.Open("../notify/pagerduty/testdata/enqueue.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("enqueue.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("enqueue.json")
	if err != nil {
		t.Fatal(err)
	}
	pd := &pagerDuty{status: status}
	pd.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		pd.mu.Lock()
		n := len(pd.events)
		var ev map[string]any
		_ = json.Unmarshal(b, &ev)
		pd.events = append(pd.events, ev)
		pd.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err == nil {
			err = schema.Validate(doc)
		}
		if r.URL.Path != "/v2/enqueue" || err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"status":"invalid event","message":"Event object is invalid"}`)
			return
		}
		if n < len(pd.status) {
			w.WriteHeader(pd.status[n])
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"k"}`)
	}))
	t.Cleanup(pd.Close)
	return pd
}

func (pd *pagerDuty) got() []map[string]any {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	return append([]map[string]any(nil), pd.events...)
}

// TestPagerDuty: a battery.critical pages (critical), a task's alert is resolved when the task
// is completed, with the same dedup_key; the routing key is never shown; 429 is retried and
// 400 fails at once.
func TestPagerDuty(t *testing.T) {
	h := start(t)
	pd := newPagerDuty(t)
	r := h.do("POST", "/v1/webhooks", adminToken, map[string]any{"name": "on-call", "url": pd.URL + "/v2/enqueue", "provider": "pagerduty",
		"events": []string{"battery.*", "task.*"}, "auth": map[string]any{"type": "routing_key", "routing_key": pdKey}})
	if r.Status != 201 || strings.Contains(string(r.Body), pdKey) || !strings.Contains(string(r.Body), `"hint":"…CDEF"`) {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var wh webhookView
	r.decode(t, &wh)
	h.publish(battery.Example)
	eventually(t, 10*time.Second, "battery paged", func() bool { return len(pd.got()) == 1 })
	h.publish(`{"event_id":"e1","task_id":"T-1","event":"overdue","title":"Call back","status":"open"}`)
	eventually(t, 10*time.Second, "task paged", func() bool { return len(pd.got()) == 2 })
	h.publish(`{"event_id":"e2","task_id":"T-1","event":"updated","title":"Call back","status":"completed"}`)
	eventually(t, 10*time.Second, "task resolved", func() bool { return len(pd.got()) == 3 })
	ev := pd.got()
	payload := func(i int) map[string]any { p, _ := ev[i]["payload"].(map[string]any); return p }
	if ev[0]["event_action"] != "trigger" || payload(0)["severity"] != "critical" || ev[0]["dedup_key"] != "taskhook:device:D-991" || ev[0]["routing_key"] != pdKey {
		t.Fatalf("battery: %v", ev[0])
	}
	if ev[1]["event_action"] != "trigger" || payload(1)["severity"] != "critical" || ev[1]["dedup_key"] != "taskhook:task:T-1" {
		t.Fatalf("overdue: %v", ev[1])
	}
	if ev[2]["event_action"] != "resolve" || ev[2]["dedup_key"] != ev[1]["dedup_key"] {
		t.Fatalf("completed: %v", ev[2])
	}
	for _, d := range h.deliveries(wh.ID) {
		if d.Status != "succeeded" || d.Attempts != 1 || d.LastCode == nil || *d.LastCode != 202 {
			t.Fatalf("delivery %+v", d)
		}
	}
	if r := h.do("GET", "/v1/webhooks/"+wh.ID, adminToken, nil); strings.Contains(string(r.Body), pdKey) {
		t.Fatalf("routing key shown: %s", r.Body)
	}

	// 429 is retried; a 400 (an event the description refuses: here, a wrong path) is permanent.
	busy := newPagerDuty(t, http.StatusTooManyRequests)
	w2 := h.createWebhook(map[string]any{"url": busy.URL + "/v2/enqueue", "provider": "pagerduty", "events": []string{"battery.*"},
		"auth": map[string]any{"type": "routing_key", "routing_key": pdKey}})
	w3 := h.createWebhook(map[string]any{"url": pd.URL + "/v1/wrong", "provider": "pagerduty", "events": []string{"battery.*"},
		"auth": map[string]any{"type": "routing_key", "routing_key": pdKey}})
	h.publish(strings.Replace(battery.Example, `"D-991"`, `"D-992"`, 1))
	if d := h.waitDelivery(w2.ID, "succeeded", 10*time.Second); d.Attempts != 2 {
		t.Fatalf("429 then 202: %+v", d)
	}
	if d := h.waitDelivery(w3.ID, "failed", 10*time.Second); d.Attempts != 1 || !strings.Contains(d.LastError, "400") {
		t.Fatalf("400: %+v", d)
	}
	// A routing key of the wrong shape, or a provider that takes no routing key: 422.
	for _, bad := range []map[string]any{
		{"name": "x", "url": pd.URL + "/v2/enqueue", "provider": "pagerduty", "auth": map[string]any{"type": "routing_key", "routing_key": "short"}},
		{"name": "x", "url": pd.URL + "/v2/enqueue", "provider": "pagerduty"},
		{"name": "x", "url": pd.URL, "provider": "generic", "auth": map[string]any{"type": "routing_key", "routing_key": pdKey}},
	} {
		if r := h.do("POST", "/v1/webhooks", adminToken, bad); r.Status != 422 || !strings.Contains(string(r.Body), "/auth/") {
			t.Fatalf("%v: %d %s", bad, r.Status, r.Body)
		}
	}
}

// TestEmail: a mail server with STARTTLS and a private CA (the webhook's tls.ca_pem) and a
// login receives a multipart mail whose Message-ID is the delivery's; 4xx is retried.
func TestEmail(t *testing.T) {
	h := start(t)
	ca := tlstest.NewCA(t, "Clinic mail CA")
	srv := smtptest.Start(t, smtptest.StartTLS, ca.Server(t).TLS, "taskhook", "mail-s3cret")
	body := map[string]any{"name": "clinic inbox", "url": "smtp://" + srv.Addr, "provider": "email",
		"options": map[string]any{"from": "alerts@clinic.example", "to": []string{"oncall@clinic.example"}},
		"auth":    map[string]any{"type": "smtp", "username": "taskhook", "password": "mail-s3cret"},
		"tls":     map[string]any{"ca_pem": ca.PEM}}
	r := h.do("POST", "/v1/webhooks", adminToken, body)
	if r.Status != 201 || strings.Contains(string(r.Body), "mail-s3cret") {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var wh webhookView
	r.decode(t, &wh)
	srv.Refuse(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Greylisted, try again"})
	h.publish(seed(t))
	eventually(t, 10*time.Second, "first attempt refused", func() bool { d := h.deliveries(wh.ID); return len(d) == 1 && d[0].Attempts >= 1 })
	srv.Refuse(nil)
	d := h.waitDelivery(wh.ID, "succeeded", 10*time.Second)
	if d.Attempts < 2 {
		t.Fatalf("451 not retried: %+v", d)
	}
	got := srv.Messages()
	if len(got) != 1 || !got[0].TLS || got[0].To[0] != "oncall@clinic.example" {
		t.Fatalf("received %+v", got)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if subject != "[Taskhook] 📋 New Task Created: Follow up with patient" || msg.Header.Get("Message-ID") != "<"+d.ID+".taskhook@clinic.example>" ||
		!strings.HasPrefix(msg.Header.Get("Content-Type"), "multipart/alternative") {
		t.Fatalf("subject %q, Message-ID %q (delivery %s), type %q", subject, msg.Header.Get("Message-ID"), d.ID, msg.Header.Get("Content-Type"))
	}
	// Test before save: a server whose certificate the webhook does not trust, in words.
	delete(body, "tls")
	var res struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	h.do("POST", "/v1/webhooks/test", adminToken, body).decode(t, &res)
	if res.OK || !strings.Contains(res.Error, "certificate") {
		t.Fatalf("untrusted mail server: %+v", res)
	}
	for _, bad := range []map[string]any{
		{"name": "x", "url": "https://" + srv.Addr, "provider": "email", "options": body["options"]},
		{"name": "x", "url": "smtp://" + srv.Addr, "provider": "email", "options": map[string]any{"from": "alerts@clinic.example", "to": []string{}}},
	} {
		if r := h.do("POST", "/v1/webhooks", adminToken, bad); r.Status != 422 {
			t.Fatalf("%v: %d %s", bad, r.Status, r.Body)
		}
	}
}

// mtlsServer is an on-premises FHIR server behind mutual TLS: a server certificate from a
// private CA, and only clients with a certificate from clientCA get an answer.
func mtlsServer(t *testing.T, serverCA, clientCA *tlstest.CA) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var seen []string
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.TLS.PeerCertificates[0].Subject.CommonName)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"resourceType":"Task","id":"1"}`)
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{serverCA.Server(t, "fhir.hospital.test").TLS}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA.Pool}
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what the test provokes
	s.StartTLS()
	t.Cleanup(s.Close)
	return s, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), seen...) }
}

// TestMutualTLSThroughProxy: an on-premises FHIR server behind mutual TLS and a private CA,
// reached through the egress proxy, receives Tasks; the same server refuses a webhook without
// the client certificate (the test endpoint says so in words); bad certificates are refused
// at save time; mail and every other delivery leave through the proxy too, and the SSRF guard
// still refuses what a name re-points to.
func TestMutualTLSThroughProxy(t *testing.T) {
	proxy := proxytest.Start(t)
	h := start(t, "TASKHOOK_EGRESS_PROXY=http://"+proxy.Listener.Addr().String())
	serverCA, clientCA := tlstest.NewCA(t, "Hospital server CA"), tlstest.NewCA(t, "Hospital client CA")
	emr, seen := mtlsServer(t, serverCA, clientCA)
	client := clientCA.Client(t, "taskhook-clinic-east", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	h.dns.set("fhir.hospital.test", func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("127.0.0.1")} })
	url := "https://fhir.hospital.test" + strings.TrimPrefix(emr.Listener.Addr().String(), "127.0.0.1") + "/fhir/R4"
	tlsObj := map[string]any{"client_certificate_pem": client.CertPEM, "client_key_pem": client.KeyPEM, "ca_pem": serverCA.PEM}
	body := map[string]any{"name": "EMR on premises", "url": url, "provider": "fhir", "options": map[string]any{"identifier_system": "urn:oid:1.2.3.4"}, "tls": tlsObj}
	r := h.do("POST", "/v1/webhooks", adminToken, body)
	if r.Status != 201 || strings.Contains(string(r.Body), "PRIVATE KEY") || !strings.Contains(string(r.Body), `"client_key":"sealed"`) ||
		!strings.Contains(string(r.Body), "CN=taskhook-clinic-east") {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var wh webhookView
	r.decode(t, &wh)
	h.publish(seed(t))
	h.waitDelivery(wh.ID, "succeeded", 10*time.Second)
	if s := seen(); len(s) != 1 || s[0] != "POST /fhir/R4/Task taskhook-clinic-east" {
		t.Fatalf("the EMR saw %v", s)
	}
	emrAddr := emr.Listener.Addr().String()
	if tg := proxy.Targets(); len(tg) == 0 || tg[len(tg)-1] != emrAddr {
		t.Fatalf("proxy tunnels %v, want one to %s", tg, emrAddr)
	}
	// PATCH repeating the certificate without the key keeps the sealed key.
	if r := h.do("PATCH", "/v1/webhooks/"+wh.ID, adminToken, map[string]any{"tls": map[string]any{"client_certificate_pem": client.CertPEM, "ca_pem": serverCA.PEM}}); r.Status != 200 ||
		!strings.Contains(string(r.Body), `"client_key":"sealed"`) {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	if r := h.do("POST", "/v1/webhooks/"+wh.ID+"/test?event=task.created", adminToken, nil); !strings.Contains(string(r.Body), `"ok":true`) {
		t.Fatalf("saved test after patch: %s", r.Body)
	}

	// Without the client certificate: the handshake fails, said in words.
	var res struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	body["tls"] = map[string]any{"ca_pem": serverCA.PEM}
	h.do("POST", "/v1/webhooks/test?event=task.created", adminToken, body).decode(t, &res)
	if res.OK || !strings.Contains(res.Error, "TLS handshake failed") || !strings.Contains(res.Error, "client certificate") {
		t.Fatalf("without a client certificate: %+v", res)
	}
	// Without the private CA: the server's certificate does not verify.
	body["tls"] = map[string]any{"client_certificate_pem": client.CertPEM, "client_key_pem": client.KeyPEM}
	h.do("POST", "/v1/webhooks/test?event=task.created", adminToken, body).decode(t, &res)
	if res.OK || !strings.Contains(res.Error, "tls.ca_pem") {
		t.Fatalf("without the CA: %+v", res)
	}

	// Save-time checks: 422 with a pointer.
	expired := clientCA.Client(t, "old", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	other := clientCA.Client(t, "other", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	for name, c := range map[string]struct {
		tls  any
		path string
	}{
		"expired":      {map[string]any{"client_certificate_pem": expired.CertPEM, "client_key_pem": expired.KeyPEM}, "/tls/client_certificate_pem"},
		"wrong key":    {map[string]any{"client_certificate_pem": client.CertPEM, "client_key_pem": other.KeyPEM}, "/tls/client_key_pem"},
		"no key":       {map[string]any{"client_certificate_pem": client.CertPEM}, "/tls/client_key_pem"},
		"not a cert":   {map[string]any{"ca_pem": "hello"}, "/tls/ca_pem"},
		"empty":        {map[string]any{}, "/tls"},
		"unknown key":  {map[string]any{"ca": serverCA.PEM}, "/tls/ca"},
		"not a object": {"pem", "/tls"},
	} {
		body["tls"] = c.tls
		r := h.do("POST", "/v1/webhooks", adminToken, body)
		var e struct {
			Details []struct{ Path string } `json:"details"`
		}
		_ = json.Unmarshal(r.Body, &e)
		if r.Status != 422 || len(e.Details) == 0 || e.Details[0].Path != c.path || strings.Contains(string(r.Body), "PRIVATE KEY") {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}

	// The SSRF guard still applies behind the proxy: a name re-pointed at the metadata service
	// after the check is refused at dial time, and the proxy is never asked for it.
	rcv := newReceiver(t)
	h.dns.set("rebind.test", func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("127.0.0.1")} })
	rw := h.createWebhook(map[string]any{"url": "http://rebind.test" + strings.TrimPrefix(rcv.Listener.Addr().String(), "127.0.0.1") + "/hook", "max_attempts": 1})
	h.dns.set("rebind.test", func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("169.254.169.254")} })
	before := len(proxy.Targets())
	h.publish(taskEvent("rb", "created", ""))
	if d := h.waitDelivery(rw.ID, "failed", 10*time.Second); !strings.Contains(d.LastError, "link-local") {
		t.Fatalf("rebound: %+v", d)
	}
	for _, tg := range proxy.Targets()[before:] {
		if strings.HasPrefix(tg, "169.254.") {
			t.Fatalf("the proxy was asked for %s", tg)
		}
	}

	// Mail leaves through the proxy too.
	ca := tlstest.NewCA(t, "mail CA")
	srv := smtptest.Start(t, smtptest.StartTLS, ca.Server(t).TLS, "", "")
	mw := h.createWebhook(map[string]any{"url": "smtp://" + srv.Addr, "provider": "email", "events": []string{"battery.*"},
		"options": map[string]any{"from": "alerts@clinic.example", "to": []string{"oncall@clinic.example"}}, "tls": map[string]any{"ca_pem": ca.PEM}})
	h.publish(battery.Example)
	h.waitDelivery(mw.ID, "succeeded", 10*time.Second)
	if tg := proxy.Targets(); tg[len(tg)-1] != srv.Addr {
		t.Fatalf("mail not through the proxy: %v", tg)
	}
}
