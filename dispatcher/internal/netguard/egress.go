package netguard

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

// ParseProxy parses TASKHOOK_EGRESS_PROXY: empty for none, else http://host:port (optionally
// with user:password for the proxy's Basic authentication).
func ParseProxy(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Hostname() == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("TASKHOOK_EGRESS_PROXY: %q must be http://host:port", raw)
	}
	return u, nil
}

// ErrProxy is a proxy that refused or failed to open a tunnel.
var ErrProxy = errors.New("egress proxy")

// dialProxy opens a tunnel through p.Proxy to the checked address a:port with CONNECT (for
// every target, https or not: the proxy then only relays bytes, and it connects to the address
// the guard judged, never re-resolving the name).
func (p *Policy) dialProxy(ctx context.Context, a netip.Addr, port string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", p.Proxy.Host)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrProxy, p.Proxy.Host, err)
	}
	target := net.JoinHostPort(a.Unmap().String(), port)
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: target}, Host: target, Header: http.Header{}}
	if u := p.Proxy.User; u != nil {
		pw, _ := u.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)))
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w %s: %w", ErrProxy, p.Proxy.Host, err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%w %s: %w", ErrProxy, p.Proxy.Host, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("%w %s refused the tunnel to %s: %s", ErrProxy, p.Proxy.Host, target, resp.Status)
	}
	_ = c.SetDeadline(time.Time{})
	if br.Buffered() > 0 { // the target spoke first (an SMTP greeting): keep what was read
		return &bufferedConn{Conn: c, r: br}, nil
	}
	return c, nil
}

// bufferedConn is a connection whose first bytes were read ahead into r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// ClientTLS is Client with a webhook's own TLS settings (a client certificate, a private CA),
// through the same guard and proxy; idle sizes its pool (see Transport).
func (p *Policy) ClientTLS(timeout time.Duration, idle int, cfg *tls.Config) *http.Client {
	c := p.Client(timeout, idle)
	tr := c.Transport.(*http.Transport)
	cfg = cfg.Clone()
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	tr.TLSClientConfig = cfg
	return c
}
