// Package email is the provider for email over SMTP: one message per event (or per digest),
// with a plain-text and an HTML part rendered from the same summary as chat messages, the
// subject "[Taskhook] <header>: <title>", and a Message-ID derived from the delivery id so that
// a retry is the same mail. The URL is smtp://host:port (STARTTLS required unless
// TASKHOOK_ALLOW_HTTP) or smtps://host:port (implicit TLS); options name the sender and the
// recipients; the optional SMTP login is the webhook's sealed credential (auth type smtp).
// SMTP 4xx replies are retried, 5xx replies fail the delivery.
package email

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/chat"
	"github.com/taskhook/taskhook/pkg/event"
)

// Limits.
const (
	MaxRecipients = 20
	MaxSubject    = 200 // characters, before encoding
)

// Provider renders and sends mail.
type Provider struct{ catalog *event.Catalog }

// New returns the email provider for the events of cat.
func New(cat *event.Catalog) *Provider { return &Provider{catalog: cat} }

// Name implements notify.Provider.
func (*Provider) Name() string { return "email" }

// Families implements notify.FamilyRenderer: every family with a summary.
func (p *Provider) Families() []string { return chat.Families(p.catalog) }

// DigestPolicy implements notify.DigestPolicy: a digest is one mail with the counts and the
// first events, as in a chat channel.
func (*Provider) DigestPolicy() (preview int, refuse string) { return chat.DigestPolicy() }

// Form implements notify.Described.
func (*Provider) Form() notify.Form {
	return notify.Form{Label: "Email (SMTP)", URLLabel: "Mail server: smtp://host:587 (STARTTLS) or smtps://host:465", AuthTypes: []string{credential.None, credential.SMTP},
		Options: []notify.Option{{Name: "from", Label: "From", Placeholder: "Taskhook <alerts@clinic.example>"},
			{Name: "to", Label: "To (addresses, comma-separated)", Placeholder: "oncall@clinic.example"}}}
}

// AuthTypes implements the subscription's own-credential check: no login, or an SMTP login.
func (*Provider) AuthTypes() []string { return []string{credential.None, credential.SMTP} }

// Options are an email webhook's options.
type Options struct {
	From string    `json:"from"`
	To   Addresses `json:"to"`
}

// Addresses are the recipients: a JSON array of addresses, or one string of comma-separated
// addresses (as the dashboard's form sends them).
type Addresses []string

// UnmarshalJSON implements json.Unmarshaler.
func (a *Addresses) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*a = nil
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				*a = append(*a, part)
			}
		}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*a = list
	return nil
}

// CheckOptions implements notify.Provider.
func (*Provider) CheckOptions(raw json.RawMessage) error {
	_, err := parseOptions(raw)
	return err
}

func parseOptions(raw json.RawMessage) (Options, error) {
	var o Options
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if len(bytes.TrimSpace(raw)) == 0 || dec.Decode(&o) != nil {
		return o, errors.New(`email options are {"from": "<sender address>", "to": ["<recipient>", …]} (1 to 20 recipients)`)
	}
	if _, err := address(o.From); err != nil {
		return o, fmt.Errorf("from: %v", err)
	}
	if len(o.To) == 0 || len(o.To) > MaxRecipients {
		return o, fmt.Errorf("to must list 1 to %d addresses, got %d", MaxRecipients, len(o.To))
	}
	for i, a := range o.To {
		if _, err := address(a); err != nil {
			return o, fmt.Errorf("to[%d]: %v", i, err)
		}
	}
	return o, nil
}

// address parses one address (a bare address or "Name <address>").
func address(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n\x00") {
		return nil, errors.New("must not contain line breaks")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || !strings.Contains(a.Address, "@") {
		return nil, fmt.Errorf("%q is not an email address", s)
	}
	return a, nil
}

// GuardURL implements notify.URLGuard: smtp://host[:port] (default 587) or
// smtps://host[:port] (default 465), nothing else in the URL; the SSRF policy judges the host
// as https://host:port.
func (*Provider) GuardURL(raw string, _ bool) (string, error) {
	u, err := parseURL(raw)
	if err != nil {
		return "", err
	}
	return "https://" + u.Host, nil
}

// parseURL checks an SMTP URL and fills in the default port.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("is not a valid URL")
	}
	port := ""
	switch u.Scheme {
	case "smtp":
		port = "587"
	case "smtps":
		port = "465"
	default:
		return nil, errors.New("must be smtp://host:port (STARTTLS) or smtps://host:port (implicit TLS)")
	}
	switch {
	case u.User != nil:
		return nil, errors.New("must not carry credentials; put them in auth (type smtp)")
	case u.Hostname() == "":
		return nil, errors.New("has no host")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, errors.New("must be only smtp://host:port or smtps://host:port (no path or query)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %q is not 1 to 65535", p)
		}
		port = p
	}
	u.Host = net.JoinHostPort(u.Hostname(), port)
	u.Path = ""
	return u, nil
}

// Subject is a mail's subject: "[Taskhook] <header>: <title>", or "[Taskhook] <header>" when
// the event has no title (the first of the facts Title, Report, Device).
func Subject(s event.Summary) string {
	subject := "[Taskhook] " + s.Title
	for _, f := range s.Facts {
		if f.Label == "Title" || f.Label == "Report" || f.Label == "Device" {
			subject += ": " + f.Value
			break
		}
	}
	return chat.Truncate(strings.Join(strings.Fields(subject), " "), MaxSubject)
}

var htmlPart = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family: sans-serif">
<h2>{{.Title}}</h2>
{{- if .Facts}}
<table>
{{- range .Facts}}
<tr><th align="left" valign="top">{{.Label}}</th><td>{{.Value}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- if .Link}}
<p><a href="{{.Link.URL}}">{{.Link.Label}}</a></p>
{{- end}}
<p style="color: #666; font-size: small">Sent by Taskhook.</p>
</body></html>
`))

// Build is the whole message (headers and both parts) of a summary. id is the delivery id: the
// Message-ID and the MIME boundary derive from it, so that every attempt sends the same mail.
func Build(s event.Summary, o Options, id string, date time.Time) ([]byte, error) {
	from, err := address(o.From)
	if err != nil {
		return nil, err
	}
	to := make([]string, len(o.To))
	for i, a := range o.To {
		addr, err := address(a)
		if err != nil {
			return nil, err
		}
		to[i] = addr.String()
	}
	domain := from.Address[strings.LastIndex(from.Address, "@")+1:]
	boundary := "taskhook-" + strings.ReplaceAll(id, "-", "")
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", from.String())
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", Subject(s)))
	header("Date", date.UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+id+".taskhook@"+domain+">")
	header("MIME-Version", "1.0")
	header("Auto-Submitted", "auto-generated")
	header("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	var text strings.Builder
	for _, l := range s.Lines() {
		text.WriteString(l + "\n")
	}
	var html bytes.Buffer
	if err := htmlPart.Execute(&html, s); err != nil {
		return nil, err
	}
	for _, part := range []struct{ ctype, body string }{{"text/plain", text.String()}, {"text/html", html.String()}} {
		b.WriteString("--" + boundary + "\r\n")
		header("Content-Type", part.ctype+"; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		qp := quotedprintable.NewWriter(&b)
		if _, err := qp.Write([]byte(strings.ReplaceAll(part.body, "\n", "\r\n"))); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
		b.WriteString("\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

// Render implements notify.Provider: the message, as the body of a request the engine hands to
// Send.
func (p *Provider) Render(_ context.Context, t *notify.Target, m *notify.Message) (*notify.Request, error) {
	o, err := parseOptions(t.Options)
	if err != nil {
		return nil, err
	}
	s, err := chat.Summarize(p.catalog, t, m)
	if err != nil {
		return nil, err
	}
	body, err := Build(s, o, m.DeliveryID, m.Timestamp)
	if err != nil {
		return nil, err
	}
	return &notify.Request{URL: t.URL, ContentType: "message/rfc822", Body: body}, nil
}
