package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
)

// Secrets are the credential fields of a webhook that its provider uses itself, in the clear
// (they never leave the process except sealed): PagerDuty's routing key goes in the body, an
// SMTP login in the mail session. Empty for providers that leave authentication to the engine.
type Secrets struct {
	RoutingKey string
	Username   string
	Password   string
}

// Dialer opens a connection to addr ("host:port") the way deliveries leave the dispatcher:
// through the SSRF guard, and through the egress proxy when one is configured.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// Transport is what a Sender gets from the engine to reach its receiver.
type Transport struct {
	Dial       Dialer      // nil: the sender cannot connect (a configuration error)
	TLS        *tls.Config // the webhook's own TLS settings (client certificate, private CA); nil: defaults
	AllowPlain bool        // TASKHOOK_ALLOW_HTTP: a connection may stay unencrypted (development)
	Excerpt    int         // the most bytes of the receiver's answer to keep
}

// Ordered is implemented by providers whose receivers need a subject's events one at a time, in
// stream order, by default (FHIR: a Task updated before it is created, or by an older update,
// ends in the wrong state): DefaultOrdering is "subject". Webhooks of other providers default to
// "none".
type Ordered interface {
	DefaultOrdering() string
}

// Sender is implemented by providers that deliver otherwise than by an HTTP request (email over
// SMTP): the engine renders as usual, then hands the request to Send instead of posting it, and
// classifies the Response Send returns with the provider's Classify. Providers without it are
// posted over HTTP.
type Sender interface {
	Send(ctx context.Context, tr Transport, t *Target, m *Message, req *Request) Response
}

// URLGuard is implemented by providers whose URLs are not https (smtp://, smtps://): GuardURL
// checks the URL's own form and returns an https URL with the same host and port, which the
// SSRF policy then judges as it judges every webhook URL. Providers without it take https URLs.
type URLGuard interface {
	GuardURL(raw string, allowPlain bool) (string, error)
}

// tlsReason names a TLS handshake failure in words, with what to change: the receiver's
// certificate does not verify (a private CA: tls.ca_pem), it asked for a client certificate or
// refused the one sent (tls.client_certificate_pem), or it does not speak TLS at all.
func tlsReason(err error) (string, bool) {
	var cv *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	msg := err.Error()
	switch {
	case errors.As(err, &unknown):
		return "TLS handshake failed: the receiver's certificate is signed by an authority Taskhook does not trust; if it is a private CA, set tls.ca_pem", true
	case errors.As(err, &host):
		return "TLS handshake failed: the receiver's certificate is not valid for this host name (" + host.Host + ")", true
	case errors.As(err, &inv):
		return "TLS handshake failed: the receiver's certificate is invalid (expired, not yet valid, or not for servers)", true
	case errors.As(err, &cv):
		return "TLS handshake failed: the receiver's certificate does not verify", true
	case errors.As(err, &rh):
		return "TLS handshake failed: the receiver does not speak TLS on this port", true
	case strings.Contains(msg, "remote error: tls: certificate required"):
		return "TLS handshake failed: the receiver requires a client certificate; set tls.client_certificate_pem and tls.client_key_pem", true
	case strings.Contains(msg, "remote error: tls: bad certificate"), strings.Contains(msg, "remote error: tls: unknown certificate authority"),
		strings.Contains(msg, "remote error: tls: certificate unknown"), strings.Contains(msg, "remote error: tls: expired certificate"):
		return "TLS handshake failed: the receiver refused Taskhook's client certificate (" + msg[strings.Index(msg, "remote error: tls: ")+len("remote error: tls: "):] + "); check tls.client_certificate_pem against the CA it trusts", true
	case strings.Contains(msg, "remote error: tls: "):
		return "TLS handshake failed: the receiver ended it (" + msg[strings.Index(msg, "remote error: tls: ")+len("remote error: tls: "):] + ")", true
	}
	return "", false
}
