package email

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/email/smtptest"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/notifytest"
	"github.com/taskhook/taskhook/dispatcher/internal/tlstest"
	"github.com/taskhook/taskhook/pkg/families/battery"
	"github.com/taskhook/taskhook/pkg/families/task"
)

const opts = `{"from":"Taskhook <alerts@clinic.example>","to":["oncall@clinic.example","Dr. Smith <smith@clinic.example>"]}`

func target(url string) *notify.Target {
	return &notify.Target{URL: url, Options: json.RawMessage(opts)}
}

// golden compares a message with testdata/golden/<name>.eml (go test -update rewrites them).
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".eml")
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v (go test -update creates it)", name, err)
	}
	if !bytes.Equal(want, body) {
		t.Errorf("%s differs from %s:\n%s", name, path, body)
	}
}

// parts parses a message: its header and its text and HTML parts, decoded.
func parts(t *testing.T, raw []byte) (*mail.Message, string, string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	var text, html string
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p) // multipart decodes quoted-printable
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		}
	}
	if text == "" || html == "" {
		t.Fatalf("text %q html %q", text, html)
	}
	return msg, text, html
}

// TestGolden renders every event type and shape as a mail and compares it with the golden file.
func TestGolden(t *testing.T) {
	p := New(notifytest.Catalog(t))
	for _, c := range notifytest.Cases() {
		req, err := p.Render(context.Background(), target("smtp://mail.clinic.example:587"), notifytest.Message(c))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		msg, _, _ := parts(t, req.Body)
		if subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil || !strings.HasPrefix(subj, "[Taskhook] ") {
			t.Errorf("%s: subject %q %v", c.Name, subj, err)
		}
		golden(t, c.Name, req.Body)
	}
	req, err := p.Render(context.Background(), target("smtp://mail.clinic.example:587"), notifytest.Digest(t, "task.created", []byte(task.Seed), 37, digest.ChatItems))
	if err != nil {
		t.Fatal(err)
	}
	_, text, _ := parts(t, req.Body)
	if !strings.Contains(text, "Digest: 37 events") || !strings.Contains(text, "task.created: 37") {
		t.Errorf("digest mail:\n%s", text)
	}
	golden(t, "digest", req.Body)
}

func TestMessage(t *testing.T) {
	p := New(notifytest.Catalog(t))
	m := notifytest.Published(t, []byte(`{"task_id":"T-1","event":"overdue","title":"Call <b>back</b> & check","status":"open",`+
		`"patient":{"id":"67890","first_name":"John","last_name":"Doe","birth_date":"1980-05-15"}}`))
	req, err := p.Render(context.Background(), target("smtps://mail.clinic.example"), m)
	if err != nil {
		t.Fatal(err)
	}
	msg, text, html := parts(t, req.Body)
	subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if subj != "[Taskhook] Task Overdue: Call <b>back</b> & check" {
		t.Errorf("subject %q", subj)
	}
	if got := msg.Header.Get("Message-ID"); got != "<"+m.DeliveryID+".taskhook@clinic.example>" {
		t.Errorf("Message-ID %q", got)
	}
	if !strings.Contains(text, "Title: Call <b>back</b> & check") || !strings.Contains(html, "Call &lt;b&gt;back&lt;/b&gt; &amp; check") {
		t.Errorf("text:\n%s\nhtml:\n%s", text, html)
	}
	if strings.Contains(html, "<b>back") {
		t.Error("HTML part not escaped")
	}
	again, _ := p.Render(context.Background(), target("smtps://mail.clinic.example"), m)
	if !bytes.Equal(req.Body, again.Body) {
		t.Error("a retry renders another mail")
	}
	red, _ := p.Render(context.Background(), &notify.Target{URL: "smtps://mail.clinic.example", Options: json.RawMessage(opts), Redact: true}, m)
	for _, leak := range []string{"John", "Doe", "1980"} {
		if bytes.Contains(red.Body, []byte(leak)) {
			t.Errorf("redacted mail carries %q", leak)
		}
	}
}

func TestCheck(t *testing.T) {
	p := New(notifytest.Catalog(t))
	for o, ok := range map[string]bool{
		opts: true, `{"from":"a@b.example","to":["c@d.example"]}`: true,
		``: false, `{}`: false, `{"from":"a@b.example","to":[]}`: false, `{"from":"nope","to":["c@d.example"]}`: false,
		`{"from":"a@b.example","to":["c@d.example\r\nBcc: x@y.example"]}`: false, `{"from":"a@b.example","to":["c@d.example"],"cc":[]}`: false,
		`{"from":"a@b.example","to":[` + strings.Repeat(`"c@d.example",`, 20) + `"c@d.example"]}`: false,
	} {
		if err := p.CheckOptions(json.RawMessage(o)); (err == nil) != ok {
			t.Errorf("options %s: %v", o, err)
		}
	}
	for u, want := range map[string]string{
		"smtp://mail.example.org": "https://mail.example.org:587", "smtp://mail.example.org:2525": "https://mail.example.org:2525",
		"smtps://mail.example.org": "https://mail.example.org:465", "https://mail.example.org": "", "smtp://u:p@mail.example.org": "",
		"smtp://mail.example.org/x": "", "smtp://": "", "smtp://mail.example.org:99999": "",
	} {
		got, err := p.GuardURL(u, false)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("GuardURL(%s) = %q, %v; want %q", u, got, err, want)
		}
	}
}

// send delivers a battery alert to addr with tr and classifies the answer.
func send(t *testing.T, url string, tr notify.Transport, secrets notify.Secrets) notify.Outcome {
	t.Helper()
	p := New(notifytest.Catalog(t))
	tg := target(url)
	tg.Secrets = secrets
	m := notifytest.Published(t, []byte(battery.Example))
	req, err := p.Render(context.Background(), tg, m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := p.Send(ctx, tr, tg, m, req)
	return p.Classify(&resp)
}

func TestSendSTARTTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "Mail CA")
	srv := smtptest.Start(t, smtptest.StartTLS, ca.Server(t).TLS, "taskhook", "s3cret")
	addr := srv.Addr
	out := send(t, "smtp://"+addr, transport(ca, false), notify.Secrets{Username: "taskhook", Password: "s3cret"})
	if out.Result != notify.Success {
		t.Fatalf("%v: %s", out.Result, out.Reason)
	}
	got := srv.Messages()
	if len(got) != 1 || !got[0].TLS || got[0].From != "alerts@clinic.example" || strings.Join(got[0].To, ",") != "oncall@clinic.example,smith@clinic.example" {
		t.Fatalf("received %+v", got)
	}
	msg, text, _ := parts(t, got[0].Data)
	subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if subj != "[Taskhook] Battery Critical: Medtronic Azure XT DR (SN RNB123456)" || !strings.Contains(text, "Battery Critical") {
		t.Fatalf("subject %q text %q", subj, text)
	}
	// A wrong password is the server's 535: permanent.
	if out := send(t, "smtp://"+addr, transport(ca, false), notify.Secrets{Username: "taskhook", Password: "wrong"}); out.Result != notify.Fail || !strings.Contains(out.Reason, "535") {
		t.Fatalf("wrong password: %v %q", out.Result, out.Reason)
	}
	// Without the login the server refuses MAIL (5xx, "authenticate first"): permanent.
	if out := send(t, "smtp://"+addr, transport(ca, false), notify.Secrets{}); out.Result != notify.Fail || !strings.Contains(out.Reason, "authenticate") {
		t.Fatalf("no login: %v %q", out.Result, out.Reason)
	}
	// Without the private CA the server's certificate does not verify.
	if out := send(t, "smtp://"+addr, notify.Transport{Dial: guard().DialContext}, notify.Secrets{Username: "taskhook", Password: "s3cret"}); out.Result != notify.Fail || !strings.Contains(out.Reason, "certificate") {
		t.Fatalf("unknown CA: %v %q", out.Result, out.Reason)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages", n)
	}
}

func TestSendImplicitTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "Mail CA")
	srv := smtptest.Start(t, smtptest.Implicit, ca.Server(t).TLS, "", "")
	if out := send(t, "smtps://"+srv.Addr, transport(ca, false), notify.Secrets{}); out.Result != notify.Success {
		t.Fatalf("%v: %s", out.Result, out.Reason)
	}
	if got := srv.Messages(); len(got) != 1 || !got[0].TLS {
		t.Fatalf("received %+v", got)
	}
	// smtps:// to a server that waits for STARTTLS: the TLS handshake fails, in words.
	plain := smtptest.Start(t, smtptest.StartTLS, ca.Server(t).TLS, "", "")
	if out := send(t, "smtps://"+plain.Addr, transport(ca, false), notify.Secrets{}); out.Result != notify.Fail || !strings.Contains(out.Reason, "TLS") {
		t.Fatalf("smtps to STARTTLS: %v %q", out.Result, out.Reason)
	}
}

func TestSendPlain(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Plain, tls.Certificate{}, "", "")
	if out := send(t, "smtp://"+srv.Addr, transport(nil, false), notify.Secrets{}); out.Result != notify.Fail || !strings.Contains(out.Reason, "STARTTLS") {
		t.Fatalf("no STARTTLS accepted: %v %q", out.Result, out.Reason)
	}
	if out := send(t, "smtp://"+srv.Addr, transport(nil, true), notify.Secrets{}); out.Result != notify.Success {
		t.Fatalf("TASKHOOK_ALLOW_HTTP: %v %q", out.Result, out.Reason)
	}
	if got := srv.Messages(); len(got) != 1 || got[0].TLS {
		t.Fatalf("received %+v", got)
	}
}

func TestSendReplies(t *testing.T) {
	ca := tlstest.NewCA(t, "Mail CA")
	srv := smtptest.Start(t, smtptest.StartTLS, ca.Server(t).TLS, "", "")
	srv.Refuse(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"})
	if out := send(t, "smtp://"+srv.Addr, transport(ca, false), notify.Secrets{}); out.Result != notify.Retry || !strings.Contains(out.Reason, "451") {
		t.Fatalf("451: %v %q", out.Result, out.Reason)
	}
	srv.Refuse(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"})
	if out := send(t, "smtp://"+srv.Addr, transport(ca, false), notify.Secrets{}); out.Result != notify.Fail || !strings.Contains(out.Reason, "550") {
		t.Fatalf("550: %v %q", out.Result, out.Reason)
	}
	// The SSRF guard still applies: without the allowance, loopback is refused before connecting.
	srv.Refuse(nil)
	sessions := srv.Sessions()
	tr := transport(ca, false)
	tr.Dial = deployedGuard
	if out := send(t, "smtp://"+srv.Addr, tr, notify.Secrets{}); out.Result != notify.Retry || !strings.Contains(out.Reason, "loopback") {
		t.Fatalf("guard: %v %q", out.Result, out.Reason)
	}
	if n := len(srv.Messages()); n != 0 || srv.Sessions() != sessions {
		t.Fatalf("%d messages, %d sessions", n, srv.Sessions()-sessions)
	}
}
