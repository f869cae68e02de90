package netguard

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

type table struct {
	mu    sync.Mutex
	calls map[string]int
	names map[string]func(n int) []netip.Addr
}

func (t *table) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fn := t.names[host]
	if fn == nil {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	t.calls[host]++
	return fn(t.calls[host]), nil
}

func fixed(addrs ...string) func(int) []netip.Addr {
	return func(int) []netip.Addr {
		var out []netip.Addr
		for _, a := range addrs {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
}

func resolver() *table {
	return &table{calls: map[string]int{}, names: map[string]func(int) []netip.Addr{
		"metadata.test": fixed("169.254.169.254"),
		"loop6.test":    fixed("::1"),
		"mixed.test":    fixed("8.8.8.8", "10.0.0.1"),
		"public.test":   fixed("93.184.216.34"),
		"empty.test":    fixed(),
	}}
}

func TestAddrAllowed(t *testing.T) {
	p := &Policy{}
	refusedAddrs := []string{"127.0.0.1", "127.255.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "100.64.0.1", "100.127.255.255", "224.0.0.1", "239.255.255.250", "0.0.0.0", "0.1.2.3",
		"255.255.255.255", "240.0.0.1", "192.0.0.8", "192.0.2.1", "198.18.0.1", "198.51.100.7", "203.0.113.9",
		"::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "fec0::1", "ff02::1", "2001:db8::1", "64:ff9b::a9fe:a9fe",
		"2002:a9fe:a9fe::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",
		"::127.0.0.1", "::169.254.169.254", "::8.8.8.8", "::a00:1"}
	for _, s := range refusedAddrs {
		if err := p.AddrAllowed(netip.MustParseAddr(s)); err == nil {
			t.Errorf("%s allowed", s)
		} else if !strings.Contains(err.Error(), "TASKHOOK_ALLOWED_NETWORKS") {
			t.Errorf("%s: message %q does not say how to allow it", s, err)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "93.184.216.34", "100.128.0.1", "172.32.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"} {
		if err := p.AddrAllowed(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s refused: %v", s, err)
		}
	}
	if err := p.AddrAllowed(netip.Addr{}); err == nil {
		t.Error("zero address allowed")
	}
	allowed, err := ParseAllowed(" 127.0.0.0/8, 10.1.0.0/16 ,,::1")
	if err != nil {
		t.Fatal(err)
	}
	p.Allowed = allowed
	for s, want := range map[string]bool{"127.0.0.1": true, "::ffff:127.0.0.1": true, "10.1.9.9": true, "10.2.0.1": false, "::1": true, "169.254.169.254": false} {
		if got := p.AddrAllowed(netip.MustParseAddr(s)) == nil; got != want {
			t.Errorf("with allowed networks, %s allowed=%v", s, got)
		}
	}
	if _, err := ParseAllowed("10.0.0.0/33"); err == nil || !strings.Contains(err.Error(), "10.0.0.0/33") {
		t.Errorf("bad CIDR: %v", err)
	}
}

func TestCheckURL(t *testing.T) {
	ctx := context.Background()
	p := &Policy{Resolver: resolver()}
	for raw, want := range map[string]string{
		"http://public.test/x":                 "https",
		"ftp://public.test/x":                  "scheme",
		"javascript:alert(1)":                  "scheme",
		"file:///etc/passwd":                   "scheme",
		"public.test/x":                        "absolute",
		"https://user:hunter2@public.test/x":   "credentials",
		"https:///x":                           "no host",
		"https://public.test:99999/":           "port",
		"https://public.test/x#frag":           "fragment",
		"https://metadata.test/latest":         "link-local",
		"https://loop6.test/":                  "loopback",
		"https://mixed.test/":                  "private",
		"https://nx.test/":                     "does not resolve",
		"https://empty.test/":                  "does not resolve",
		"https://[::1]/":                       "loopback",
		"https://169.254.169.254/":             "link-local",
		"https://[::ffff:169.254.169.254]:443": "link-local",
	} {
		_, err := p.CheckURL(ctx, raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v (want %q)", raw, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error leaks the password", raw)
		}
	}
	if u, err := p.CheckURL(ctx, "https://public.test/hook?x=1"); err != nil || u.Host != "public.test" {
		t.Fatalf("public https refused: %v", err)
	}
	p.AllowHTTP = true
	if _, err := p.CheckURL(ctx, "http://public.test/x"); err != nil {
		t.Fatalf("http with AllowHTTP: %v", err)
	}
}

func TestDialGuard(t *testing.T) {
	var hits int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	r := resolver()
	r.names["rebind.test"] = func(n int) []netip.Addr {
		if n == 1 {
			return fixed("93.184.216.34")(0)
		}
		return fixed("127.0.0.1")(0)
	}
	r.names["local.test"] = fixed("127.0.0.1")
	p := &Policy{AllowHTTP: true, Resolver: r}
	client := p.Client(2*time.Second, 0)

	resp, err := client.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
	}
	var be *BlockedError
	if !errors.As(err, &be) || be.Addr.String() != "127.0.0.1" {
		t.Fatalf("loopback not refused at dial: %v", err)
	}
	// DNS rebinding: public at check time, loopback at dial time.
	if _, err := p.CheckURL(context.Background(), "http://rebind.test:"+port+"/"); err != nil {
		t.Fatalf("check: %v", err)
	}
	resp, err = client.Get("http://rebind.test:" + port + "/")
	if err == nil {
		resp.Body.Close()
	}
	if !errors.As(err, &be) {
		t.Fatalf("rebinding not refused at dial: %v", err)
	}
	if hits != 0 {
		t.Fatalf("server reached %d times", hits)
	}
	// Allowed networks let it through, to the resolved IP.
	p.Allowed, _ = ParseAllowed("127.0.0.0/8")
	resp, err = p.Client(2*time.Second, 0).Get("http://local.test:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hits != 1 {
		t.Fatalf("hits %d", hits)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var targetHits int
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { targetHits++ }))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusFound)
	}))
	defer redirector.Close()
	allowed, _ := ParseAllowed("127.0.0.0/8")
	p := &Policy{AllowHTTP: true, Allowed: allowed}
	resp, err := p.Client(2*time.Second, 0).Post(redirector.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || targetHits != 0 {
		t.Fatalf("status %d, redirect target hit %d times", resp.StatusCode, targetHits)
	}
}

// Many webhooks share one host (hooks.slack.com): the pool keeps as many connections to it as
// attempts in flight, so a second wave of concurrent requests reuses the first wave's.
func TestPoolKeepsConnectionsForConcurrentAttempts(t *testing.T) {
	const inflight = 300
	var mu sync.Mutex
	conns := 0
	release := make(chan struct{})
	var arrived sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		arrived.Done()
		<-release
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	allowed, _ := ParseAllowed("127.0.0.0/8")
	client := (&Policy{AllowHTTP: true, Allowed: allowed}).Client(5*time.Second, inflight)
	wave := func() {
		arrived.Add(inflight)
		release = make(chan struct{})
		var done sync.WaitGroup
		for i := 0; i < inflight; i++ {
			done.Add(1)
			go func() {
				defer done.Done()
				resp, err := client.Post(srv.URL, "application/json", strings.NewReader("{}"))
				if err != nil {
					t.Error(err)
					arrived.Done()
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
		arrived.Wait() // all in flight at once: one connection each
		close(release)
		done.Wait()
	}
	wave()
	mu.Lock()
	first := conns
	mu.Unlock()
	if first != inflight {
		t.Fatalf("first wave opened %d connections, want %d", first, inflight)
	}
	wave()
	mu.Lock()
	defer mu.Unlock()
	if conns != first {
		t.Fatalf("second wave opened %d new connections; the pool should have kept all %d", conns-first, first)
	}
}
