package app

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawRequest sends head (a request's line and headers, without the blank line) on a new TCP
// connection and no body, then reads the answer and whether the connection was closed after
// it, giving up after wait.
func rawRequest(t *testing.T, base, head string, wait time.Duration) (status int, closed bool, took time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_ = conn.SetDeadline(start.Add(wait))
	if _, err := io.WriteString(conn, head+"\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, false, time.Since(start) // no answer in time
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	_, err = br.ReadByte()
	return res.StatusCode, err == io.EOF, time.Since(start)
}

// TestSlowBodies: a request that announces a body and never sends it is answered 401 at once
// without a token (and the connection closed), 408 after TASKHOOK_READ_TIMEOUT with one; an
// idle keep-alive connection closes after TASKHOOK_IDLE_TIMEOUT.
func TestSlowBodies(t *testing.T) {
	h := start(t, func(c *Config) { c.ReadTimeout, c.IdleTimeout = time.Second, time.Second })
	for _, path := range []string{"/v1/events", "/v1/events/batch"} {
		head := "POST " + path + " HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100"
		if status, closed, took := rawRequest(t, h.base, head, 5*time.Second); status != 401 || !closed || took > 500*time.Millisecond {
			t.Errorf("%s without a token: %d, closed %v, after %s", path, status, closed, took)
		}
		if status, closed, took := rawRequest(t, h.base, head+"\r\nAuthorization: Bearer wrong", 5*time.Second); status != 401 || !closed || took > 500*time.Millisecond {
			t.Errorf("%s with a wrong token: %d, closed %v, after %s", path, status, closed, took)
		}
		if status, closed, took := rawRequest(t, h.base, head+"\r\nAuthorization: Bearer "+token, 5*time.Second); status != 408 || !closed || took > 3*time.Second {
			t.Errorf("%s with a token: %d, closed %v, after %s", path, status, closed, took)
		}
	}
	// Idle keep-alive: one whole request, then nothing.
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("healthz: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("healthz: %d", res.StatusCode)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	start := time.Now()
	if _, err := br.ReadByte(); err != io.EOF || time.Since(start) > 3*time.Second {
		t.Fatalf("idle connection: %v after %s", err, time.Since(start))
	}
}

// TestEncodingAndMethods: a compressed body is 415 naming Content-Encoding; a known path with
// another method is 405 with Allow.
func TestEncodingAndMethods(t *testing.T) {
	h := start(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(seedEvent(t))
	_ = zw.Close()
	for _, path := range []string{"/v1/events", "/v1/events/batch"} {
		r := h.post(path, "application/json", token, gz.Bytes(), "Content-Encoding", "gzip")
		if r.Status != http.StatusUnsupportedMediaType || !strings.Contains(string(r.Body), "Content-Encoding") {
			t.Errorf("%s gzip: %d %s", path, r.Status, r.Body)
		}
	}
	for _, m := range []string{"PUT", "DELETE", "PATCH", "GET"} {
		req, _ := http.NewRequest(m, h.base+"/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(res.Header.Get("Allow"), "POST") {
			t.Errorf("%s /v1/events: %d, Allow %q", m, res.StatusCode, res.Header.Get("Allow"))
		}
	}
	req, _ := http.NewRequest("GET", h.base+"/v1/nosuch", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("unknown path: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Fatalf("unknown path: %d", res.StatusCode)
	}
}

// TestHugeNumbers: a number out of range or a million digits long is 422 at its pointer, and
// the answer does not echo it.
func TestHugeNumbers(t *testing.T) {
	h := start(t)
	million := strings.Repeat("9", 1000000)
	cases := []struct{ body, path string }{
		{`{"task_id":"1","event":"created","title":1e400}`, "/title"},
		{`{"task_id":"1","event":"created","title":"t","patient":{"id":"p","age":1e400}}`, "/patient/age"},
		{`{"task_id":"1","event":"created","title":"t","patient":{"id":"p","n":` + million + `}}`, "/patient/n"},
		{`{"task_id":` + million + `,"event":"created","title":"t"}`, "/task_id"},
	}
	for _, c := range cases {
		r := h.event([]byte(c.body))
		var e errBody
		r.json(t, &e)
		if r.Status != 422 || len(e.Details) == 0 || e.Details[0].Path != c.path || len(r.Body) > 2048 {
			t.Errorf("%.60s: %d %.300s (%d bytes)", c.body, r.Status, r.Body, len(r.Body))
		}
	}
	r := h.post("/v1/events/batch", "application/json", token, []byte(`[{"task_id":"1","event":"created","title":"t","patient":{"id":"p","n":`+million+`}}]`))
	if r.Status != 200 || !strings.Contains(string(r.Body), `"/patient/n"`) || len(r.Body) > 2048 {
		t.Errorf("batch: %d %.300s", r.Status, r.Body)
	}
}
