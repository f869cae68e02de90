// Package netguard is the dispatcher's SSRF guard. Webhook URLs are user input, and a webhook
// service that POSTs to whatever address a name resolves to is a proxy into the private
// network (cloud metadata at 169.254.169.254, the database, the admin API itself). Two checks
// close that door:
//
//   - at create time, CheckURL refuses non-https URLs (unless allowed for development), URLs
//     with credentials, and hosts that resolve to a refused address;
//   - at dial time, the HTTP client's DialContext resolves again, refuses the same addresses and
//     connects to the checked IP itself, so that a name re-pointed after the check (DNS
//     rebinding) cannot reach an internal address either.
//
// Refused: loopback, private, link-local, CGNAT, multicast, unspecified, broadcast, reserved,
// documentation and benchmarking ranges, NAT64 and 6to4 prefixes (they embed IPv4 addresses),
// IPv4 and IPv6, IPv4-mapped addresses judged as IPv4. Operators may allow prefixes (an
// on-premises FHIR server) with TASKHOOK_ALLOWED_NETWORKS. Redirects are never followed.
package netguard

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Resolver looks names up; *net.Resolver satisfies it, tests inject a table.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy is the URL and address policy of outbound deliveries.
type Policy struct {
	AllowHTTP bool           // http:// allowed (development and tests)
	Allowed   []netip.Prefix // refused ranges that are allowed anyway
	Resolver  Resolver       // nil: net.DefaultResolver
	// Proxy (TASKHOOK_EGRESS_PROXY), when set, is where every connection goes: the guard checks
	// the target's addresses first, then asks the proxy for a CONNECT tunnel to the checked
	// address (egress.go).
	Proxy *url.URL
}

// refused lists the ranges no webhook may reach, with what to call them in errors.
var refused = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified (this-network) address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT (shared) address space"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved (IETF protocol assignments)"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible IPv6 (deprecated; embeds an IPv4 address)"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64 (embeds an IPv4 address)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "NAT64 (embeds an IPv4 address)"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("2002::/16"), "6to4 (embeds an IPv4 address)"},
	{netip.MustParsePrefix("fc00::/7"), "private (unique local)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// ParseAllowed parses TASKHOOK_ALLOWED_NETWORKS: comma-separated CIDRs (a bare address means
// that address alone).
func ParseAllowed(csv string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(csv, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(item); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		return nil, fmt.Errorf("TASKHOOK_ALLOWED_NETWORKS: %q is not a CIDR", item)
	}
	return out, nil
}

// AddrAllowed returns nil when a may be dialled.
func (p *Policy) AddrAllowed(a netip.Addr) error {
	if !a.IsValid() {
		return errors.New("no address")
	}
	a = a.Unmap().WithZone("")
	for _, pr := range p.Allowed {
		if pr.Contains(a) {
			return nil
		}
	}
	for _, r := range refused {
		if r.prefix.Contains(a) {
			return fmt.Errorf("address %s is %s; webhook targets must be public (or inside TASKHOOK_ALLOWED_NETWORKS)", a, r.kind)
		}
	}
	return nil
}

// BlockedError is a dial refused by the policy.
type BlockedError struct {
	Host   string
	Addr   netip.Addr
	Reason error
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("refused to connect to %s: %v", e.Host, e.Reason)
}

func (p *Policy) resolver() Resolver {
	if p.Resolver != nil {
		return p.Resolver
	}
	return net.DefaultResolver
}

// lookup resolves host (an IP literal resolves to itself).
func (p *Policy) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{a}, nil
	}
	addrs, err := p.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("host %s does not resolve", host)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("host %s does not resolve to any address", host)
	}
	return addrs, nil
}

// CheckURL validates a webhook URL at create time and returns it parsed.
func (p *Policy) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("is not a valid URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowHTTP:
	case u.Scheme == "http":
		return nil, errors.New("must use https (http is allowed only with TASKHOOK_ALLOW_HTTP, for development)")
	case u.Scheme == "":
		return nil, errors.New("must be an absolute https URL")
	default:
		return nil, fmt.Errorf("scheme %q is not supported; use https", u.Scheme)
	}
	if u.User != nil {
		return nil, errors.New("must not carry credentials; put them in auth, not in the URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("has no host")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, errors.New("must not have a fragment (#…)")
	}
	if ps := u.Port(); ps != "" {
		if n, err := strconv.Atoi(ps); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %q is not 1 to 65535", ps)
		}
	}
	addrs, err := p.lookup(ctx, u.Hostname())
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if err := p.AddrAllowed(a); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// DialContext resolves addr's host, keeps the allowed addresses and connects to one of them.
func (p *Policy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	addrs, err := p.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	var lastErr error
	var blocked *BlockedError
	for _, a := range addrs {
		if err := p.AddrAllowed(a); err != nil {
			if blocked == nil {
				blocked = &BlockedError{Host: host, Addr: a, Reason: err}
			}
			continue
		}
		var c net.Conn
		if p.Proxy != nil {
			c, err = p.dialProxy(ctx, a, port)
		} else {
			c, err = d.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		}
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, blocked
}

// Transport is an HTTP transport that dials through the guard. Its Proxy is nil on purpose: an
// environment proxy would connect on our behalf and bypass the check (TASKHOOK_EGRESS_PROXY
// is used by DialContext instead, after the check). idle is how many
// keep-alive connections it keeps to one host (256 when not positive): many webhooks share one
// host (hooks.slack.com), and a pool smaller than the attempts in flight to it would close a
// connection after nearly every request and dial a new one. In all it keeps at least 1024, so
// that webhooks on many different hosts stay warm between bursts.
func (p *Policy) Transport(idle int) *http.Transport {
	if idle <= 0 {
		idle = 256
	}
	return &http.Transport{
		Proxy:               nil,
		DialContext:         p.DialContext,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConns:        max(idle, 1024),
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// Client is an HTTP client through the guard that never follows redirects (a 3xx comes back
// to the caller as is). idle sizes its connection pool (see Transport): the most attempts in
// flight at once.
func (p *Policy) Client(timeout time.Duration, idle int) *http.Client {
	return &http.Client{
		Transport:     p.Transport(idle),
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
