// Package proxytest is a real forward proxy for tests: net/http answering CONNECT with a
// tunnel (hijack, dial the target, copy both ways), counting the tunnels it opened and
// recording their targets. Anything but CONNECT is refused (405).
package proxytest

import (
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Proxy is a running CONNECT proxy.
type Proxy struct {
	*httptest.Server
	// Auth, when set before use, is the user:password the proxy demands (Basic).
	Auth string

	mu      sync.Mutex
	targets []string
	wg      sync.WaitGroup
}

// Start runs a proxy on 127.0.0.1 until the test ends.
func Start(t testing.TB) *Proxy {
	t.Helper()
	p := &Proxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		p.Server.CloseClientConnections()
		p.Server.Close()
		p.wg.Wait()
	})
	return p
}

// Targets lists the CONNECT targets the proxy tunnelled to, in order.
func (p *Proxy) Targets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "only CONNECT", http.StatusMethodNotAllowed)
		return
	}
	if p.Auth != "" && r.Header.Get("Proxy-Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte(p.Auth)) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
		http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
		return
	}
	up, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	p.mu.Lock()
	p.targets = append(p.targets, r.Host)
	p.mu.Unlock()
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "no hijacking", http.StatusInternalServerError)
		return
	}
	down, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if _, err := down.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		up.Close()
		down.Close()
		return
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		if n := buf.Reader.Buffered(); n > 0 { // bytes the client sent right after CONNECT
			b, _ := buf.Reader.Peek(n)
			_, _ = up.Write(b)
		}
		_, _ = io.Copy(up, down)
		_ = up.(*net.TCPConn).CloseWrite()
	}()
	go func() {
		defer p.wg.Done()
		_, _ = io.Copy(down, up)
		_ = down.Close()
		_ = up.Close()
	}()
}
