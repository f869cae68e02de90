package tcpproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestModes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer srv.Close()
	p, err := Start(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	client := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func() error {
		resp, err := client.Get("http://" + p.Addr())
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "ok" {
			t.Fatalf("body %q", b)
		}
		return nil
	}
	if err := get(); err != nil {
		t.Fatalf("forward: %v", err)
	}
	p.SetMode(Refuse)
	if err := get(); err == nil {
		t.Fatal("refuse: request went through")
	}
	p.SetMode(Stall)
	start := time.Now()
	if err := get(); err == nil || time.Since(start) < 400*time.Millisecond {
		t.Fatalf("stall: %v after %v", err, time.Since(start))
	}
	p.SetMode(Forward)
	if err := get(); err != nil {
		t.Fatalf("forward again: %v", err)
	}
}
