package notify

import (
	"context"
	"crypto/tls"
	"net"
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
