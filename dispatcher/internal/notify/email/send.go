package email

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
)

// Errors of a session that never got an SMTP reply to classify.
var (
	// ErrNoSTARTTLS: an smtp:// server that does not offer STARTTLS (allowed only with
	// TASKHOOK_ALLOW_HTTP).
	ErrNoSTARTTLS = errors.New("the SMTP server does not offer STARTTLS; use smtps:// or a server that does")
	// ErrNoAuth: a login is configured and the server offers no AUTH.
	ErrNoAuth = errors.New("the SMTP server does not offer AUTH, but the webhook has an smtp login")
	// ErrNoDialer: the engine gave no way out (a wiring error).
	ErrNoDialer = errors.New("no dialer for SMTP")
)

// heloName is the name the client gives in EHLO.
const heloName = "taskhook.invalid"

// Send implements notify.Sender: one SMTP session (connect through tr.Dial, TLS, EHLO, AUTH,
// MAIL, RCPT for each recipient, DATA, QUIT) within ctx. A reply that refuses becomes the
// response's status code (4xx, 5xx) with the reply's text as its body; no reply at all is Err.
func (p *Provider) Send(ctx context.Context, tr notify.Transport, t *notify.Target, _ *notify.Message, req *notify.Request) notify.Response {
	u, err := parseURL(req.URL)
	if err != nil {
		return notify.Response{Err: err}
	}
	o, err := parseOptions(t.Options)
	if err != nil {
		return notify.Response{Err: err}
	}
	if tr.Dial == nil {
		return notify.Response{Err: ErrNoDialer}
	}
	conn, err := tr.Dial(ctx, "tcp", u.Host)
	if err != nil {
		return notify.Response{Err: err}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) }) // cancellation ends a blocked read
	defer stop()
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if tr.TLS != nil {
		tlsCfg = tr.TLS.Clone()
	}
	tlsCfg.ServerName = u.Hostname()
	if u.Scheme == "smtps" {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return notify.Response{Err: err}
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, u.Hostname())
	if err != nil {
		return reply(err, tr.Excerpt)
	}
	defer c.Close()
	if err := c.Hello(heloName); err != nil {
		return reply(err, tr.Excerpt)
	}
	if u.Scheme == "smtp" {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsCfg); err != nil {
				return reply(err, tr.Excerpt)
			}
		} else if !tr.AllowPlain {
			return notify.Response{Err: ErrNoSTARTTLS}
		}
	}
	if s := t.Secrets; s.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return notify.Response{Err: ErrNoAuth}
		}
		// PlainAuth itself refuses to send the password unencrypted except to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, u.Hostname())); err != nil {
			return reply(err, tr.Excerpt)
		}
	}
	from, _ := address(o.From)
	if err := c.Mail(from.Address); err != nil {
		return reply(err, tr.Excerpt)
	}
	for _, a := range o.To {
		to, _ := address(a)
		if err := c.Rcpt(to.Address); err != nil {
			return reply(err, tr.Excerpt)
		}
	}
	w, err := c.Data()
	if err != nil {
		return reply(err, tr.Excerpt)
	}
	if _, err := w.Write(req.Body); err != nil {
		return reply(err, tr.Excerpt)
	}
	if err := w.Close(); err != nil { // the server's verdict on the message
		return reply(err, tr.Excerpt)
	}
	_ = c.Quit()
	return notify.Response{StatusCode: 250}
}

// reply turns a session error into a response: an SMTP reply's code and text, else Err.
func reply(err error, excerpt int) notify.Response {
	var te *textproto.Error
	if errors.As(err, &te) {
		msg := te.Msg
		if excerpt > 0 && len(msg) > excerpt {
			msg = msg[:excerpt]
		}
		return notify.Response{StatusCode: te.Code, Body: []byte(msg)}
	}
	return notify.Response{Err: err}
}

// Classify implements notify.Provider: 2xx success, 4xx (a transient refusal) retried, 5xx
// (permanent) failed; no reply is retried like any transport error, except a configuration the
// server cannot meet (no STARTTLS, no AUTH) and a TLS certificate that does not verify, which
// fail at once with the reason in words.
func (*Provider) Classify(r *notify.Response) notify.Outcome {
	if r.Err != nil {
		var cv *tls.CertificateVerificationError
		var he tls.RecordHeaderError
		switch {
		case errors.Is(r.Err, ErrNoSTARTTLS), errors.Is(r.Err, ErrNoAuth), errors.Is(r.Err, ErrNoDialer):
			return notify.Outcome{Result: notify.Fail, Reason: "smtp: " + r.Err.Error()}
		case errors.As(r.Err, &cv):
			return notify.Outcome{Result: notify.Fail, Reason: "smtp: the server's TLS certificate does not verify: " + cv.Err.Error()}
		case errors.As(r.Err, &he):
			return notify.Outcome{Result: notify.Fail, Reason: "smtp: the server does not speak TLS on this port (smtps:// is implicit TLS, usually port 465)"}
		}
		var ne net.Error
		if errors.As(r.Err, &ne) && ne.Timeout() {
			return notify.Outcome{Result: notify.Retry, Reason: "smtp: timeout: no answer within the attempt timeout"}
		}
		return notify.Classify(r)
	}
	code := strconv.Itoa(r.StatusCode)
	switch {
	case r.StatusCode >= 200 && r.StatusCode < 300:
		return notify.Outcome{Result: notify.Success}
	case r.StatusCode >= 400 && r.StatusCode < 500:
		return notify.Outcome{Result: notify.Retry, Reason: "smtp: " + code + " (temporary): " + firstLine(r.Body)}
	}
	return notify.Outcome{Result: notify.Fail, Reason: "smtp: " + code + " (permanent): " + firstLine(r.Body)}
}

// firstLine is the reply's first line, short: SMTP replies are the server's words, not content
// of the receiver (no patient data).
func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 160 {
		s = s[:160]
	}
	return strings.TrimSpace(s)
}
