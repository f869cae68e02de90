package notify

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		code    int
		err     error
		header  string
		want    Result
		disable bool
		ra      time.Duration
	}{
		{code: 200, want: Success}, {code: 202, want: Success}, {code: 204, want: Success},
		{code: 301, want: Fail}, {code: 302, want: Fail},
		{code: 400, want: Fail}, {code: 401, want: Fail}, {code: 404, want: Fail}, {code: 422, want: Fail},
		{code: 410, want: Fail, disable: true},
		{code: 408, want: Retry}, {code: 425, want: Retry}, {code: 429, want: Retry, header: "7", ra: 7 * time.Second},
		{code: 500, want: Retry}, {code: 502, want: Retry}, {code: 503, want: Retry, header: "120", ra: 2 * time.Minute},
		{err: errors.New("dial tcp: connection refused"), want: Retry},
		{err: ErrTimeout, want: Retry},
	}
	for _, c := range cases {
		h := http.Header{}
		if c.header != "" {
			h.Set("Retry-After", c.header)
		}
		o := Classify(&Response{StatusCode: c.code, Header: h, Err: c.err})
		if o.Result != c.want || o.Disable != c.disable || o.RetryAfter != c.ra || (o.Result != Success && o.Reason == "") {
			t.Errorf("%d %v: %+v", c.code, c.err, o)
		}
	}
	// Reasons come from the error's type; the URL (and its token) never appears.
	u := "https://h.example/x?token=secret"
	for err, want := range map[error]string{
		&url.Error{Op: "Post", URL: u, Err: context.DeadlineExceeded}:                                                           "timeout",
		&url.Error{Op: "Post", URL: u, Err: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}: "connection refused",
		&url.Error{Op: "Post", URL: u, Err: &net.DNSError{Err: "no such host", Name: "h.example", IsNotFound: true}}:            "does not resolve",
		&url.Error{Op: "Post", URL: u, Err: io.ErrUnexpectedEOF}:                                                                "closed by the receiver",
		&url.Error{Op: "Post", URL: u, Err: errors.New("tls: handshake failure")}:                                               "request failed: tls: handshake failure",
		&url.Error{Op: "Post", URL: u, Err: context.Canceled}:                                                                   "cancelled",
	} {
		o := Classify(&Response{Err: err})
		if strings.Contains(o.Reason, "secret") || strings.Contains(o.Reason, "h.example/x") || !strings.Contains(o.Reason, want) || o.Result != Retry {
			t.Errorf("%v: reason %q, want %q", err, o.Reason, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"5":                             5 * time.Second,
		"-3":                            0,
		"soon":                          0,
		"Mon, 01 Jan 2024 00:01:00 GMT": time.Minute,
		"Sun, 31 Dec 2023 00:00:00 GMT": 0,
	} {
		h := http.Header{}
		h.Set("Retry-After", v)
		if got := RetryAfter(h, now); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}
