package netguard

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/netguard/proxytest"
	"github.com/taskhook/taskhook/dispatcher/internal/tlstest"
)

func TestParseProxy(t *testing.T) {
	for raw, ok := range map[string]bool{"": true, "http://proxy.internal:3128": true, "http://u:p@10.0.0.5:8080": true,
		"https://proxy:3128": false, "http://proxy": false, "proxy:3128": false, "http://proxy:3128/path": false, "socks5://p:1080": false} {
		if _, err := ParseProxy(raw); (err == nil) != ok {
			t.Errorf("%q: %v", raw, err)
		}
	}
}

// TestProxy sends through a real CONNECT proxy: plain and TLS targets are tunnelled to the
// address the guard checked, a refused target never reaches the proxy, and the proxy's own
// address (loopback here) is not judged by the guard.
func TestProxy(t *testing.T) {
	proxy := proxytest.Start(t)
	proxy.Auth = "egress:pw"
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") }))
	defer target.Close()
	ca := tlstest.NewCA(t, "Receiver CA")
	secure := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secure") }))
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t).TLS}}
	secure.StartTLS()
	defer secure.Close()

	pu, _ := url.Parse("http://egress:pw@" + proxy.Listener.Addr().String())
	dns := &table{calls: map[string]int{}, names: map[string]func(int) []netip.Addr{
		"receiver.test": func(int) []netip.Addr { return []netip.Addr{netip.MustParseAddr("127.0.0.1")} },
		"metadata.test": func(int) []netip.Addr { return []netip.Addr{netip.MustParseAddr("169.254.169.254")} }}}
	p := &Policy{AllowHTTP: true, Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Resolver: dns, Proxy: pu}
	get := func(c *http.Client, u string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		res, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b), nil
	}
	port := func(s *httptest.Server) string { return strings.TrimPrefix(s.Listener.Addr().String(), "127.0.0.1") }
	if body, err := get(p.Client(5*time.Second, 4), "http://receiver.test"+port(target)+"/x"); err != nil || body != "plain" {
		t.Fatalf("plain through the proxy: %q %v", body, err)
	}
	if body, err := get(p.ClientTLS(5*time.Second, 4, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}), "https://receiver.test"+port(secure)+"/x"); err != nil || body != "secure" {
		t.Fatalf("TLS through the proxy: %q %v", body, err)
	}
	if _, err := get(p.Client(5*time.Second, 4), "http://metadata.test/latest"); err == nil || !strings.Contains(err.Error(), "link-local") {
		t.Fatalf("metadata through the proxy: %v", err)
	}
	got := proxy.Targets()
	if len(got) != 2 || got[0] != "127.0.0.1"+port(target) || got[1] != "127.0.0.1"+port(secure) {
		t.Fatalf("the proxy tunnelled to %v", got)
	}
	// A proxy that refuses (wrong credentials) is an error naming the proxy, not the target's.
	bad, _ := url.Parse("http://egress:wrong@" + proxy.Listener.Addr().String())
	p.Proxy = bad
	if _, err := get(p.Client(5*time.Second, 4), "http://receiver.test"+port(target)+"/x"); err == nil || !strings.Contains(err.Error(), "egress proxy") || !strings.Contains(err.Error(), "407") {
		t.Fatalf("refused by the proxy: %v", err)
	}
}
