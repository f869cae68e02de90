package email

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"

	"github.com/taskhook/taskhook/dispatcher/internal/netguard"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/tlstest"
)

// guard is the real SSRF guard, with loopback allowed (the test server's address) as
// TASKHOOK_ALLOWED_NETWORKS would.
func guard() *netguard.Policy {
	return &netguard.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
}

func transport(ca *tlstest.CA, allowPlain bool) notify.Transport {
	tr := notify.Transport{Dial: guard().DialContext, AllowPlain: allowPlain, Excerpt: 512}
	if ca != nil {
		tr.TLS = &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	}
	return tr
}

// deployedGuard is the guard as deployed, with no allowed networks.
func deployedGuard(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&netguard.Policy{}).DialContext(ctx, network, addr)
}
